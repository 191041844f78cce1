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
= blurrier, above 1 = over-sharpened or noisy).
"""

from __future__ import annotations

import json
import math
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

MODELS = ("ldcsr", "ldcsr-fast")
SCALES = (2, 4)


def _child(name: str, scale: int, lr_side: int, device: str) -> dict[str, Any]:
    """Measure one configuration in this process (called in a fresh child)."""
    import torch

    import engine

    torch.set_num_threads(int(os.environ.get("ARBSR_BENCH_THREADS", "1")))
    model = engine.load_model(name, device=device)
    lr = torch.rand(1, 3, lr_side, lr_side, generator=torch.Generator().manual_seed(0))
    size = (lr_side * scale, lr_side * scale)
    model.upscale(lr[:, :, :16, :16], (16 * scale, 16 * scale), seed=0)  # warm-up
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    cuda = model.device.type == "cuda"
    if cuda:
        torch.cuda.reset_peak_memory_stats()
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    model.upscale(lr, size, seed=0)
    if cuda:
        torch.cuda.synchronize()
    sec = time.perf_counter() - t0
    peak = (torch.cuda.max_memory_allocated() / 2 ** 20 if cuda else
            (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) / 1024)
    return {"model": name, "scale": scale, "lr_size": [lr_side, lr_side],
            "out_size": list(size), "seconds": round(sec, 4),
            "mpix_per_s": round(size[0] * size[1] / 1e6 / sec, 5),
            "peak_mem_mib": round(peak, 1), "device": str(model.device)}


def speed(quick: bool, device: str = "cpu") -> list[dict[str, Any]]:
    lr_side = 32 if quick else 128
    rows = []
    for name in MODELS:
        for scale in SCALES:
            code = (f"import json; from engine.bench.ldcsr import _child; "
                    f"print(json.dumps(_child({name!r}, {scale}, {lr_side}, {device!r})))")
            out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                 cwd=str(Path(__file__).resolve().parents[2]), check=True)
            rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    return rows


# --- quality ----------------------------------------------------------------------------------

def gradient_ratio(sr: np.ndarray, hr: np.ndarray) -> float:
    """GMR = mean |Sobel(sr)| / mean |Sobel(hr)| for 2-D arrays."""
    from scipy import ndimage

    def mag(a: np.ndarray) -> float:
        return float(np.hypot(ndimage.sobel(a, 0), ndimage.sobel(a, 1)).mean())

    return mag(sr) / max(mag(hr), 1e-12)


def _crops() -> list[tuple[str, np.ndarray]]:
    """WorldView-2 evaluation crops: (label, (bands, H, W) float64 raw values)."""
    from osgeo import gdal

    import dgsamples

    base = Path(dgsamples.__file__).parent / "wv2_longmont_1k"
    pan = sorted(base.glob("*_PAN/*.TIF"))[0]
    mul = sorted(base.glob("*_MUL/*.TIF"))[0]
    out = []
    ds = gdal.Open(str(pan))
    for x, y in ((100, 100), (600, 700), (300, 500), (700, 200)):
        out.append((f"PAN {x},{y}", ds.ReadAsArray(x, y, 192, 192).astype(np.float64)[None]))
    ds = gdal.Open(str(mul))
    for x, y in ((40, 40), (150, 170)):
        out.append((f"MUL {x},{y}", ds.ReadAsArray(x, y, 96, 96).astype(np.float64)[[1, 2, 4, 6]]))
    return out


def evaluate(device: str = "cpu", scales: tuple[int, ...] = SCALES) -> dict[str, Any]:
    """The model card's evaluation table (see the module docstring)."""
    import torch

    import engine
    from engine.degradation import downsample
    from engine.metrics.baselines import gdal_resample
    from engine.metrics.psnr import psnr
    from engine.metrics.ssim import ssim
    from engine.normalization import compute_band_stats, normalize

    torch.set_num_threads(int(os.environ.get("ARBSR_BENCH_THREADS", "1")))
    models = {n: engine.load_model(n, device=device) for n in ("lmlte-default", *MODELS)}
    acc: dict[tuple[str, int], list[tuple[float, float, float]]] = {}
    for label, raw in _crops():
        hr_all = normalize(raw, compute_band_stats(raw))
        for scale in scales:
            for b in range(hr_all.shape[0]):
                hr = hr_all[b]
                H, W = hr.shape
                lr = downsample(torch.from_numpy(hr)[None, None].float(),
                                (H // scale, W // scale))
                preds = {"GDAL cubic": gdal_resample(lr[0, 0].numpy(), (H, W), "cubic")}
                with torch.no_grad():
                    for name, m in models.items():
                        inp = lr if m.in_channels == 1 else lr.expand(1, 3, -1, -1)
                        out = m.upscale(inp, (H, W), clamp=False, seed=0)
                        preds[name] = out.mean(dim=1)[0].double().cpu().numpy()
                s = int(math.ceil(scale))
                ref = np.clip(hr, 0, 1)
                for name, p in preds.items():
                    p = np.clip(p, 0, 1)
                    acc.setdefault((name, scale), []).append((
                        psnr(p, ref, shave=s), ssim(p, ref, shave=s),
                        gradient_ratio(p[s:-s, s:-s], ref[s:-s, s:-s])))
    table = [{"method": n, "scale": s, "psnr": round(float(np.mean([v[0] for v in vals])), 2),
              "ssim": round(float(np.mean([v[1] for v in vals])), 4),
              "gmr": round(float(np.mean([v[2] for v in vals])), 3), "n": len(vals)}
             for (n, s), vals in acc.items()]
    return {"data": "dgsamples WorldView-2 Longmont: 4 PAN crops 192x192, 2 MUL crops 96x96 "
                    "(bands 2, 3, 5, 7)", "table": table}


def run(out_dir: Path, quick: bool) -> dict[str, Any]:
    """Bench entry: speed/memory of both modes at x2 and x4; quality table unless ``quick``."""
    result: dict[str, Any] = {"entry": "ldcsr", "threads": int(os.environ.get(
        "ARBSR_BENCH_THREADS", "1")), "speed": speed(quick)}
    if not quick:
        result["quality"] = evaluate()
    return result


if __name__ == "__main__":  # pragma: no cover - manual use: python -m engine.bench.ldcsr
    print(json.dumps(run(Path("build/bench"), quick="--quick" in sys.argv), indent=2))
