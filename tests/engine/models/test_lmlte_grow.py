"""Growing a trained LMLTE into a deeper, wider encoder keeps its output exactly."""

from __future__ import annotations

import copy

import pytest
import torch

from engine.errors import ModelError
from engine.models.lmlte.checkpoint import build_lmlte
from engine.models.lmlte.grow import grow_state

SMALL = {
    "encoder_spec": {"name": "edsr-baseline",
                     "args": {"no_upsampling": True, "n_resblocks": 2, "n_feats": 8,
                              "n_colors": 1}},
    "imnet_spec": {"name": "lmmlp", "args": {"out_dim": 1, "hidden_dim": 8, "hidden_depth": 2,
                                             "mod_scale": True, "mod_shift": True}},
    "hypernet_spec": {"name": "mlp", "args": {"out_dim": 48, "hidden_list": [16]}},
    "hidden_dim": 8, "local_ensemble": True, "cell_decode": True, "mod_input": True,
}


def _args(blocks: int, feats: int) -> dict:
    args = copy.deepcopy(SMALL)
    args["encoder_spec"]["args"].update(n_resblocks=blocks, n_feats=feats)
    return args


def _render(net: torch.nn.Module) -> torch.Tensor:
    g = torch.Generator().manual_seed(1)
    inp = torch.rand(2, 1, 13, 11, generator=g) * 2 - 1
    coord = torch.rand(2, 300, 2, generator=g) * 2 - 1
    cell = torch.full((2, 300, 2), 2 / 30)
    with torch.no_grad():
        return net(inp, coord, cell)


def test_grown_model_computes_the_small_model_and_can_learn():
    torch.manual_seed(0)
    small = build_lmlte(SMALL)
    for p in small.parameters():  # trained-looking weights, not the initialisation
        p.data.add_(torch.randn_like(p) * 0.05)
    large = build_lmlte(_args(5, 16))
    grow_state(small.state_dict(), SMALL, large, _args(5, 16))
    torch.testing.assert_close(_render(large), _render(small), atol=1e-6, rtol=0)
    # The zeroed weights, through which the new channels and blocks reach the output, get
    # gradients at once (after one step the new channels then carry gradient as well).
    g = torch.Generator().manual_seed(2)
    out = large(torch.rand(1, 1, 9, 9, generator=g), torch.rand(1, 50, 2, generator=g) * 2 - 1,
                torch.full((1, 50, 2), 0.1))
    out.square().sum().backward()
    grads = dict(large.named_parameters())
    assert grads["encoder.body.4.body.2.weight"].grad.abs().sum() > 0  # a new identity block
    assert grads["encoder.body.0.body.2.weight"].grad[:8, 8:].abs().sum() > 0  # new -> old
    assert grads["coef.weight"].grad[:, 8:].abs().sum() > 0  # new inputs of the decoder


def test_grow_refuses_shrinking_and_a_different_decoder():
    small = build_lmlte(SMALL)
    with pytest.raises(ModelError, match="at least as deep and as wide"):
        grow_state(small.state_dict(), SMALL, build_lmlte(_args(1, 16)), _args(1, 16))
    other = _args(3, 8)
    other["hidden_dim"] = 16
    with pytest.raises(ModelError, match="decoder"):
        grow_state(small.state_dict(), SMALL, build_lmlte(other), other)
