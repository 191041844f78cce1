"""The LDCSR trainer runs both stages on a synthetic GeoTIFF and writes loadable checkpoints."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.models.ldcsr import checkpoint
from engine.train import config as cfgmod
from engine.train import ldcsr as trainer


@pytest.mark.slow
def test_two_stage_training_writes_official_layouts(tmp_path, geotiff):
    y, x = np.mgrid[0:160, 0:160]
    bands = np.stack([np.sin(x / (5 + b)) * np.cos(y / (7 + 2 * b)) for b in range(3)])
    raster = geotiff(((bands + 1) * 1000).astype(np.uint16))
    cfg = cfgmod.merge(trainer.DEFAULTS, {
        "data": [str(raster)], "out": str(tmp_path / "run"), "epochs": 1,
        "iters_per_epoch": 1, "batch_size": 2, "lr_patch": 20, "stage2_lr_patch": 24,
        "val_per_source": 1, "val_scales": [3.0], "threads": 1, "device": "cpu",
        "holdout": 0.4})
    events = []
    best = trainer.train(cfg, events.append)
    assert best.is_file()
    s1 = torch.load(tmp_path / "run" / "stage1.ckpt", weights_only=True)
    assert checkpoint.is_stage1(s1) and checkpoint.CONFIG_KEY in s1
    ck = torch.load(best, weights_only=True)
    assert checkpoint.is_stage2(ck)
    assert any(k.startswith("model_ema.diffusion_model") for k in ck["state_dict"])
    assert 0.1 < float(ck["state_dict"]["scale_factor"]) < 100
    model = checkpoint.load(ck, name="run", device=torch.device("cpu"), options={"mode": "fast"})
    out = model.upscale(torch.rand(1, 3, 16, 16), (40, 40))
    assert out.shape == (1, 3, 40, 40)
    # A stage-2 run from the stage-1 checkpoint, and the half-precision export for shipping.
    cfg2 = dict(cfg, stage="2", init=str(tmp_path / "run" / "stage1.ckpt"),
                out=str(tmp_path / "s2"))
    assert trainer.train(cfg2).is_file()
    trainer.export_half(best, tmp_path / "half.ckpt")
    half = torch.load(tmp_path / "half.ckpt", weights_only=True)
    assert half["state_dict"]["model.diffusion_model.out.2.weight"].dtype == torch.float16
    again = checkpoint.load(half, name="half", device=torch.device("cpu"), options={"mode": "fast"})
    assert torch.allclose(again.upscale(torch.rand(1, 3, 16, 16, generator=torch.Generator()
                                                   .manual_seed(0)), (40, 40)),
                          model.upscale(torch.rand(1, 3, 16, 16, generator=torch.Generator()
                                                   .manual_seed(0)), (40, 40)), atol=5e-3)
