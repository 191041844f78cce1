"""``python -m engine bench``: speed, memory and quality benchmarks written as JSON."""

from __future__ import annotations

import argparse
import importlib
import json
import time
from pathlib import Path

from engine.progress import Done, Log, Progress, ProgressCallback

HELP = "run benchmarks (speed, peak memory, quality) and write one JSON file per entry"

#: Bench entries: modules in engine/bench/ with ``run(out_dir: Path, quick: bool) -> dict``.
ENTRIES = ("throughput", "flops", "lmlte", "pipeline", "ldcsr", "moe", "export")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", default="build/bench", help="folder for the JSON results")
    p.add_argument("--only", nargs="*", choices=ENTRIES, help="run only these entries")
    p.add_argument("--quick", action="store_true", help="smaller sizes (smoke test)")


def run(args: argparse.Namespace, progress: ProgressCallback) -> Done:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    names = args.only or ENTRIES
    start = time.perf_counter()
    written = []
    for i, name in enumerate(names):
        try:
            module = importlib.import_module(f"engine.bench.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"engine.bench.{name}":
                progress(Log(f"bench entry '{name}' is not available", "warning"))
                continue
            raise
        progress(Progress(i / len(names), f"bench {name}"))
        result = module.run(out, quick=args.quick)
        path = out / f"{name}.json"
        path.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
        written.append(str(path))
    return Done(output=str(out), seconds=time.perf_counter() - start, results={"files": written})
