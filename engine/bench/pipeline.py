"""Bench entry ``pipeline``: peak memory and throughput of the tiled raster pipeline.

Each size runs in its own child process (peak RSS is per process): a single-band UInt16 raster
of N x N pixels is upscaled x2 through :func:`engine.pipeline.upscale_raster`. The model is a
parameter-free bicubic point-query model, so the numbers measure the pipeline itself (reading,
statistics, tiling, blending, writing), not a network. Reported: peak RSS, RSS after imports
(the interpreter + torch + GDAL floor), their difference, seconds and output Mpixel/s; the
bounded-memory criterion is ``peak(4096) <= 1.5 * peak(1024)``.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from engine.bench.common import call_in_child, maxrss_mib
from engine.models.descriptor import SRModel


class BicubicPointModel(SRModel):
    """Bicubic interpolation behind the point-query contract (halo 3)."""

    def __init__(self) -> None:
        super().__init__(name="bicubic", family="bicubic", module=nn.Identity(), in_channels=1,
                         out_channels=1, scale_range=(1.0, 16.0), halo=3)

    def upscale_grid(self, lr: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor,
                     pixel: tuple[float, float], *, clamp: bool = True,
                     **kwargs: Any) -> torch.Tensor:
        h, w = lr.shape[-2:]
        gy = (2 * rows.double() / h - 1).float()
        gx = (2 * cols.double() / w - 1).float()
        grid = torch.stack(torch.meshgrid(gy, gx, indexing="ij")[::-1], -1)[None]
        out = F.grid_sample(lr.float(), grid.expand(lr.shape[0], -1, -1, -1), mode="bicubic",
                            padding_mode="border", align_corners=False)
        return out.clamp(0, 1) if clamp else out


def _make_raster(path: Path, n: int) -> None:
    from osgeo import gdal

    ds = gdal.GetDriverByName("GTiff").Create(str(path), n, n, 1, gdal.GDT_UInt16,
                                              ["TILED=YES", "COMPRESS=DEFLATE"])
    ds.SetGeoTransform((500000.0, 1.0, 0.0, 4000000.0, 0.0, -1.0))
    band = ds.GetRasterBand(1)
    rng = np.random.default_rng(0)
    y = np.arange(256, dtype=np.float32)[:, None]
    for r0 in range(0, n, 256):
        rows = min(256, n - r0)
        x = np.arange(n, dtype=np.float32)[None]
        block = 2000 + 1000 * np.sin((y[:rows] + r0) / 37.0) * np.cos(x / 53.0)
        block += rng.normal(0, 30, block.shape)
        band.WriteArray(block.astype(np.uint16), 0, r0)
    ds = None


def child(n: int, folder: str) -> dict[str, Any]:
    """Run one size in this process; its JSON-able row (called in a fresh interpreter)."""
    from engine.pipeline import Scale, upscale_raster

    torch.set_num_threads(1)
    floor = maxrss_mib()
    src = Path(folder) / f"in_{n}.tif"
    _make_raster(src, n)
    t0 = time.perf_counter()
    res = upscale_raster(src, Path(folder) / f"out_{n}.tif", BicubicPointModel(),
                         scale=Scale(2, 2), tile=256)
    seconds = time.perf_counter() - t0
    peak = maxrss_mib()
    return {"size": n, "output": res["size"], "tiles": res["tiles"],
            "seconds": round(seconds, 2), "peak_rss_mib": round(peak, 1),
            "import_rss_mib": round(floor, 1), "pipeline_rss_mib": round(peak - floor, 1),
            "mpixel_per_s": round(res["size"][0] * res["size"][1] / seconds / 1e6, 2)}


def run(out_dir: Path, quick: bool) -> dict[str, Any]:
    """Run the sizes in child processes; returns the bench JSON."""
    sizes = (256, 1024) if quick else (1024, 4096)
    rows = []
    with tempfile.TemporaryDirectory(prefix="arbsr-bench-", dir=out_dir) as tmp:
        for n in sizes:
            env = dict(os.environ, OMP_NUM_THREADS="1")
            rows.append(call_in_child("engine.bench.pipeline", "child", n, tmp, env=env))
            for p in Path(tmp).iterdir():
                p.unlink()
    ratio = rows[1]["peak_rss_mib"] / rows[0]["peak_rss_mib"]
    return {"entry": "pipeline", "scale": 2, "model": "bicubic point-query (no network)",
            "runs": rows, "peak_rss_ratio": round(ratio, 3), "bounded": ratio <= 1.5}
