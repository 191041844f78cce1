"""The pieces the trainers share: validation PSNR, EMA of weights, JSON-able configs."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from torch import nn

from engine.train.common import Ema, jsonable, psnr, seed_all, start_run


def test_psnr_counts_valid_unshaved_pixels_only() -> None:
    hr = torch.full((2, 6, 6), 0.5)
    sr = hr.clone()
    sr[:, 0, :] = 1.7  # in the shaved border: ignored (and clamped to 1 anyway)
    sr[:, 3, 3] = 0.6  # 0.1 off on one valid pixel of 2 x 4 x 4
    assert psnr(sr, hr, 1) == pytest.approx(10 * math.log10(32 / 0.02), rel=1e-5)
    valid = torch.ones(6, 6, dtype=torch.bool)
    valid[3, 3] = False
    assert psnr(sr, hr, 1, valid) == pytest.approx(120.0)  # identical: the 1e-12 floor
    assert psnr(sr, hr, 0) < psnr(sr, hr, 1)


def test_ema_warms_up_averages_and_swaps_weights_back() -> None:
    net = nn.Linear(2, 1, bias=False)
    with torch.no_grad():
        net.weight.fill_(1.0)
    ema = Ema(net, decay=0.999)
    with torch.no_grad():
        net.weight.fill_(3.0)
    ema.update(net)  # warm-up decay (1 + 1) / (10 + 1) = 2/11, not 0.999
    want = 1.0 * 2 / 11 + 3.0 * 9 / 11
    assert ema.num_updates == 1
    torch.testing.assert_close(ema.shadow["weight"], torch.full((1, 2), want))
    with ema.applied(net):
        torch.testing.assert_close(net.weight.detach(), torch.full((1, 2), want))
    assert torch.equal(net.weight.detach(), torch.full((1, 2), 3.0))


def test_start_run_seeds_and_makes_the_output_folder(tmp_path: Path) -> None:
    device, seed, out = start_run({"seed": 3, "out": str(tmp_path / "a" / "b"), "device": "cpu"})
    assert (device.type, seed, out) == ("cpu", 3, tmp_path / "a" / "b") and out.is_dir()
    first = torch.rand(2)
    seed_all(3)
    assert torch.equal(first, torch.rand(2))


def test_jsonable_and_seed_all() -> None:
    assert jsonable({1: (Path("a"), [2.5]), "b": {"c": None}}) == {"1": ["a", [2.5]],
                                                                   "b": {"c": None}}
    seed_all(7)
    a = torch.rand(3)
    seed_all(7)
    assert torch.equal(a, torch.rand(3))
