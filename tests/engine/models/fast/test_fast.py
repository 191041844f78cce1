"""The ``fast`` model: separable resampling exact to GDAL's cubic, seamless tiles, checkpoints,
training signal."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from engine.errors import ModelError
from engine.metrics.baselines import gdal_resample
from engine.models.fast import checkpoint
from engine.models.fast.network import FastSRNet
from engine.models.fast.resample import BAND, centres, phase, resample, summed_resampling, taps

TINY = dict(channels=4, layers=2, features=2, hidden=4)


pytestmark = pytest.mark.usefixtures("one_thread")


def test_taps_weights_sum_to_one_and_hit_samples_exactly() -> None:
    pos = torch.tensor([0.5, 1.5, 2.25, 3.9, 0.1])
    for kernel in ("cubic", "linear"):
        idx, w = taps(pos, 4, kernel)
        torch.testing.assert_close(w.sum(1), torch.ones(5, dtype=torch.float64))
        assert int(idx.min()) >= 0 and int(idx.max()) <= 3
    x = torch.arange(12.0).reshape(1, 1, 3, 4)
    # Output centres on LR centres reproduce the LR pixels exactly.
    out = resample(x, torch.tensor([0.5, 1.5, 2.5]), torch.tensor([0.5, 1.5, 2.5, 3.5]))
    torch.testing.assert_close(out, x)
    torch.testing.assert_close(phase(torch.tensor([0.5, 0.75, 1.25])),
                               torch.tensor([0.0, 0.25, 0.75], dtype=torch.float64))


def _dense(index: torch.Tensor, weights: torch.Tensor, size: int) -> torch.Tensor:
    """The full (n, size) matrix of one kernel's taps."""
    return torch.zeros(index.shape[0], size, dtype=weights.dtype).scatter_add(1, index, weights)


@pytest.mark.parametrize("h, w, H, W", [(3 * BAND + 5, 2 * BAND + 1, 7 * BAND, 5 * BAND + 3),
                                        (9, 7, 20, 15), (40, 30, 40, 31)])
def test_summed_resampling_equals_the_sum_of_dense_resamplings(h: int, w: int, H: int,
                                                               W: int) -> None:
    """Blocked products = sum over planes of R_rows X R_cols^T with the full matrices, across
    several blocks, at the raster edges (clamped taps), with per-plane gains on both axes."""
    torch.manual_seed(0)
    planes = torch.rand(2, 3, h, w, dtype=torch.float64)
    rows, cols = centres(H, h), centres(W, w)
    gy, gx = torch.rand(2, H, dtype=torch.float64), torch.rand(2, W, dtype=torch.float64)
    (iy, wy), (ly, vy) = taps(rows, h, "cubic"), taps(rows, h, "linear")
    (ix, wx), (lx, vx) = taps(cols, w, "cubic"), taps(cols, w, "linear")
    out = summed_resampling(planes, [(iy, wy[None]), (ly, vy[None] * gy[:, :, None])],
                            [(ix, wx[None]), (lx, vx[None] * gx[:, :, None])])
    ry = [_dense(iy, wy, h)] + [_dense(ly, vy * g[:, None], h) for g in gy]
    rx = [_dense(ix, wx, w)] + [_dense(lx, vx * g[:, None], w) for g in gx]
    ref = sum(ry[s] @ planes[:, s] @ rx[s].t() for s in range(3))
    torch.testing.assert_close(out, ref, atol=1e-12, rtol=0)


@pytest.mark.parametrize("size", [(40, 60), (50, 75), (37, 45)])
def test_cubic_base_matches_gdal_cubic_inside(size: tuple[int, int]) -> None:
    rng = np.random.default_rng(0)
    lr = rng.random((20, 30))
    h, w = size
    ours = resample(torch.from_numpy(lr)[None, None], centres(h, 20), centres(w, 30))[0, 0]
    ref = gdal_resample(lr.astype(np.float32), size, "cubic")
    # GDAL treats the raster edge its own way: two LR pixels in from the edge they agree.
    b = int(2 * max(h / 20, w / 30)) + 1
    np.testing.assert_allclose(ours.numpy()[b:-b, b:-b], ref[b:-b, b:-b], atol=2e-5)


