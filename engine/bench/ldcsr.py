"""LDCSR benchmark: speed and peak memory of both modes at x2 and x4, and (full run) quality.

Speed: output megapixels per second of ``model.upscale`` on one LR tile (after one warm-up
call), for ``ldcsr`` (4-step sampling) and ``ldcsr-fast``. Peak memory: each configuration runs
in a fresh child process; on CPU the figure is the child's peak resident set size minus its
resident size after loading the model (``ru_maxrss``), on CUDA ``torch.cuda.max_memory_allocated``.

Quality (not with ``quick``): the evaluation table of the model card, on WorldView-2 PAN and MUL
crops from the ``dgsamples`` package (held out: the demonstration weights saw only WorldView-3).
Per crop and band: values scaled to [0, 1] with the HR crop's 0.1/99.9 percentiles, LR made with
the shared antialiased bicubic (:func:`engine.degradation.downsample`), SR by GDAL cubic
(:func:`engine.metrics.baselines.gdal_resample`), ``lmlte-default`` (band-wise), ``ldcsr-fast``
and ``ldcsr`` (seed 0; RGB models see each band replicated to three channels and their three
outputs are averaged, the pipeline's rule for non-RGB rasters). Metrics on [0, 1]-clipped
values with a border of ceil(scale) pixels removed: PSNR (dB) and SSIM (11x11 Gaussian window)
from :mod:`engine.metrics`, as ``python -m engine evaluate`` computes them, and the
gradient-magnitude ratio GMR = mean |Sobel(SR)| / mean |Sobel(HR)| (1 = as sharp as HR, below 1
= blurrier, above 1 = over-sharpened or noisy; :mod:`engine.metrics.sharpness`). The crops, the
child-process measurement and the table are shared with the MoE entry (:mod:`engine.bench.common`).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from engine.bench.common import (WV2_DATA, Scores, add_scores, call_in_child, quality_table,
                                 speed_row, threads, timed_once, upscale_band,
                                 wv2_single_band_pairs)
from engine.metrics.sharpness import gradient_ratio

MODELS = ("ldcsr", "ldcsr-fast")
SCALES = (2, 4)

__all__ = ["MODELS", "SCALES", "evaluate", "gradient_ratio", "run", "speed"]


def _child(name: str, scale: int, lr_side: int, device: str) -> dict[str, Any]:
    """Measure one configuration in this process (called in a fresh child)."""
    import torch

    import engine

    torch.set_num_threads(threads())
    model = engine.load_model(name, device=device)
    lr = torch.rand(1, 3, lr_side, lr_side, generator=torch.Generator().manual_seed(0))
    size = (lr_side * scale, lr_side * scale)
    model.upscale(lr[:, :, :16, :16], (16 * scale, 16 * scale), seed=0)  # warm-up
    sec, peak = timed_once(lambda: model.upscale(lr, size, seed=0), model.device)
    return speed_row({"model": name, "scale": scale}, lr_side, size, sec, peak, model.device)


def speed(quick: bool, device: str = "cpu") -> list[dict[str, Any]]:
    lr_side = 32 if quick else 128
    return [call_in_child("engine.bench.ldcsr", "_child", name, scale, lr_side, device)
            for name in MODELS for scale in SCALES]


# --- quality ----------------------------------------------------------------------------------

def evaluate(device: str = "cpu", scales: tuple[int, ...] = SCALES) -> dict[str, Any]:
    """The model card's evaluation table (see the module docstring)."""
    import torch

    import engine
    from engine.metrics.baselines import gdal_resample

    torch.set_num_threads(threads())
    models = {n: engine.load_model(n, device=device) for n in ("lmlte-default", *MODELS)}
    acc: Scores = {}
    for scale, hr, lr in wv2_single_band_pairs(scales):
        preds = {"GDAL cubic": gdal_resample(lr[0, 0].numpy(), hr.shape, "cubic")}
        for name, m in models.items():
            preds[name] = upscale_band(m, lr, hr.shape)
        add_scores(acc, preds, hr, scale)
    return {"data": WV2_DATA, "table": quality_table(acc)}


def run(out_dir: Path, quick: bool) -> dict[str, Any]:
    """Bench entry: speed/memory of both modes at x2 and x4; quality table unless ``quick``."""
    result: dict[str, Any] = {"entry": "ldcsr", "threads": threads(), "speed": speed(quick)}
    if not quick:
        result["quality"] = evaluate()
    return result


if __name__ == "__main__":  # pragma: no cover - manual use: python -m engine.bench.ldcsr
    print(json.dumps(run(Path("build/bench"), quick="--quick" in sys.argv), indent=2))
