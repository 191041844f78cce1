"""Training configuration: defaults, YAML files (resources/configs/) and command-line overrides.

A config is a plain dict (so it can be stored inside checkpoints and dumped back to YAML). Keys
shared by every family are in :data:`COMMON`; each family's trainer adds its own defaults
(``engine.train.<family>.DEFAULTS``) and :func:`merge` lays them out in this order:
common defaults < family defaults < YAML file < command-line flags.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any, Mapping

from engine.errors import ParameterError

CONFIGS = Path(__file__).resolve().parents[2] / "resources" / "configs"

#: Keys every trainer understands.
COMMON: dict[str, Any] = {
    "family": "lmlte",
    "data": [],            # training rasters
    "val": [],             # validation rasters (default: the hold-out rows of the training data)
    "out": "build/train/run",
    "seed": 0,
    "device": "auto",
    "threads": None,       # torch CPU threads (None: torch's default)
    "epochs": 10,
    "iters_per_epoch": 100,
    "batch_size": 16,
    "lr_patch": 48,        # LR crop side in pixels
    "scale_min": 1.0,
    "scale_max": 4.0,
    "scale_weights": None,  # e.g. [[1, 2, 0.3], [2, 4, 0.7]]: ranges and their probabilities
    "per_axis": 0.0,       # fraction of pairs with independent row / column scales
    "channels": 1,         # 1: band-wise samples; k: k bands; null: all bands
    "bands": None,         # 1-based band selection applied to every raster
    "holdout": 0.1,        # fraction of rows kept for validation when no --val is given
    "max_invalid": 0.0,    # largest nodata fraction of an accepted crop
    "mask_zero": False,    # treat exact zeros as nodata
    "val_patch": 48,
    "val_scales": [2.0, 3.0, 4.0],  # factors, or [sy, sx] per-axis pairs
    "val_per_source": 4,
    "lr": 2.0e-4,
    "lr_min": 1.0e-6,
    "schedule": "cosine",  # cosine | constant
    "warmup_iters": 0,
    "grad_clip": None,
    "resume": None,        # checkpoint of an interrupted run: continue it exactly
    "init": None,          # checkpoint to fine-tune from (weights only; fresh optimizer)
    "time_limit_min": None,  # stop cleanly (after saving) when this wall time is used up
}


def load_yaml(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a training YAML (a bare name is looked up in resources/configs/)."""
    import yaml

    p = Path(path)
    if not p.is_file():
        for cand in (CONFIGS / p, CONFIGS / f"{p}.yaml"):
            if cand.is_file():
                p = cand
                break
    if not p.is_file():
        raise ParameterError(f"training config '{path}' does not exist: give a YAML file or one "
                             f"of {sorted(q.name for q in CONFIGS.glob('*.yaml'))}")
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ParameterError(f"training config '{p}' is not valid YAML ({str(exc)[:100]}): fix "
                             "the file") from exc
    if not isinstance(data, dict):
        raise ParameterError(f"training config '{p}' must be a mapping of keys to values")
    return data


def deep_update(base: dict[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    """Recursively update ``base`` with ``new`` (dicts merge, everything else replaces)."""
    for key, value in new.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), dict):
            deep_update(base[key], value)
        else:
            base[key] = copy.deepcopy(value)
    return base


def merge(family_defaults: Mapping[str, Any], *layers: Mapping[str, Any] | None) -> dict[str, Any]:
    """common defaults < family defaults < each layer in order (None values in layers skipped)."""
    cfg = deep_update(copy.deepcopy(COMMON), family_defaults)
    for layer in layers:
        if layer:
            deep_update(cfg, {k: v for k, v in layer.items() if v is not None})
    check(cfg)
    return cfg


def band_wise(family_defaults: Mapping[str, Any], config: Mapping[str, Any] | str | os.PathLike[str],
              family: str) -> dict[str, Any]:
    """The merged config of a band-wise trainer (``config``: a dict or a YAML path), checked:
    it names training rasters and asks for 1 channel."""
    if isinstance(config, (str, os.PathLike)):
        config = load_yaml(config)
    cfg = merge(family_defaults, dict(config))
    if not cfg.get("data"):
        raise ParameterError(f"the {family} training config needs 'data': a list of raster "
                             "files")
    if cfg.get("channels", 1) != 1:
        raise ParameterError(f"{family} is a band-wise model: use channels 1")
    return cfg


def check(cfg: Mapping[str, Any]) -> None:
    """Reject values that would fail later with an obscure error."""
    if float(cfg["scale_min"]) < 1 or float(cfg["scale_max"]) < float(cfg["scale_min"]):
        raise ParameterError(f"scale range [{cfg['scale_min']}, {cfg['scale_max']}] must satisfy "
                             "1 <= scale_min <= scale_max")
    for key in ("epochs", "iters_per_epoch", "batch_size", "lr_patch"):
        if int(cfg[key]) < 1:
            raise ParameterError(f"{key} must be a positive integer, got {cfg[key]}")
    if float(cfg["lr"]) <= 0:
        raise ParameterError(f"learning rate must be positive, got {cfg['lr']}")
    if not 0.0 <= float(cfg.get("per_axis") or 0.0) <= 1.0:
        raise ParameterError(f"per_axis {cfg['per_axis']} must be a fraction between 0 and 1")
    if cfg["schedule"] not in ("cosine", "constant"):
        raise ParameterError(f"schedule '{cfg['schedule']}' is unknown: use cosine or constant")
    if cfg.get("resume") and cfg.get("init"):
        raise ParameterError("give either --resume (continue a run) or --init (fine-tune), not "
                             "both")


def scale_weights(cfg: Mapping[str, Any]) -> dict[tuple[float, float], float] | None:
    """The ``scale_weights`` list [[lo, hi, p], ...] as the mapping PairSampler takes."""
    sw = cfg.get("scale_weights")
    if not sw:
        return None
    return {(float(lo), float(hi)): float(p) for lo, hi, p in sw}


def learning_rate(cfg: Mapping[str, Any], step: int, total: int) -> float:
    """Learning rate at global iteration ``step`` of ``total`` (warm-up, then cosine or flat)."""
    import math

    base, low = float(cfg["lr"]), float(cfg["lr_min"])
    warm = int(cfg.get("warmup_iters") or 0)
    if step < warm:
        return base * (step + 1) / warm
    if cfg["schedule"] == "constant":
        return base
    t = min(max(step - warm, 0) / max(total - warm, 1), 1.0)
    return low + 0.5 * (base - low) * (1 + math.cos(math.pi * t))


__all__ = ["COMMON", "CONFIGS", "band_wise", "check", "deep_update", "learning_rate", "load_yaml", "merge",
           "scale_weights"]