def test_tiles_equal_the_whole_image_at_fractional_per_axis_scales() -> None:
    torch.manual_seed(0)
    net = FastSRNet(**TINY)
    model = checkpoint.load(checkpoint.make_checkpoint(net), name="t", device=torch.device("cpu"))
    lr = torch.rand(1, 1, 30, 26)
    H, W = 75, 39  # x2.5 rows, x1.5 columns
    whole = model.upscale(lr, (H, W), clamp=False)
    rows, cols = centres(H, 30), centres(W, 26)
    halo = model.halo
    y0, y1 = 10, 40  # output rows of a tile; its LR window with the halo
    ly0 = max(int(rows[y0]) - halo, 0)
    ly1 = min(int(rows[y1 - 1]) + halo + 1, 30)
    tile = model.upscale_grid(lr[:, :, ly0:ly1], rows[y0:y1] - ly0, cols, (30 / H, 26 / W),
                              clamp=False)
    torch.testing.assert_close(tile, whole[:, :, y0:y1], atol=1e-6, rtol=0)


def test_checkpoint_round_trip_detection_and_errors(tmp_path: Path) -> None:
    import engine

    torch.manual_seed(1)
    net = FastSRNet(**TINY)
    ck = checkpoint.make_checkpoint(net, step=3)
    assert checkpoint.detect(ck) and not checkpoint.detect({"model": {"name": "lmlte"}})
    path = tmp_path / "fast.pth"
    torch.save(ck, path)
    model = engine.load_model(str(path), device="cpu")
    assert model.family == "fast" and model.supports_grid and not model.stochastic
    lr = torch.rand(2, 3, 9, 7)
    assert model.upscale(lr, (20, 15)).shape == (2, 3, 20, 15)
    bad = checkpoint.make_checkpoint(net)
    bad["model"]["args"]["features"] = 3
    with pytest.raises(ModelError, match="does not match"):
        checkpoint.load(bad, name="bad", device=torch.device("cpu"))


def test_train_smoke_beats_its_cubic_base_on_a_raster(tmp_path: Path,
                                                      geotiff) -> None:  # type: ignore[no-untyped-def]
    from engine.train.fast import train
    from rasters import smooth_image

    data = (smooth_image(128, 128, bands=1, seed=4) * 1000).astype("uint16")
    src = geotiff(data)
    cfg = {"data": [str(src)], "out": str(tmp_path / "run"), "lr_patch": 16, "batch_size": 8,
           "epochs": 2, "iters_per_epoch": 60, "val_patch": 16, "val_per_source": 2,
           "holdout": 0.3, "val_scales": [2.0, [1.5, 3.0]], "lr": 5e-3, "model": TINY}
    best = train(cfg)
    history = json.loads((tmp_path / "run" / "history.json").read_text())
    assert [h["step"] for h in history] == [60, 120]
    assert history[-1]["val_gain"] > 0  # learned resampling above its own cubic base
    resumed = train({**cfg, "epochs": 3, "resume": str(tmp_path / "run" / "fast-state.pth")})
    assert resumed == best
    history = json.loads((tmp_path / "run" / "history.json").read_text())
    assert [h["step"] for h in history] == [60, 120, 180]


@pytest.mark.parametrize("sx, sy", [(2, 2), (4, 4), (1.5, 4), (3, 1)])
def test_bundled_weights_beat_gdal_lanczos_on_held_out_worldview2(wv2_pan_crop, wv2_mul_crop,
                                                                  sx: float, sy: float) -> None:
    """The shipped ``fast`` above GDAL cubic and lanczos, per-axis too, through the pipeline."""
    import engine
    from engine.commands.evaluate import evaluate
    from engine.pipeline import Scale

    model = engine.load_model("fast", device="cpu")
    for crop in (wv2_pan_crop, wv2_mul_crop):
        m = evaluate(str(crop), model, scale=Scale(sx, sy))["methods"]
        ours = m["fast"]["psnr"]
        assert ours > m["gdal-lanczos"]["psnr"] > m["gdal-cubic"]["psnr"] - 0.5, (crop, m)
