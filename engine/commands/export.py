"""``python -m engine export MODEL OUT``: write a TorchScript or ONNX file of a point-query model.

The file loads anywhere a model is accepted (``--model OUT`` of ``upscale``, the plugin's custom
model field, :func:`engine.load_model`).
"""

from __future__ import annotations

import argparse
import time

from engine.export import FORMATS, export_model
from engine.models.registry import load_model
from engine.progress import Done, Log, ProgressCallback

HELP = "export a model to TorchScript (.pt) or ONNX (.onnx), optionally int8 or half precision"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", metavar="MODEL", help="registered model name or checkpoint path")
    p.add_argument("output", metavar="OUT", help="file to write (.pt for torchscript, .onnx)")
    p.add_argument("--format", choices=FORMATS, default=None,
                   help="export format (default: from the OUT suffix, else torchscript)")
    p.add_argument("--quantize", choices=("int8",), default=None,
                   help="dynamic int8 quantisation of the Linear layers (CPU deployments)")
    p.add_argument("--half", action="store_true",
                   help="store the network in float16 (GPU deployments)")
    p.add_argument("--prune", type=float, default=0.0, metavar="FRACTION",
                   help="zero this fraction of the smallest weights of each layer (default 0)")
    p.add_argument("--overwrite", action="store_true", help="replace OUT if it exists")


def run(args: argparse.Namespace, progress: ProgressCallback) -> Done:
    start = time.perf_counter()
    fmt = args.format or ("onnx" if str(args.output).lower().endswith(".onnx") else "torchscript")
    model = load_model(args.model, device="cpu")
    result = export_model(model, args.output, fmt=fmt, quantize=args.quantize, half=args.half,
                          prune=args.prune, overwrite=args.overwrite, progress=progress)
    progress(Log(f"exported {model.name} to {result.path} ({fmt}, max |diff| vs eager "
                 f"{result.max_abs_diff:.2g})"))
    return Done(output=str(result.path), seconds=time.perf_counter() - start,
                results=result.to_json())
