"""``python -m engine``: the command-line interface (the only module that prints).

Each subcommand lives in ``engine/commands/<name>.py`` and defines::

    HELP: str                                  # one line for --help
    def add_arguments(parser) -> None          # its argparse options
    def run(args, progress) -> Done | None     # the work; raises EngineError on failure

``progress`` is a callback taking :mod:`engine.progress` events. With ``--progress json`` they go
to stdout as JSON lines (the protocol the QGIS plugin reads); otherwise a short human line goes to
stderr. Errors: one line on stderr (and an ``error`` event in JSON mode), exit code of the
:class:`~engine.errors.EngineError` subclass; SIGINT / SIGTERM exit 130 / 143.
"""

from __future__ import annotations

import argparse
import importlib
import signal
import sys
import time
from types import FrameType, ModuleType
from typing import Sequence

from engine.errors import Cancelled, EngineError
from engine.progress import Done, Error, Event, Log, Metric, Progress, json_writer, to_json

#: Subcommands in --help order; each is a module in engine/commands/.
COMMANDS = ("upscale", "models", "evaluate", "train", "export", "cmsr", "compile", "bench")


def _command(name: str) -> ModuleType:
    return importlib.import_module(f"engine.commands.{name}")


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The argparse tree of every available subcommand, or of the command ``only`` alone.

    Each command module imports what it needs (most of them torch, which takes 1-2 s); a run of
    one command builds only its own parser, so that ``upscale`` with the fast model's torch-free
    runtime does not pay for the others' imports."""
    parser = argparse.ArgumentParser(
        prog="python -m engine",
        description="ArbSR engine: arbitrary-scale super-resolution of rasters.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS if only not in COMMANDS else (only,):
        try:
            module = _command(name)
        except ModuleNotFoundError as exc:
            if exc.name == f"engine.commands.{name}":
                continue  # command not part of this build
            raise
        p = sub.add_parser(name, help=module.HELP, description=module.HELP)
        p.add_argument("--progress", choices=("json", "text", "none"), default="text",
                       help="json: one JSON event per line on stdout (for the QGIS plugin)")
        module.add_arguments(p)
        p.set_defaults(_module=module)
    return parser


def _text_writer(event: Event) -> None:
    if isinstance(event, Progress):
        sys.stderr.write(f"\r{event.fraction * 100:5.1f}% {event.message[:60]:<60}")
        sys.stderr.flush()
    elif isinstance(event, Log):
        sys.stderr.write(f"\n{event.level}: {event.message}\n")
    elif isinstance(event, Metric):
        step = f" (step {event.step})" if event.step is not None else ""
        sys.stderr.write(f"\n{event.name} = {event.value:.6g}{step}\n")


class _Interrupted(BaseException):
    """Raised from the signal handler so that ``finally`` blocks clean up temporary files."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _on_signal(signum: int, _frame: FrameType | None) -> None:
    raise _Interrupted(signum)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one subcommand; returns the process exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(only=argv[0] if argv else None)
    args = parser.parse_args(argv)
    mode = args.progress
    progress = {"json": json_writer(sys.stdout), "text": _text_writer,
                "none": lambda _e: None}[mode]
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    start = time.perf_counter()
    try:
        done = args._module.run(args, progress)
    except EngineError as exc:
        return _fail(str(exc), exc.exit_code, mode)
    except _Interrupted as exc:
        code = 130 if exc.signum == signal.SIGINT else 143
        return _fail("interrupted: no output was written", code, mode)
    except MemoryError:
        return _fail("out of memory: use a smaller --tile, fewer --bands or a machine with more "
                     "memory", 6, mode)
    if mode == "text" and sys.stderr.isatty():
        sys.stderr.write("\n")
    if isinstance(done, Done):
        if mode == "json":
            print(to_json(done), flush=True)
        elif done.output:
            sys.stderr.write(f"wrote {done.output} in {time.perf_counter() - start:.1f} s\n")
    return 0


def _fail(message: str, code: int, mode: str) -> int:
    message = " ".join(message.split())  # exactly one line
    if mode == "json":
        print(to_json(Error(message)), flush=True)
    sys.stderr.write(f"error: {message}\n")
    sys.stderr.flush()
    return code


__all__ = ["COMMANDS", "Cancelled", "build_parser", "main"]
