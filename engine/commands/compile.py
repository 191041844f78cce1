"""``python -m engine compile [MODEL ...]``: compile LMLTE decoders for this machine's CPU.

A compiled decoder (:mod:`engine.models.lmlte.compiled`) renders the same pixels as the eager
one, about 1.2 to 1.4 times faster on a 2-core CPU, and every later job of the model uses it
(no flag, no first-call cost). Building one takes about a minute on 2 cores and needs a C++
compiler (Debian: ``apt install g++``); it is kept in the user's cache, per model, torch
version and CPU. ``make setup`` builds the default model's.

    python -m engine compile [lmlte-default lmlte-large ...] [--force]
"""

from __future__ import annotations

import argparse
import shutil
import time

from engine.errors import ModelError, ResourceError
from engine.progress import Done, Log, Progress, ProgressCallback

HELP = ("compile LMLTE models' decoders for this machine's CPU (faster rendering, same pixels; "
        "needs a C++ compiler once)")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("models", nargs="*", default=["lmlte-default"], metavar="MODEL",
                   help="LMLTE model names or checkpoints (default: lmlte-default)")
    p.add_argument("--force", action="store_true", help="rebuild packages that exist")


def run(args: argparse.Namespace, progress: ProgressCallback) -> Done:
    import engine
    from engine.models.lmlte import compiled

    start = time.perf_counter()
    if shutil.which("g++") is None and shutil.which("c++") is None:
        raise ResourceError("compiling a decoder needs a C++ compiler: install one (Debian: "
                            "apt install g++); models run without it, more slowly")
    built: dict[str, str] = {}
    for i, name in enumerate(args.models):
        model = engine.load_model(name, device="cpu")
        net = model.module
        if model.family != "lmlte" or compiled.unsupported(net) is not None:
            why = "it is not an LMLTE model" if model.family != "lmlte" \
                else compiled.unsupported(net)
            raise ModelError(f"model '{model.name}' cannot be compiled: {why}")
        paths = compiled.package_paths(net)
        where = paths["decoder"].parent
        if all(p.is_file() for p in paths.values()) and not args.force:
            progress(Log(f"{model.name}: up to date (in {where})", "info"))
        else:
            progress(Progress(i / len(args.models), f"compiling {model.name} (about a minute)"))
            t0 = time.perf_counter()
            compiled.build(net)
            progress(Log(f"{model.name}: compiled in {time.perf_counter() - t0:.0f} s "
                         f"(in {where})", "info"))
        built[model.name] = [str(p) for p in paths.values()]
    return Done(output=None, seconds=time.perf_counter() - start, results={"packages": built})
