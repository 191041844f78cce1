"""``python -m engine compile [MODEL ...]``: compile LMLTE decoders for this machine's CPU.

A compiled decoder (:mod:`engine.models.lmlte.compiled`) renders the same pixels as the eager
one, 1.2 to 2 times faster on a 2-core CPU (whole CLI jobs 1.2-1.6, the model alone 1.4-2.0),
and every later job of the model uses it (no flag, no first-call cost). Building one takes a
few seconds and needs a C++ compiler (Debian: ``apt install g++``); it is kept in the user's
cache, per render-MLP size and CPU, and serves every model of that size. ``make setup`` builds
the default model's.

    python -m engine compile [lmlte-default lmlte-large ...] [--force]
"""

from __future__ import annotations

import argparse
import time

from engine.errors import ModelError, ResourceError
from engine.progress import Done, Log, Progress, ProgressCallback

HELP = ("compile LMLTE models' decoders for this machine's CPU (faster rendering, same pixels; "
        "needs a C++ compiler once)")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("models", nargs="*", default=["lmlte-default"], metavar="MODEL",
                   help="LMLTE model names or checkpoints (default: lmlte-default)")
    p.add_argument("--force", action="store_true", help="rebuild decoders that exist")


def run(args: argparse.Namespace, progress: ProgressCallback) -> Done:
    import engine
    from engine.models.lmlte import compiled

    start = time.perf_counter()
    if compiled.compiler() is None:
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
        path = compiled.library_path(net)
        if path.is_file() and not args.force:
            progress(Log(f"{model.name}: up to date (in {path.parent})", "info"))
        else:
            progress(Progress(i / len(args.models), f"compiling {model.name}"))
            t0 = time.perf_counter()
            try:
                compiled.build(net)
            except RuntimeError as exc:
                raise ResourceError(f"{model.name}: {exc}") from exc
            progress(Log(f"{model.name}: compiled in {time.perf_counter() - t0:.1f} s "
                         f"(in {path.parent})", "info"))
        built[model.name] = str(path)
    return Done(output=None, seconds=time.perf_counter() - start, results={"decoders": built})
