"""Bench entry ``pipeline``: memory and speed of ``python -m engine upscale`` as users run it.

Every measurement is one run of the real CLI in a child process, with the bundled models and the
default options unless a row says otherwise, on real imagery: WorldView-2 (PAN for single-band
rasters, the 8-band MUL file for multi-band ones) from the ``dgsamples`` package, mirror-tiled to
the sizes below at run time. Peak RSS is the child's own (``wait4``).

Tables:

* ``memory``: peak RSS against the single-band reference of the same scale and model: a raster
  16x larger, a long strip (as wide as the large one) and an 8-band raster of the reference's
  size; the target is a ratio <= 1.25 for each, and an 8-band run no slower than 8 single-band
  runs. x2 and x8 with ``lmlte-default``; x2 with ``moe`` on smaller rasters (diffusion is slow).
* ``parallel``: ``--workers 2 --threads 1`` (local processes and ``--ray local``) against
  ``--workers 1 --threads 1`` on the same raster: efficiency = T1 / (2 x T2), target >= 0.8.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from engine.bench.common import ROOT, dgsamples_tif

#: (model, scale, reference side, large side, strip (width, height), extra options) of the memory
#: table. Every reference raster fills at least one whole 512-pixel output block. MoE runs 2
#: sampling steps instead of 20: memory does not depend on the step count, time would be 10x.
MEMORY_CASES = (
    ("lmlte-default", 2.0, 1024, 4096, (16384, 1024), ()),
    ("lmlte-default", 8.0, 128, 512, (2048, 128), ()),
    ("moe", 2.0, 256, 768, (2048, 256), ("--steps", 2)),
)
QUICK_MEMORY_CASES = (("lmlte-default", 2.0, 256, 512, (1024, 256), ()),)


def _mirror_tile(a: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """``a`` (C, h, w) extended to (C, rows, cols) by mirrored repeats (no seams)."""
    while a.shape[1] < rows or a.shape[2] < cols:
        a = np.concatenate([a, a[:, ::-1]], axis=1) if a.shape[1] < rows else a
        a = np.concatenate([a, a[:, :, ::-1]], axis=2) if a.shape[2] < cols else a
    return np.ascontiguousarray(a[:, :rows, :cols])


def make_raster(path: Path, product: str, cols: int, rows: int) -> Path:
    """A UInt16 GeoTIFF of WorldView-2 ``product`` (PAN or MUL) pixels, ``cols`` x ``rows``."""
    from osgeo import gdal

    if path.exists():
        return path
    src = gdal.Open(str(dgsamples_tif("wv2_longmont_1k", product)))
    data = src.ReadAsArray()
    data = data[None] if data.ndim == 2 else data
    out = _mirror_tile(data.astype(np.uint16), rows, cols)
    ds = gdal.GetDriverByName("GTiff").Create(str(path), cols, rows, out.shape[0],
                                              gdal.GDT_UInt16,
                                              ["TILED=YES", "COMPRESS=DEFLATE", "BIGTIFF=IF_SAFER"])
    gt = src.GetGeoTransform()
    ds.SetGeoTransform(gt)
    ds.SetProjection(src.GetProjection())
    for i in range(out.shape[0]):
        ds.GetRasterBand(i + 1).WriteArray(out[i])
    ds = None
    return path


def measure(args: Sequence[Any], env: dict[str, str] | None = None) -> dict[str, Any]:
    """One ``python -m engine upscale`` child: seconds, its own peak resident size
    (:mod:`engine.bench.child`; ``wait4``'s where that is not available), output Mpixel/s and
    blocks."""
    cmd = [sys.executable, "-m", "engine.bench.child", "upscale", *map(str, args), "--progress",
           "json", "--overwrite"]
    with tempfile.TemporaryDirectory(prefix="arbsr-peak-") as tmp:
        peak_file = Path(tmp) / "peak"
        t0 = time.perf_counter()
        p = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True,
                             env={**(env or os.environ), "ARBSR_PEAK_FILE": str(peak_file)})
        assert p.stdout is not None and p.stderr is not None
        out = p.stdout.read()
        err = p.stderr.read()
        _, status, usage = os.wait4(p.pid, 0)
        p.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.perf_counter() - t0
        peak_kib = int(peak_file.read_text()) if peak_file.is_file() else usage.ru_maxrss
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed: {err.strip()[-400:]}")
    res = json.loads(out.strip().splitlines()[-1])["results"]
    w, h = res["size"]
    return {"seconds": round(seconds, 2), "peak_rss_mib": round(peak_kib / 1024, 1),
            "out_mpix": round(w * h / 1e6, 2), "mpix_per_s": round(w * h / 1e6 / seconds, 3),
            "blocks": res["blocks"]}


def memory_table(folder: Path, cases: Sequence[tuple]) -> list[dict[str, Any]]:
    rows = []
    for model, scale, ref, large, (sw, sh), extra in cases:
        rasters = {
            f"{ref}x{ref} 1 band (reference)": make_raster(folder / f"pan{ref}.tif", "PAN", ref,
                                                           ref),
            f"{large}x{large} 1 band": make_raster(folder / f"pan{large}.tif", "PAN", large,
                                                   large),
            f"{sw}x{sh} strip 1 band": make_raster(folder / f"pan{sw}x{sh}.tif", "PAN", sw, sh),
            f"{ref}x{ref} 8 bands": make_raster(folder / f"mul{ref}.tif", "MUL", ref, ref),
        }
        base = None
        for label, path in rasters.items():
            r = measure([path, folder / "out.tif", "--scale", scale, "--model", model, *extra])
            base = base or r
            row = {"model": model, "scale": scale, "options": " ".join(map(str, extra)),
                   "raster": label, **r,
                   "peak_ratio": round(r["peak_rss_mib"] / base["peak_rss_mib"], 3)}
            if "8 bands" in label:
                row["seconds_vs_8_single_band_runs"] = round(r["seconds"] / (8 * base["seconds"]),
                                                             3)
            rows.append(row)
            (folder / "out.tif").unlink(missing_ok=True)
    return rows


def parallel_table(folder: Path, side: int) -> list[dict[str, Any]]:
    src = make_raster(folder / f"pan{side}.tif", "PAN", side, side)
    env = dict(os.environ, OMP_NUM_THREADS="1")
    one = measure([src, folder / "p1.tif", "--scale", 2, "--workers", 1, "--threads", 1],
                  env=env)
    rows = [{"executor": "1 process, 1 thread", **one}]
    for label, extra in (("2 local workers x 1 thread", []),
                         ("2 Ray actors x 1 thread (--ray local)", ["--ray", "local"])):
        r = measure([src, folder / "p2.tif", "--scale", 2, "--workers", 2, "--threads", 1,
                     *extra], env=env)
        rows.append({"executor": label, **r,
                     "efficiency": round(one["seconds"] / (2 * r["seconds"]), 3)})
    for p in (folder / "p1.tif", folder / "p2.tif"):
        p.unlink(missing_ok=True)
    return rows


def run(out_dir: Path, quick: bool) -> dict[str, Any]:
    """The memory and parallel tables; returns the bench JSON."""
    with tempfile.TemporaryDirectory(prefix="arbsr-bench-", dir=out_dir) as tmp:
        folder = Path(tmp)
        memory = memory_table(folder, QUICK_MEMORY_CASES if quick else MEMORY_CASES)
        parallel = parallel_table(folder, 512 if quick else 2048)
    worst = max(r["peak_ratio"] for r in memory)
    eff = min(r["efficiency"] for r in parallel if "efficiency" in r)
    bands = max(r.get("seconds_vs_8_single_band_runs", 0) for r in memory)
    return {"entry": "pipeline", "cpu_count": os.cpu_count(),
            "data": "dgsamples WorldView-2 PAN / 8-band MUL, mirror-tiled to each size",
            "memory": memory, "parallel": parallel,
            "targets": {"peak_ratio_max": worst, "peak_ratio_ok": worst <= 1.25,
                        "eight_bands_vs_8_runs": bands, "eight_bands_ok": bands <= 1.0,
                        "parallel_efficiency_min": eff, "parallel_ok": eff >= 0.8}}
