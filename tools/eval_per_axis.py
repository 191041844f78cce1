#!/usr/bin/env python
"""Per-axis quality of LMLTE weights on held-out imagery, direct and transposed routes.

For each image and each scale pair (sx, sy): ``python -m engine evaluate``'s protocol
(:func:`engine.commands.evaluate.evaluate`: HR -> LR by the per-axis antialiased bicubic
degradation, the model through the full tiled pipeline, GDAL cubic and lanczos on the same LR,
PSNR/SSIM on per-band normalised values, shave ceil(max scale)).

The *transposed route* evaluates the transposed HR raster at (sy, sx): the degradation and GDAL's
resamplers are separable, so this is "transpose the input, upscale at the swapped scales,
transpose back" for the model and the same numbers for GDAL. A model without an axis-order
convention error, trained on all 8 dihedral symmetries, scores the same on both routes.

Images (none used in training): WorldView-2 PAN (512x512 crop at 744, 746, as in the model card;
``pan-full``: the whole 2000 x 2004 file), WorldView-2 MUL (whole file, 8 bands), scikit-image ``camera`` and ``astronaut`` (256x256 crops;
astronaut band-wise RGB).

    .venv/bin/python tools/eval_per_axis.py --model base=resources/models/lmlte-default.pth \\
        --model new=build/train/x/epoch-best.pth --out build/eval-per-axis.json \\
        [--images pan mul camera astronaut] [--pairs 4,1.5 1.5,4 ...] [--threads 1]

A model path (or registered name) ending in ``@direct`` renders the network's direct route only
(option ``axis_ensemble`` off): what LMLTE models did before they averaged both routes at
non-square output pixels; ``@viewsN`` sets the ``self_ensemble`` option to N geometric views.

Results are appended to ``--out`` as they come (JSON), and rows already there are skipped, so an
interrupted run continues. ``--table`` prints the Markdown table of a results file.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
from osgeo import gdal

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

gdal.UseExceptions()

#: Default scale pairs (sx, sy): the issue's four, more per-axis pairs in [1, 4]^2, equal axes.
PAIRS = ["2,3", "3,2", "1.5,4", "4,1.5", "1.25,3.5", "3.5,1.25", "2.5,4", "4,2.5", "1,3", "3,1",
         "2,2", "3,3", "4,4"]
IMAGES = ["pan", "mul", "camera", "astronaut"]  # also "pan-full": the whole PAN file


def _write(path: Path, arr: np.ndarray, like: gdal.Dataset | None = None) -> Path:
    arr = arr if arr.ndim == 3 else arr[None]
    dtype = {np.dtype("uint8"): gdal.GDT_Byte, np.dtype("uint16"): gdal.GDT_UInt16}.get(
        arr.dtype, gdal.GDT_Float32)
    ds = gdal.GetDriverByName("GTiff").Create(str(path), arr.shape[2], arr.shape[1], arr.shape[0],
                                              dtype)
    for b in range(arr.shape[0]):
        ds.GetRasterBand(b + 1).WriteArray(arr[b])
    ds = None
    return path


def prepare(images: list[str], tmp: Path) -> dict[str, Path]:
    """HR rasters (cut at run time, never stored) and their transposes: {name: path}."""
    from skimage import data as skdata

    from engine.bench.common import dgsamples_tif

    out: dict[str, Path] = {}
    for name in images:
        if name == "pan":
            ds = gdal.Translate(str(tmp / "pan.tif"), str(dgsamples_tif("wv2_longmont_1k", "PAN")),
                                srcWin=[744, 746, 512, 512])
            arr = ds.ReadAsArray()
            ds = None
        elif name == "pan-full":  # the whole 2000 x 2004 file
            arr = gdal.Open(str(dgsamples_tif("wv2_longmont_1k", "PAN"))).ReadAsArray()
        elif name == "mul":
            arr = gdal.Open(str(dgsamples_tif("wv2_longmont_1k", "MUL"))).ReadAsArray()
        elif name == "camera":
            arr = skdata.camera()[128:384, 128:384]
        elif name == "astronaut":
            arr = np.moveaxis(skdata.astronaut()[128:384, 128:384], -1, 0)
        else:
            raise SystemExit(f"unknown image '{name}': use pan, pan-full, mul, camera, "
                             "astronaut")
        arr = arr if arr.ndim == 3 else arr[None]
        out[name] = _write(tmp / f"{name}-hr.tif", np.ascontiguousarray(arr))
        out[name + "^T"] = _write(tmp / f"{name}-hrT.tif",
                                  np.ascontiguousarray(arr.transpose(0, 2, 1)))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", action="append", default=[], metavar="NAME=PATH")
    ap.add_argument("--out", default="build/eval-per-axis.json")
    ap.add_argument("--images", nargs="+", default=IMAGES)
    ap.add_argument("--pairs", nargs="+", default=PAIRS, metavar="SX,SY")
    ap.add_argument("--routes", nargs="+", default=["direct", "transposed"])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--table", action="store_true", help="print the table of --out and stop")
    args = ap.parse_args(argv)
    out = Path(args.out)
    rows = json.loads(out.read_text()) if out.is_file() else []
    if args.table:
        print(table(rows))
        return 0

    import torch

    import engine
    from engine.commands.evaluate import evaluate
    from engine.pipeline import Scale

    torch.set_num_threads(args.threads)
    done = {(r["model"], r["image"], r["sx"], r["sy"], r["route"]) for r in rows}
    with tempfile.TemporaryDirectory(prefix="arbsr-peraxis-") as tmp:
        files = prepare(args.images, Path(tmp))
        for spec in args.model:
            name, path = spec.split("=", 1)
            path, _, suffix = path.partition("@")
            model = engine.load_model(path, device="cpu")
            if suffix == "direct":
                model.options["axis_ensemble"] = False
            elif suffix.startswith("views"):
                model.options["self_ensemble"] = int(suffix[len("views"):])
            for image in args.images:
                for pair in args.pairs:
                    sx, sy = (float(v) for v in pair.split(","))
                    for route in args.routes:
                        key = (name, image, sx, sy, route)
                        if key in done:
                            continue
                        if route == "direct":
                            res = evaluate(str(files[image]), model, scale=Scale(sx, sy))
                        else:
                            res = evaluate(str(files[image + "^T"]), model, scale=Scale(sy, sx))
                        m = res["methods"]
                        ours = next(k for k in m if not k.startswith("gdal-"))
                        row = {"model": name, "image": image, "sx": sx, "sy": sy, "route": route,
                               "psnr": m[ours]["psnr"], "ssim": m[ours]["ssim"],
                               "cubic_psnr": m["gdal-cubic"]["psnr"],
                               "cubic_ssim": m["gdal-cubic"]["ssim"],
                               "lanczos_psnr": m["gdal-lanczos"]["psnr"],
                               "lanczos_ssim": m["gdal-lanczos"]["ssim"]}
                        rows.append(row)
                        out.parent.mkdir(parents=True, exist_ok=True)
                        out.write_text(json.dumps(rows, indent=1) + "\n")
                        print(f"{name:8s} {image:9s} {sx:g}x{sy:g} {route:10s} "
                              f"{row['psnr']:.2f} (cubic {row['cubic_psnr']:.2f}, "
                              f"lanczos {row['lanczos_psnr']:.2f})", flush=True)
    return 0


def table(rows: list[dict]) -> str:
    """Markdown: per image and pair, cubic / lanczos, then each model direct, transposed, gain."""
    models = list(dict.fromkeys(r["model"] for r in rows))
    idx = {(r["model"], r["image"], r["sx"], r["sy"], r["route"]): r for r in rows}
    head = "| image | sx × sy | cubic | lanczos | " + " | ".join(
        f"{m} direct | {m} transposed | {m} − cubic" for m in models) + " |"
    lines = [head, "|" + "---|" * (4 + 3 * len(models))]
    order = [tuple(float(v) for v in q.split(",")) for q in PAIRS]
    seen = sorted({(r["image"], r["sx"], r["sy"]) for r in rows},
                  key=lambda k: (IMAGES.index(k[0]) if k[0] in IMAGES else len(IMAGES),
                                 order.index(k[1:]) if k[1:] in order else len(order), k))
    for image, sx, sy in seen:
        base = next(r for r in rows if (r["image"], r["sx"], r["sy"]) == (image, sx, sy))
        cells = [image, f"{sx:g} × {sy:g}", f"{base['cubic_psnr']:.2f}",
                 f"{base['lanczos_psnr']:.2f}"]
        for m in models:
            d = idx.get((m, image, sx, sy, "direct"))
            t = idx.get((m, image, sx, sy, "transposed"))
            cells += [f"{d['psnr']:.2f}" if d else "", f"{t['psnr']:.2f}" if t else "",
                      f"{d['psnr'] - d['cubic_psnr']:+.2f}" if d else ""]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
