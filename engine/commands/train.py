"""``python -m engine train``: train or fine-tune a model on the user's own rasters.

Dispatches to ``engine/train/<family>.py``, which defines ``DEFAULTS`` (dict) and
``train(config, progress) -> Path``. Flags override the YAML config (``--config``), which
overrides the family's defaults. Stable flags (the QGIS train algorithm builds them)::

    --family lmlte|ldcsr|moe  --data A.tif [B.tif ...]  --out DIR  [--config YAML]
    [--epochs N] [--iters-per-epoch N] [--batch-size N] [--patch N] [--lr F]
    [--scale-min F] [--scale-max F] [--resume CKPT] [--init CKPT] [--seed N]
    [--device auto|cpu|cuda[:N]] [--val V.tif ...] [--holdout F] [--threads N]
    [--time-limit MIN] [--per-axis [FRACTION]] [--precision float32|bfloat16]
"""

from __future__ import annotations

import argparse
import importlib
import time
from types import ModuleType

from engine.errors import ParameterError
from engine.progress import Done, ProgressCallback
from engine.train import config as cfgmod

HELP = "train or fine-tune a model on your own rasters (self-supervised, any band count)"

#: Modules of engine/train/ that are shared helpers, not a family's trainer.
HELPERS = {"common", "config", "data"}


def _trainers() -> tuple[str, ...]:
    """Families with a trainer module ``engine/train/<family>.py`` (found without importing
    them: the CLI starts without torch)."""
    import pkgutil

    import engine.train

    names = {m.name for m in pkgutil.iter_modules(engine.train.__path__)} - HELPERS
    first = ("lmlte", "ldcsr", "moe")  # the order the help has always listed
    return tuple([f for f in first if f in names] + sorted(names - set(first)))


FAMILIES = _trainers()


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--family", default=None, choices=FAMILIES,
                   help="model family to train (default: the config's, else lmlte)")
    p.add_argument("--data", nargs="+", metavar="RASTER", help="training rasters (HR)")
    p.add_argument("--out", help="output folder for checkpoints (epoch-last.pth, epoch-best.pth)")
    p.add_argument("--config", help="training YAML (a file, or a name in resources/configs/)")
    p.add_argument("--epochs", type=int)
    p.add_argument("--iters-per-epoch", type=int)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--patch", type=int, dest="lr_patch", help="LR crop side in pixels")
    p.add_argument("--lr", type=float, help="peak learning rate")
    p.add_argument("--scale-min", type=float)
    p.add_argument("--scale-max", type=float)
    p.add_argument("--resume", metavar="CKPT", help="continue an interrupted run")
    p.add_argument("--init", metavar="CKPT", help="fine-tune from these weights")
    p.add_argument("--seed", type=int)
    p.add_argument("--device", help="auto, cpu, cuda or cuda:N")
    p.add_argument("--val", nargs="+", metavar="RASTER",
                   help="validation rasters (default: hold-out rows of the training rasters)")
    p.add_argument("--holdout", type=float, help="fraction of rows held out for validation")
    p.add_argument("--threads", type=int, help="CPU threads for torch")
    p.add_argument("--time-limit", type=float, dest="time_limit_min",
                   help="stop cleanly after this many minutes (resume later)")
    p.add_argument("--precision", choices=("float32", "bfloat16"),
                   help="LMLTE: forward pass in bfloat16 (autocast; float32 weights): faster on "
                        "CPUs with AMX and on recent GPUs")
    p.add_argument("--per-axis", type=float, nargs="?", const=0.5, metavar="FRACTION",
                   help="train with independent row / column scales on this fraction of the "
                        "pairs (default 0.5 when given without a value; the rest keep equal "
                        "scales)")


def trainer(family: str) -> ModuleType:
    """The trainer module of ``family`` (ParameterError when it has none)."""
    try:
        return importlib.import_module(f"engine.train.{family}")
    except ModuleNotFoundError as exc:
        if exc.name == f"engine.train.{family}":
            raise ParameterError(f"family '{family}' has no trainer in this version: use one of "
                                 f"{list(available())}") from exc
        raise


def available() -> tuple[str, ...]:
    """Families whose trainer module is present."""
    out = []
    for fam in FAMILIES:
        try:
            importlib.import_module(f"engine.train.{fam}")
        except ModuleNotFoundError:
            continue
        out.append(fam)
    return tuple(out)


def build_config(args: argparse.Namespace) -> dict:
    """Merge family defaults, the YAML file and the flags into one config dict."""
    file_cfg = cfgmod.load_yaml(args.config) if args.config else {}
    if args.resume and not args.config:
        # A run continues with its own settings (data, epochs, schedule, ...), not the defaults.
        file_cfg = stored_config(args.resume)
    family = args.family or file_cfg.get("family") or "lmlte"
    module = trainer(family)
    flags = {k: getattr(args, k, None) for k in (
        "data", "out", "epochs", "iters_per_epoch", "batch_size", "lr_patch", "lr", "scale_min",
        "scale_max", "resume", "init", "seed", "device", "val", "holdout", "threads",
        "time_limit_min", "per_axis", "precision")}
    flags["family"] = family
    if flags["precision"] and "precision" not in getattr(module, "DEFAULTS", {}):
        raise ParameterError(f"--precision is not supported by the {family} trainer: leave it "
                             "out (it trains in float32)")
    cfg = cfgmod.merge(getattr(module, "DEFAULTS", {}), file_cfg, flags)
    if not cfg["data"]:
        raise ParameterError("no training rasters: pass --data A.tif [B.tif ...] or list them "
                             "under 'data:' in the config")
    return cfg


def stored_config(path: str) -> dict:
    """The config a checkpoint's run was started with (``{}`` when it stores none), without
    its starting point (``init``/``resume``)."""
    from engine.models.checkpoints import read_checkpoint

    ck = read_checkpoint(path)
    stored = ck.get("arbsr", {}).get("config") if isinstance(ck, dict) else None
    if not isinstance(stored, dict):
        return {}
    return {k: v for k, v in stored.items() if k not in ("init", "resume")}


def run(args: argparse.Namespace, progress: ProgressCallback) -> Done:
    start = time.perf_counter()
    cfg = build_config(args)
    path = trainer(cfg["family"]).train(cfg, progress)
    return Done(output=str(path), seconds=time.perf_counter() - start,
                results={"family": cfg["family"], "out": str(cfg["out"])})
