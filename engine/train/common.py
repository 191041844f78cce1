"""Pieces every trainer uses: run start-up, validation PSNR, seeding, JSON-able configs, weight
averaging."""

from __future__ import annotations

import math
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Mapping

import numpy as np
import torch
from torch import nn

from engine.device import resolve_device


def psnr(sr: torch.Tensor, hr: torch.Tensor, shave: int,
         valid: torch.Tensor | None = None) -> float:
    """PSNR in dB of ``sr`` vs ``hr`` (..., H, W), both clamped to [0, 1], border shaved.

    Args:
        shave: pixels left out on every side (``ceil(scale)`` in the SR protocol; 0 keeps all).
        valid: (H, W) bool mask of the pixels that count (nodata left out); None counts all.
    """
    sl = (Ellipsis, slice(shave, -shave or None), slice(shave, -shave or None))
    diff = (sr.clamp(0, 1) - hr.clamp(0, 1))[sl]
    if valid is None:
        mse = float(diff.pow(2).mean())
    else:
        mask = valid[sl].expand_as(diff)
        mse = float((diff[mask] ** 2).mean()) if mask.any() else 0.0
    return 10 * math.log10(1 / max(mse, 1e-12))


def start_run(cfg: Mapping[str, Any]) -> tuple[torch.device, int, Path]:
    """Apply ``threads``, resolve ``device``, seed with ``seed`` and create the ``out`` folder.

    Returns:
        The device, the seed and the output folder.
    """
    if cfg.get("threads"):
        torch.set_num_threads(int(cfg["threads"]))
    device = resolve_device(cfg.get("device", "auto"))
    seed = int(cfg["seed"])
    seed_all(seed)
    out = Path(cfg["out"])
    out.mkdir(parents=True, exist_ok=True)
    return device, seed, out


def save_state(path: Path, state: dict[str, Any]) -> None:
    """Write a resume state under a temporary name, then rename: never a half-written file."""
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    tmp.replace(path)


def load_state(path: str | Path, args: Mapping[str, Any]) -> dict[str, Any]:
    """A resume state written for a network with these ``args`` (else a ParameterError)."""
    from engine.errors import ParameterError

    state = torch.load(path, map_location="cpu", weights_only=False)
    if dict(state.get("args", {})) != dict(args):
        raise ParameterError(f"'{path}' was written for other model settings: resume with the "
                             "config it was started with")
    return state


def seed_all(seed: int) -> None:
    """Seed torch's and numpy's global generators (samplers keep their own seeded ones)."""
    torch.manual_seed(seed)
    np.random.seed(seed % (2 ** 32))


def jsonable(obj: Any) -> Any:
    """``obj`` with mappings as str-keyed dicts, tuples as lists and paths as strings."""
    if isinstance(obj, Mapping):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    return obj


class Ema:
    """Exponential moving average of a module's parameters, with the official LitEma warm-up.

    The decay of update ``n`` is ``min(decay, (1 + n) / (10 + n))``, so the average follows the
    weights closely in the first steps instead of staying near the initial ones.

    Attributes:
        shadow: averaged values by parameter name.
        decay: the decay once warmed up.
        num_updates: updates so far (saved in checkpoints, as the official ``num_updates``).
    """

    def __init__(self, module: nn.Module, decay: float) -> None:
        self.shadow = {k: v.detach().clone() for k, v in module.named_parameters()}
        self.decay = float(decay)
        self.num_updates = 0

    @torch.no_grad()
    def update(self, module: nn.Module) -> None:
        """Fold the current parameters of ``module`` into the average."""
        self.num_updates += 1
        d = min(self.decay, (1 + self.num_updates) / (10 + self.num_updates))
        for k, v in module.named_parameters():
            self.shadow[k].mul_(d).add_(v.detach(), alpha=1 - d)

    @torch.no_grad()
    def copy_to(self, module: nn.Module) -> None:
        """Overwrite the parameters of ``module`` with the averaged values."""
        for k, v in module.named_parameters():
            v.copy_(self.shadow[k])

    @contextmanager
    def applied(self, module: nn.Module) -> Iterator[nn.Module]:
        """``module`` with the averaged weights inside the block, its own weights again after."""
        live = {k: v.detach().clone() for k, v in module.named_parameters()}
        self.copy_to(module)
        try:
            yield module
        finally:
            with torch.no_grad():
                for k, v in module.named_parameters():
                    v.copy_(live[k])


__all__ = ["Ema", "jsonable", "psnr", "seed_all", "start_run"]
