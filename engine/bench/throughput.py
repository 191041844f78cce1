"""Throughput and quality at a glance: GDAL cubic and lanczos against the bundled models.

Speed: output megapixels per second of the whole job as users run it, on the same UInt16
WorldView-2 PAN raster (mirror-tiled to ``SIDE`` x ``SIDE``): ``gdal.Warp`` with all CPUs and
the engine's output options (tiled, DEFLATE) for GDAL, ``python -m engine upscale`` with default
options for the models (reading, statistics, tiling, writing included). Diffusion models take
minutes per megapixel on a CPU, so they are measured on a ``DIFFUSION_SIDE`` crop of the same
raster, and ``lmlte-large`` on a ``LARGE_SIDE`` one (the row says so).

Quality: mean PSNR on the held-out WorldView-2 card protocol (:mod:`engine.bench.common`: 4 PAN
crops 192 x 192 and 2 MUL crops 96 x 96, 4 bands, band-wise, antialiased bicubic LR) at x2 and
x4, for every method of the speed table (diffusion models at their card's defaults, seed 0).

``python -m engine.bench.throughput build/bench/throughput.json`` prints the table as Markdown
(``make bench`` does).
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any


from engine.bench.common import (Scores, add_scores, quality_table, threads, upscale_band,
                                 wv2_single_band_pairs)
from engine.bench.pipeline import make_raster, measure

SIDE, LARGE_SIDE, DIFFUSION_SIDE = 2048, 512, 256
SCALES = (2, 4)
GDAL_METHODS = ("cubic", "lanczos")
MODELS = ("fast", "lmlte-default", "lmlte-large", "moe")
#: Models measured on a smaller crop: the fraction of SIDE they get.
SMALLER = {"lmlte-large": LARGE_SIDE / SIDE, "moe": DIFFUSION_SIDE / SIDE}


def gdal_speed(src: Path, dst: Path, side: int, scale: int, method: str) -> dict[str, Any]:
    """``gdal.Warp`` of ``src`` to ``scale`` x its size, timed; the engine's output options."""
    from osgeo import gdal

    opts = ["TILED=YES", "BLOCKXSIZE=256", "BLOCKYSIZE=256", "COMPRESS=DEFLATE", "PREDICTOR=2",
            "BIGTIFF=IF_SAFER", "NUM_THREADS=ALL_CPUS"]
    t0 = time.perf_counter()
    gdal.Warp(str(dst), str(src), width=side * scale, height=side * scale, resampleAlg=method,
              creationOptions=opts, multithread=True, warpOptions=["NUM_THREADS=ALL_CPUS"])
    seconds = time.perf_counter() - t0
    dst.unlink(missing_ok=True)
    out = (side * scale) ** 2 / 1e6
    return {"seconds": round(seconds, 2), "out_mpix": round(out, 2),
            "mpix_per_s": round(out / seconds, 3)}


def speed_table(folder: Path, side: int) -> list[dict[str, Any]]:
    src = make_raster(folder / f"pan{side}.tif", "PAN", side, side)
    rows = []
    for method in GDAL_METHODS:
        row: dict[str, Any] = {"method": f"GDAL {method}", "raster": f"{side}x{side}"}
        for s in SCALES:
            row[f"x{s}"] = gdal_speed(src, folder / "gdal.tif", side, s, method)
        rows.append(row)
    for name in MODELS:
        n = int(side * SMALLER.get(name, 1.0))
        inp = src if n == side else make_raster(folder / f"pan{n}.tif", "PAN", n, n)
        row = {"method": name, "raster": f"{n}x{n}"}
        for s in SCALES:
            row[f"x{s}"] = measure([inp, folder / "model.tif", "--model", name, "--scale", s])
        rows.append(row)
    return rows


def quality(models: tuple[str, ...] = MODELS) -> dict[tuple[str, int], float]:
    """Mean PSNR per (method, scale) on the WorldView-2 card protocol."""
    import torch

    import engine
    from engine.metrics.baselines import gdal_resample

    torch.set_num_threads(threads())
    loaded = {n: engine.load_model(n, device="cpu") for n in models}
    acc: Scores = {}
    for scale, hr, lr in wv2_single_band_pairs(SCALES):
        preds = {f"GDAL {m}": gdal_resample(lr[0, 0].numpy(), hr.shape, m) for m in GDAL_METHODS}
        for n, m in loaded.items():
            preds[n] = upscale_band(m, lr, hr.shape)
        add_scores(acc, preds, hr, scale)
    return {(r["method"], r["scale"]): r["psnr"] for r in quality_table(acc)}


def run(out_dir: Path, quick: bool) -> dict[str, Any]:
    """The speed and quality table; returns the bench JSON (``targets`` for the fast model)."""
    side = 512 if quick else SIDE
    with tempfile.TemporaryDirectory(prefix="arbsr-bench-", dir=out_dir) as tmp:
        rows = speed_table(Path(tmp), side)
    psnr = quality()
    for row in rows:
        for s in SCALES:
            row[f"x{s}"]["psnr"] = psnr.get((row["method"], s))
    by = {r["method"]: r for r in rows}

    def rate(m: str, s: int) -> float:
        return float(by[m][f"x{s}"]["mpix_per_s"])

    def gain(m: str, ref: str, s: int) -> float:
        return round(float(psnr[(m, s)] - psnr[(ref, s)]), 2)

    targets = {
        "fast_vs_lanczos_speed": {f"x{s}": round(rate("fast", s) / rate("GDAL lanczos", s), 2)
                                  for s in SCALES},
        "fast_psnr_over_cubic": {f"x{s}": gain("fast", "GDAL cubic", s) for s in SCALES},
        "fast_psnr_over_lanczos": {f"x{s}": gain("fast", "GDAL lanczos", s) for s in SCALES},
    }
    targets["fast_ok"] = bool(
        all(v >= 1.0 for v in targets["fast_vs_lanczos_speed"].values())
        and targets["fast_psnr_over_cubic"]["x2"] >= 1.0
        and targets["fast_psnr_over_cubic"]["x4"] >= 0.6
        and all(v > 0 for v in targets["fast_psnr_over_lanczos"].values()))
    return {"entry": "throughput", "threads": threads(), "quick": quick,
            "data": f"dgsamples WorldView-2 PAN (UInt16) mirror-tiled to {side}x{side} (smaller "
                    "for the slowest models, see each row); PSNR: the card protocol",
            "rows": rows, "targets": targets}


def markdown(result: dict[str, Any]) -> str:
    """The table of a bench result, one line per method."""
    lines = ["| method | raster | x2 MPix/s | x4 MPix/s | x2 PSNR (dB) | x4 PSNR (dB) |",
             "|---|---|---|---|---|---|"]
    for r in result["rows"]:
        cells = [r["method"], r["raster"]]
        cells += [f"{r[f'x{s}']['mpix_per_s']:.2f}" for s in SCALES]
        cells += [("—" if r[f"x{s}"].get("psnr") is None else f"{r[f'x{s}']['psnr']:.2f}")
                  for s in SCALES]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":  # python -m engine.bench.throughput build/bench/throughput.json
    print(markdown(json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))))
