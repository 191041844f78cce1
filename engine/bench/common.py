"""Pieces shared by the bench entries.

* :func:`threads`: the thread count of a measurement (``ARBSR_BENCH_THREADS``, default 1).
* :func:`call_in_child` / :func:`child_json`: run a measurement in a fresh interpreter (peak
  resident size is per process) and read back the JSON line it prints last.
* :func:`timed_once`: seconds and peak memory of one call, for a fresh process: growth of the
  peak resident set size (``ru_maxrss``) on CPU, ``torch.cuda.max_memory_allocated`` on CUDA.
* :class:`PeakMemory` / :func:`timed`: the same, repeatable within one process (the CPU figure
  is sampled every 2 ms from the current resident size).
* :func:`wv2_crops`: the WorldView-2 evaluation crops of the quality tables, and
  :func:`dgsamples_tif` for the sample rasters themselves.
* :func:`add_scores` / :func:`quality_table`: PSNR, SSIM and gradient-magnitude ratio per method
  and scale, as the LDCSR and MoE quality tables report them.
"""

from __future__ import annotations

import json
import math
import os
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, Sequence

import numpy as np

if TYPE_CHECKING:
    import torch

ROOT = Path(__file__).resolve().parents[2]

#: WorldView-2 evaluation crops: (x, y) of the 192 x 192 PAN crops and 96 x 96 MUL crops.
PAN_CROPS = ((100, 100), (600, 700), (300, 500), (700, 200))
MUL_CROPS = ((40, 40), (150, 170))
PAN_SIDE, MUL_SIDE = 192, 96
#: MUL bands of the crops (0-based indices of bands 2, 3, 5, 7).
MUL_BANDS = [1, 2, 4, 6]
#: How the quality tables describe :func:`wv2_crops`.
WV2_DATA = ("dgsamples WorldView-2 Longmont: 4 PAN crops 192x192, 2 MUL crops 96x96 "
            "(bands 2, 3, 5, 7)")


def threads() -> int:
    """Thread count of a measurement: ``ARBSR_BENCH_THREADS`` (default 1)."""
    return int(os.environ.get("ARBSR_BENCH_THREADS", "1"))


# --- child processes ----------------------------------------------------------------------------

def child_json(code: str, env: dict[str, str] | None = None) -> Any:
    """Run ``code`` in a fresh interpreter at the repository root; the last stdout line as JSON."""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=str(ROOT), env=env, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def call_in_child(module: str, func: str, *args: Any, env: dict[str, str] | None = None) -> Any:
    """``module.func(*args)`` in a fresh interpreter; its JSON-able result (args by ``repr``)."""
    call = f"{func}({', '.join(repr(a) for a in args)})"
    return child_json(f"import json; from {module} import {func}; print(json.dumps({call}))",
                      env=env)


# --- time and peak memory -----------------------------------------------------------------------

def maxrss_mib() -> float:
    """Peak resident set size of this process so far, MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def timed_once(fn: Callable[[], Any], device: torch.device) -> tuple[float, float]:
    """(seconds, peak MiB) of one call of ``fn``: on CPU the growth of ``ru_maxrss`` (meaningful
    once per process, after warm-up), on CUDA ``torch.cuda.max_memory_allocated``."""
    import torch

    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    cuda = device.type == "cuda"
    if cuda:
        torch.cuda.reset_peak_memory_stats()
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    fn()
    if cuda:
        torch.cuda.synchronize()
    sec = time.perf_counter() - t0
    peak = (torch.cuda.max_memory_allocated() / 2 ** 20 if cuda else
            (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) / 1024)
    return sec, peak


def speed_row(fields: dict[str, Any], lr_side: int, size: tuple[int, int], sec: float,
              peak_mib: float, device: Any) -> dict[str, Any]:
    """One row of an upscaling speed table: ``fields`` then sizes, seconds, Mpixel/s, memory."""
    return {**fields, "lr_size": [lr_side, lr_side], "out_size": list(size),
            "seconds": round(sec, 4), "mpix_per_s": round(size[0] * size[1] / 1e6 / sec, 5),
            "peak_mem_mib": round(peak_mib, 1), "device": str(device)}


def _trim() -> None:
    """Hand freed heap memory back to the OS so that each measurement starts from a low RSS."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


