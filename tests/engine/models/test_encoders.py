"""Encoders: official state-dict layouts (keys, shapes, dtypes, buffers) load strictly."""

from __future__ import annotations

import json

import pytest
import torch

from engine.errors import ModelError
from engine.models.encoders import make_encoder
from engine.models.encoders.swinir import shift_mask
from engine.models.lmlte.checkpoint import build_lmlte
from lmlte_helpers import DATA

LAYOUTS = json.loads((DATA / "state_dict_layouts.json").read_text())


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.parametrize("name", ["edsr-baseline-lmlte", "rdn-lmlte", "swinir-lmlte"])
def test_official_layout_loads_strictly(name: str) -> None:
    layout = LAYOUTS[name]
    net = build_lmlte(layout["args"])
    sd = net.state_dict()
    expected = [(k, tuple(shape), dtype) for k, shape, dtype, *_ in layout["state_dict"]]
    got = [(k, tuple(v.shape), str(v.dtype).removeprefix("torch.")) for k, v in sd.items()]
    assert got == expected
    assert sum(p.numel() for p in net.parameters()) == layout["num_parameters"]
    # A state dict in the official layout (other values) loads with strict=True.
    other = {k: (torch.randn_like(v) if v.is_floating_point() else v.clone()) for k, v in sd.items()}
    net.load_state_dict(other, strict=True)
    # Frozen / buffer entries are flagged as in the official model.
    for key, _shape, _dtype, kind, *flags in layout["state_dict"]:
        if kind == "buffer":
            assert key not in dict(net.named_parameters())
        if flags and flags[0] == "frozen":
            assert not dict(net.named_parameters())[key].requires_grad


def test_swinir_buffers_follow_the_reference_formulas() -> None:
    enc = make_encoder({"name": "swinir", "args": {"no_upsampling": True, "depths": [2],
                                                    "num_heads": [6]}})
    blk0, blk1 = enc.layers[0].residual_group.blocks
    idx = blk0.attn.relative_position_index
    assert idx.shape == (64, 64) and idx.dtype == torch.int64
    # index of (token i, token j) = (dy + 7) * 15 + (dx + 7)
    yi, xi = divmod(9, 8)
    yj, xj = divmod(62, 8)
    assert int(idx[9, 62]) == (yi - yj + 7) * 15 + (xi - xj + 7)
    assert blk0.attn_mask is None and blk1.attn_mask.shape == (36, 64, 64)
    assert set(blk1.attn_mask.unique().tolist()) == {-100.0, 0.0}
    assert torch.equal(blk1.attn_mask, shift_mask(48, 48, 8, 4))
    # The first window never straddles the shifted border: no masking there.
    assert not blk1.attn_mask[0].any()


def test_encoders_shapes_and_single_band() -> None:
    x1 = torch.rand(2, 1, 13, 17)
    edsr = make_encoder({"name": "edsr-baseline",
                         "args": {"no_upsampling": True, "n_colors": 1, "n_feats": 16, "n_resblocks": 2}})
    assert edsr(x1).shape == (2, 16, 13, 17)
    assert edsr.receptive_radius == 6
    rdn = make_encoder({"name": "rdn", "args": {"no_upsampling": True, "n_colors": 1, "G0": 8,
                                                 "RDNconfig": "A"}})
    assert rdn(x1).shape == (2, 8, 13, 17)
    swin = make_encoder({"name": "swinir", "args": {"n_colors": 1, "embed_dim": 12, "depths": [2],
                                                     "num_heads": [2]}})
    # Reflect-padded to a multiple of the window (as the reference).
    assert swin(x1).shape == (2, 64, 16, 24)
    with pytest.raises(ModelError, match="unsupported encoder"):
        make_encoder({"name": "vgg"})


def test_edsr_receptive_field_matches_halo() -> None:
    torch.manual_seed(0)
    enc = make_encoder({"name": "edsr-baseline", "args": {"n_resblocks": 3, "n_feats": 8,
                                                          "n_colors": 1}}).eval()
    x = torch.rand(1, 1, 40, 40)
    y = x.clone()
    y[0, 0, 20, 20] += 1
    with torch.no_grad():
        d = (enc(x) - enc(y)).abs().sum(1)[0]
    rows = torch.nonzero(d.sum(1) > 0).flatten()
    assert int(rows.max() - 20) <= enc.receptive_radius
