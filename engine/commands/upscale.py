"""``python -m engine upscale INPUT OUTPUT``: super-resolve a raster into a GeoTIFF.

Band rule: a single-band model (the default LMLTE) processes every band on its own; an RGB
(3-channel) model processes a 3-band selection jointly in the given order; with any other band
count each band is replicated to three channels and the three outputs are averaged.
"""

from __future__ import annotations

import argparse
import time

from engine.errors import ParameterError
from engine.io import gdal_raster as gr
from engine.pipeline import parse_number, resolve_scale, upscale_raster
from engine.progress import Done, Progress, ProgressCallback

HELP = "super-resolve a raster (GeoTIFF out, same georeferencing, type and bands)"

EPILOG = """\
output size: round(width * scale-x) x round(height * scale-y); the extent is unchanged.
band rule: a 1-channel model processes each band separately; a 3-channel (RGB) model processes
a 3-band selection jointly; any other band count is processed band by band, each band
replicated to 3 channels and the 3 outputs averaged.
nodata, masks and NaN are kept: a pixel is nodata where the nearest input pixel is nodata.
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.epilog = EPILOG
    p.add_argument("input", metavar="INPUT", help="input raster (any GDAL format)")
    p.add_argument("output", metavar="OUTPUT", help="output GeoTIFF")
    p.add_argument("--scale", metavar="S", help="scale factor for both axes (>= 1, default 2)")
    p.add_argument("--scale-x", metavar="SX", help="scale factor along x (with --scale-y)")
    p.add_argument("--scale-y", metavar="SY", help="scale factor along y (with --scale-x)")
    p.add_argument("--resolution", metavar="R",
                   help="target pixel size in map units (instead of a scale)")
    p.add_argument("--model", default=None, metavar="NAME|PATH",
                   help="registered model name (python -m engine models) or checkpoint path "
                        "(default: lmlte-default)")
    p.add_argument("--config", default=None, help="YAML config for checkpoints that need one")
    p.add_argument("--bands", default=None, metavar="1,2,3", help="bands to process (default all)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default auto)")
    p.add_argument("--tile", default=None, metavar="N",
                   help="tile side in input pixels (default: 512 output pixels / scale); smaller "
                        "uses less memory")
    p.add_argument("--overwrite", action="store_true", help="replace OUTPUT if it exists")
    p.add_argument("--seed", default="0", metavar="N", help="seed of diffusion models")
    p.add_argument("--steps", default=None, metavar="N", help="sampling steps of diffusion models")
    p.add_argument("--temperature", default=None, metavar="T",
                   help="detail of diffusion models with a detail control (moe), 0..1: 0 is "
                        "deterministic and closest to the truth on average, higher adds finer "
                        "(partly invented) detail (default: the model card's)")
    p.add_argument("--uncertainty", default=None, metavar="PATH",
                   help="also write a Float32 GeoTIFF with, per output band, the per-pixel "
                        "standard deviation over --samples samples in the output's units "
                        "(diffusion models)")
    p.add_argument("--samples", default=None, metavar="K",
                   help="samples per pixel for --uncertainty (default 4, at least 2)")
    p.add_argument("--no-half", action="store_true", help="no float16 autocast on CUDA")
    p.add_argument("--cog", action="store_true", help="write a Cloud Optimised GeoTIFF")
    g = p.add_argument_group("large rasters and clusters")
    g.add_argument("--workers", default="1", metavar="N",
                   help="processes (or Ray actors) rendering blocks in parallel (default 1)")
    g.add_argument("--threads", default=None, metavar="T",
                   help="torch threads per worker (default: CPU cores / workers)")
    g.add_argument("--ray", default=None, metavar="local|auto|ADDRESS",
                   help="run the blocks on Ray: 'local' starts a private cluster for this job; "
                        "'auto', host:port or ray://host:10001 join an existing one (paths must "
                        "be visible to every node)")
    g.add_argument("--resume", action="store_true",
                   help="reuse the finished blocks of an interrupted run of the same command "
                        "(kept in OUTPUT.parts/)")


def _int(name: str, text: str | None, minimum: int) -> int | None:
    if text is None:
        return None
    try:
        value = int(text)
    except (TypeError, ValueError):
        raise ParameterError(f"{name} '{text}' is not a whole number") from None
    if value < minimum:
        raise ParameterError(f"{name} must be at least {minimum}, got {value}")
    return value


def run(args: argparse.Namespace, progress: ProgressCallback) -> Done:
    start = time.perf_counter()
    # Cheap checks first, so that a bad command fails before the model is loaded.
    numbers = {k: parse_number(f"--{k.replace('_', '-')}", getattr(args, k))
               for k in ("scale", "scale_x", "scale_y", "resolution")}
    tile = _int("--tile", args.tile, 1)
    seed = _int("--seed", args.seed, 0) or 0
    steps = _int("--steps", args.steps, 1)
    samples = _int("--samples", args.samples, 1)
    temperature = parse_number("--temperature", args.temperature)
    workers = _int("--workers", args.workers, 1) or 1
    threads = _int("--threads", args.threads, 1)
    ray = (args.ray or "").strip() or None
    ds = gr.open_raster(args.input)
    bands = gr.parse_bands(args.bands, ds.RasterCount)
    gt = ds.GetGeoTransform(can_return_null=True)
    ds = None
    scale = resolve_scale(**numbers, geotransform=gt)
    gr.check_output_path(args.output, overwrite=args.overwrite, input_path=args.input)

    from engine.models.registry import load_model
    from engine.pipeline import ModelRef

    progress(Progress(0.0, "loading model"))
    # runtime: the fast model runs on the CPU without torch (its start-up costs more than a
    # GDAL resampling of the raster); every other model, or a GPU, goes through torch.
    model = load_model(args.model, device=args.device or "auto", config=args.config,
                       runtime=True)
    device = model.device
    results = upscale_raster(args.input, args.output, model, scale=scale, bands=bands, tile=tile,
                             overwrite=args.overwrite, seed=seed, steps=steps,
                             half=False if args.no_half else None, cog=args.cog,
                             workers=workers, threads=threads, ray=ray, resume=args.resume,
                             temperature=temperature, samples=samples,
                             uncertainty=args.uncertainty,
                             model_ref=ModelRef(args.model or model.name, args.config,
                                                str(device)),
                             progress=progress)
    results["device"] = str(device)
    progress(Progress(1.0, "done"))
    return Done(output=results["output"], seconds=time.perf_counter() - start, results=results)