class PeakMemory:
    """Peak memory (bytes) used during a block, above the level at its start."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.peak = 0

    @staticmethod
    def _rss() -> int:
        with open("/proc/self/statm", encoding="ascii") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    def __enter__(self) -> PeakMemory:
        import torch

        _trim()
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            self._base = torch.cuda.memory_allocated(self.device)
            return self
        self._base = self._rss()
        self._top = self._base
        self._stop = threading.Event()

        def poll() -> None:
            while not self._stop.is_set():
                self._top = max(self._top, self._rss())
                time.sleep(0.002)

        self._thread = threading.Thread(target=poll, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        import torch

        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            self.peak = torch.cuda.max_memory_allocated(self.device) - self._base
            return
        self._stop.set()
        self._thread.join()
        self.peak = max(self._top, self._rss()) - self._base


def timed(fn: Callable[[], Any], device: torch.device, repeat: int) -> tuple[float, int, Any]:
    """(best seconds, peak bytes of the first run, output) of ``fn`` over ``repeat`` runs."""
    import torch

    best, peak, out = float("inf"), 0, None
    for i in range(repeat):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        with PeakMemory(device) as mem:
            t0 = time.perf_counter()
            out = fn()
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            dt = time.perf_counter() - t0
        best = min(best, dt)
        if i == 0:
            peak = mem.peak
    return best, peak, out


# --- WorldView-2 evaluation data ----------------------------------------------------------------

def dgsamples_tif(scene: str, kind: str) -> Path:
    """First ``kind`` (``PAN`` or ``MUL``) GeoTIFF of a ``dgsamples`` scene folder."""
    import dgsamples

    base = Path(dgsamples.__file__).parent / scene
    return sorted(base.glob(f"*_{kind}/*.TIF"))[0]


def wv2_crops() -> list[tuple[str, np.ndarray]]:
    """WorldView-2 evaluation crops: (label, (bands, H, W) float64 raw values)."""
    from osgeo import gdal

    gdal.UseExceptions()
    out = []
    ds = gdal.Open(str(dgsamples_tif("wv2_longmont_1k", "PAN")))
    for x, y in PAN_CROPS:
        out.append((f"PAN {x},{y}",
                    ds.ReadAsArray(x, y, PAN_SIDE, PAN_SIDE).astype(np.float64)[None]))
    ds = gdal.Open(str(dgsamples_tif("wv2_longmont_1k", "MUL")))
    for x, y in MUL_CROPS:
        out.append((f"MUL {x},{y}",
                    ds.ReadAsArray(x, y, MUL_SIDE, MUL_SIDE).astype(np.float64)[MUL_BANDS]))
    return out


def wv2_single_band_pairs(scales: Sequence[int]) -> Iterator[tuple[int, np.ndarray, Any]]:
    """Every evaluation pair of the cards: ``(scale, hr, lr)`` per crop, scale and band.

    ``hr``: (H, W) per-band normalised values of a :func:`wv2_crops` band; ``lr``: its
    antialiased bicubic downsample by the integer ``scale`` as a (1, 1, H//s, W//s) float tensor.
    """
    import torch

    from engine.degradation import downsample
    from engine.normalization import compute_band_stats, normalize

    for _label, raw in wv2_crops():
        hr_all = normalize(raw, compute_band_stats(raw))
        for scale in scales:
            for hr in hr_all:
                H, W = hr.shape
                lr = downsample(torch.from_numpy(hr)[None, None].float(),
                                (H // scale, W // scale))
                yield scale, hr, lr


def upscale_band(model: Any, lr: Any, size: tuple[int, int]) -> np.ndarray:
    """A registered model on one (1, 1, h, w) band: RGB models get it replicated to 3 channels
    and their outputs averaged (the pipeline's band rule); returns (H, W) float64."""
    import torch

    inp = lr if model.in_channels == 1 else lr.expand(1, 3, -1, -1)
    with torch.no_grad():
        out = model.upscale(inp, size, clamp=False, seed=0)
    return out.mean(dim=1)[0].double().cpu().numpy()


# --- quality tables -----------------------------------------------------------------------------

Scores = dict[tuple[str, int], list[tuple[float, float, float]]]


def add_scores(acc: Scores, preds: dict[str, np.ndarray], hr: np.ndarray, scale: int) -> None:
    """Append (PSNR, SSIM, GMR) of each prediction against ``hr`` to ``acc[(method, scale)]``:
    [0, 1]-clipped values, a border of ceil(scale) pixels removed."""
    from engine.metrics.psnr import psnr
    from engine.metrics.sharpness import gradient_ratio
    from engine.metrics.ssim import ssim

    s = int(math.ceil(scale))
    ref = np.clip(hr, 0, 1)
    for name, p in preds.items():
        p = np.clip(p, 0, 1)
        acc.setdefault((name, scale), []).append((
            psnr(p, ref, shave=s), ssim(p, ref, shave=s),
            gradient_ratio(p[s:-s, s:-s], ref[s:-s, s:-s])))


def quality_table(acc: Scores) -> list[dict[str, Any]]:
    """Mean PSNR / SSIM / GMR per (method, scale) of :func:`add_scores` results."""
    return [{"method": n, "scale": s, "psnr": round(float(np.mean([v[0] for v in vals])), 2),
             "ssim": round(float(np.mean([v[1] for v in vals])), 4),
             "gmr": round(float(np.mean([v[2] for v in vals])), 3), "n": len(vals)}
            for (n, s), vals in acc.items()]
