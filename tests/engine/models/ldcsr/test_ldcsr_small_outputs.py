"""LDCSR ``mode="fast"`` is the official ``sr_kd`` output at every size the official code runs.

The official path (``S2Model.log_images``: ``decode_first_stage(get_cond_stage_encoding(lr,
hr_size), lr, hr_size)``) has no padding: its only size limit is the LR encoder's three stride-2
steps, which need an output of at least 8 px a side. Below 40 px the model once padded the input
anyway (a limit of the sampling UNet only) and gave other pixels.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from ldcsr_helpers import DATA, official_checkpoint

import engine


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    path = tmp_path_factory.mktemp("ldcsr") / "reduced.ckpt"
    torch.save(official_checkpoint(), path)
    torch.set_num_threads(1)
    return engine.load_model(str(path), device="cpu",
                             config=str(DATA / "reduced_second_stage.yaml"))


def official_sr_kd(net, lr01: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """The official sr_kd lines written out on our modules (each checked against the official
    fixtures in test_ldcsr_parity.py), images in [0, 1]."""
    lr = lr01 * 2 - 1
    c = net.cond_stage_model(None, F.interpolate(lr, size, mode="bicubic", align_corners=False))
    sr = net.first_stage_model.decode(1.0 / net.scale_factor * c, lr, size)
    return (sr.clamp(-1, 1) + 1) / 2


@pytest.mark.parametrize("lr_size,out_size", [((4, 8), (8, 16)), ((6, 7), (15, 17)),
                                              ((10, 12), (25, 30)), ((16, 13), (39, 33)),
                                              ((5, 20), (12, 50))])
@pytest.mark.parametrize("batch", [1, 2])
def test_fast_mode_equals_official_sr_kd_on_small_outputs(model, lr_size, out_size, batch):
    g = torch.Generator().manual_seed(lr_size[0] * 100 + lr_size[1])
    lr = torch.rand(batch, 3, *lr_size, generator=g)
    with torch.no_grad():
        want = official_sr_kd(model.module, lr, out_size)
    got = model.upscale(lr, out_size, mode="fast")
    assert got.shape == want.shape
    assert float((got - want).abs().max()) <= 1e-4  # fixture tolerance (tests/data/ldcsr)


@pytest.mark.parametrize("lr_size,out_size", [((3, 4), (7, 9)), ((4, 4), (8, 8))])
def test_where_the_official_code_cannot_run_the_output_still_comes(model, lr_size, out_size):
    """7 px: a 3x3 stride-2 kernel meets a 2 px map; 8 x 8: a 1 x 1 latent leaves one value per
    GroupNorm group in this 32-channel config. The official code raises on one image; ours
    pads the input and crops, so tiny rasters still get an output, whatever the batch."""
    lr = torch.rand(2, 3, *lr_size, generator=torch.Generator().manual_seed(5))
    with pytest.raises((RuntimeError, ValueError)), torch.no_grad():
        official_sr_kd(model.module, lr[:1], out_size)
    out = model.upscale(lr, out_size, mode="fast")
    assert out.shape == (2, 3, *out_size) and torch.isfinite(out).all()
    assert torch.allclose(model.upscale(lr[1:], out_size, mode="fast"), out[1:], atol=1e-6)
