"""``python -m engine evaluate HR``: how much the model beats GDAL cubic / lanczos on a raster.

Protocol: the HR raster (selected bands) is downsampled by the scale with the project's one
degradation (antialiased bicubic, :func:`engine.degradation.downsample`); the LR raster is
upscaled back to the HR grid by the model (through the full tiled pipeline) and by GDAL cubic
and lanczos. PSNR and SSIM are computed on per-band normalised values (0.1 / 99.9 percentiles of
the HR raster, so the peak is 1), over valid HR pixels only, with a border shave of
ceil(scale) pixels. Prints a table (and ``--json FILE`` writes the numbers).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from osgeo import gdal

from engine.degradation import downsample_numpy
from engine.errors import InputError, ParameterError
from engine.io import gdal_raster as gr
from engine.metrics.baselines import gdal_resample
from engine.metrics.psnr import psnr
from engine.metrics.ssim import ssim
from engine.normalization import denormalize, normalize
from engine.pipeline import Scale, fill_holes, parse_number, resolve_scale, upscale_raster
from engine.progress import Done, Progress, ProgressCallback, scaled

HELP = "PSNR/SSIM of a model vs GDAL cubic and lanczos on a downsampled HR raster"

#: Largest HR raster evaluated in memory; larger ones are refused with a hint.
MAX_PIXELS = 64_000_000


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("hr", metavar="HR", help="high-resolution reference raster")
    p.add_argument("--scale", metavar="S", help="scale factor for both axes (default 2)")
    p.add_argument("--scale-x", metavar="SX")
    p.add_argument("--scale-y", metavar="SY")
    p.add_argument("--model", default=None, metavar="NAME|PATH",
                   help="model name or checkpoint (default lmlte-default)")
    p.add_argument("--config", default=None, help="YAML config for checkpoints that need one")
    p.add_argument("--bands", default=None, metavar="1,2,3")
    p.add_argument("--device", default="auto")
    p.add_argument("--tile", default=None, metavar="N", help="tile side in LR pixels")
    p.add_argument("--seed", default="0", metavar="N")
    p.add_argument("--steps", default=None, metavar="N")
    p.add_argument("--json", default=None, metavar="FILE", help="also write the results here")


def evaluate(hr_path: str, model, *, scale: Scale, bands=None, tile: int | None = None,
             seed: int = 0, steps: int | None = None,
             progress: ProgressCallback = lambda _e: None) -> dict:
    """Run the protocol above; returns {"scale", "shave", "size", "methods": {name: {psnr, ssim}}}."""
    ds = gr.open_raster(hr_path)
    sel = gr.parse_bands(bands, ds.RasterCount)
    info = gr.describe(ds, sel)
    H, W = info.height, info.width
    if H * W > MAX_PIXELS:
        raise InputError(f"'{hr_path}' has {H * W / 1e6:.0f} Mpixel; evaluate reads it whole: "
                            "cut a smaller region first (gdal_translate -srcwin)")
    h, w = max(1, round(H / scale.y)), max(1, round(W / scale.x))
    if h < 8 or w < 8:
        raise ParameterError(f"the LR image would be {w}x{h} pixels: use a smaller scale or "
                                "a larger raster")
    data, valid = gr.read_window(ds, info, 0, 0, W, H)
    stats = gr.band_statistics(ds, info)
    ds = None
    hr_n = normalize(fill_holes(data, valid, [s.lo for s in stats]), stats)
    lr_n = downsample_numpy(hr_n, (h, w))
    # An LR pixel is invalid when any HR pixel under its kernel was invalid.
    lr_bad = downsample_numpy((~valid).astype(np.float32), (h, w)) > 1e-3
    lr_raw = denormalize(lr_n, stats).astype(np.float32)
    lr_raw[lr_bad] = np.nan
    sx, sy = W / w, H / h
    # ceil of the requested scale (the effective one can be a hair above it after rounding)
    shave = int(math.ceil(max(scale.x, scale.y) - 1e-9))
    results: dict = {"hr": str(hr_path), "bands": sel, "size": [W, H], "lr_size": [w, h],
                     "scale": [sx, sy], "shave": shave, "model": model.name,
                     "degradation": "antialiased bicubic", "methods": {}}
    with tempfile.TemporaryDirectory(prefix="arbsr-eval-") as tmp:
        lr_path = Path(tmp) / "lr.tif"
        drv = gdal.GetDriverByName("GTiff")
        lr_ds = drv.Create(str(lr_path), w, h, len(sel), gdal.GDT_Float32)
        if info.geotransform:
            lr_ds.SetGeoTransform(gr.scaled_geotransform(info.geotransform, W, H, w, h))
        lr_ds.SetProjection(info.projection)
        for i in range(len(sel)):
            b = lr_ds.GetRasterBand(i + 1)
            b.SetNoDataValue(float("nan"))
            b.WriteArray(lr_raw[i])
        lr_ds = None
        sr_path = Path(tmp) / "sr.tif"
        upscale_raster(lr_path, sr_path, model, scale=Scale(sx, sy), tile=tile, seed=seed,
                       steps=steps, progress=scaled(progress, 0.05, 0.9))
        sr_raw = gdal.Open(str(sr_path)).ReadAsArray().reshape(len(sel), H, W)
    sr_n = normalize(sr_raw, stats)
    candidates = {model.name: sr_n}
    for alg in ("cubic", "lanczos"):
        candidates[f"gdal-{alg}"] = gdal_resample(lr_n, (H, W), alg)
    for name, pred in candidates.items():
        results["methods"][name] = {
            "psnr": psnr(pred, hr_n, valid=valid, shave=shave),
            "ssim": ssim(pred, hr_n, valid=valid, shave=shave),
        }
    return results


def format_table(results: dict) -> str:
    """Fixed-width table: method, PSNR (dB), SSIM."""
    lines = [f"{'method':<28} {'PSNR dB':>9} {'SSIM':>8}", "-" * 47]
    for name, m in results["methods"].items():
        lines.append(f"{name[-28:]:<28} {m['psnr']:9.3f} {m['ssim']:8.4f}")
    sx, sy = results["scale"]
    lines.append(f"scale x{sx:g} / x{sy:g}, shave {results['shave']}, "
                 f"{results['size'][0]}x{results['size'][1]} px, bands {results['bands']}")
    return "\n".join(lines)


def run(args: argparse.Namespace, progress: ProgressCallback) -> Done:
    start = time.perf_counter()
    numbers = {k: parse_number(f"--{k.replace('_', '-')}", getattr(args, k))
               for k in ("scale", "scale_x", "scale_y")}
    scale = resolve_scale(**numbers)
    tile = int(args.tile) if args.tile else None
    gr.open_raster(args.hr)  # fail fast on a bad input, before loading the model

    from engine.models.registry import load_model

    progress(Progress(0.0, "loading model"))
    model = load_model(args.model, device=args.device, config=args.config)
    results = evaluate(args.hr, model, scale=scale, bands=args.bands, tile=tile,
                       seed=int(args.seed), steps=int(args.steps) if args.steps else None,
                       progress=progress)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    if args.progress != "json":
        sys.stdout.write(format_table(results) + "\n" + json.dumps(results["methods"]) + "\n")
        sys.stdout.flush()
    progress(Progress(1.0, "done"))
    return Done(output=args.json, seconds=time.perf_counter() - start, results=results)
