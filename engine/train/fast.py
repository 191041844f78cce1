"""Training the ``fast`` model (learned resampling) on the user's rasters.

``python -m engine train --family fast --data A.tif ... [--config fast-wv3]``. Common keys of
:mod:`engine.train.config`; per-axis pairs (``per_axis``) teach both axes' phases and cells.
One iteration: ``batch_size`` pairs of one (per-axis) scale, L1 loss of the rendered HR crop on
valid pixels, Adam, cosine learning rate. Validation on fixed hold-out pairs: PSNR of the model
and of its own cubic base (the network with the correction switched off), so the history shows
the gain over cubic directly.

Output: ``out/fast-best.pth`` (highest validation PSNR), ``out/fast-last.pth`` and
``out/fast-state.pth`` (``--resume`` continues exactly). Returns the best checkpoint's path.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import torch

from engine.errors import ParameterError
from engine.models.fast.checkpoint import make_checkpoint
from engine.models.fast.network import FastSRNet
from engine.models.fast.resample import centres, resample
from engine.progress import Log, Metric, Progress, ProgressCallback, ignore

DEFAULTS: dict[str, Any] = {
    "family": "fast", "out": "build/train/fast", "lr_patch": 32, "batch_size": 32,
    "scale_min": 1.1, "scale_max": 4.0, "per_axis": 0.5, "epochs": 40,
    "iters_per_epoch": 500, "lr": 2e-3, "lr_min": 2e-5, "schedule": "cosine",
    "threads": 1, "val_patch": 48, "val_scales": [2.0, 3.0, 4.0, [1.5, 4.0]],
    "val_per_source": 4, "max_invalid": 0.05, "mask_zero": True,
    "model": {"channels": 16, "layers": 3, "features": 4, "hidden": 16},
}


def _config(config: Mapping[str, Any] | str | Path) -> dict[str, Any]:
    from engine.train import config as cfgmod

    if isinstance(config, (str, Path)):
        config = cfgmod.load_yaml(config)
    cfg = cfgmod.merge(DEFAULTS, dict(config))
    if not cfg.get("data"):
        raise ParameterError("the fast training config needs 'data': a list of raster files")
    return cfg


def render(net: FastSRNet, lr: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """The network on a batch (B, 1, h, w) at the HR size, the way the pipeline calls it."""
    h, w = lr.shape[-2:]
    return net(lr, centres(size[0], h), centres(size[1], w), (h / size[0], w / size[1]))


def _stack(pairs: list[Any]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    # Random transposes turn an H x W per-axis crop into W x H: transpose those back.
    shape = pairs[0].hr.shape[-2:]
    fit = [(p.hr, p.lr, p.valid) if p.hr.shape[-2:] == shape else
           (p.hr.transpose(-1, -2), p.lr.transpose(-1, -2), p.valid.transpose(-1, -2))
           for p in pairs]
    return (torch.stack([f[0] for f in fit]), torch.stack([f[1] for f in fit]),
            torch.stack([f[2] for f in fit])[:, None].float())


def _psnr(sr: torch.Tensor, hr: torch.Tensor, valid: torch.Tensor, shave: int) -> float:
    s = (slice(None), slice(None), slice(shave, -shave or None), slice(shave, -shave or None))
    v = valid[s]
    mse = ((sr.clamp(0, 1) - hr)[s].pow(2) * v).sum() / v.sum().clamp_min(1)
    return float(10 * torch.log10(1 / mse.clamp_min(1e-12)))


@torch.no_grad()
def validate(net: FastSRNet, pairs: list[Any]) -> dict[str, float]:
    """Mean PSNR of the model and of cubic resampling (the model's base) on ``pairs``."""
    net.eval()
    model = base = 0.0
    for p in pairs:
        hr, lr, valid = _stack([p])
        size = tuple(hr.shape[-2:])
        shave = math.ceil(max(p.scale))
        model += _psnr(render(net, lr, size), hr, valid, shave)
        h, w = lr.shape[-2:]
        base += _psnr(resample(lr, centres(size[0], h), centres(size[1], w), "cubic"), hr,
                      valid, shave)
    n = max(len(pairs), 1)
    return {"val_psnr": model / n, "val_psnr_cubic": base / n, "val_gain": (model - base) / n}


@dataclass
class RunState:
    """Everything an interrupted run needs to continue exactly."""

    net: FastSRNet
    opt: torch.optim.Optimizer
    step: int = 0
    best: float = -math.inf
    history: list[dict[str, Any]] = field(default_factory=list)

    def save(self, path: Path, sampler: Any) -> None:
        tmp = path.with_suffix(".tmp")
        torch.save({"net": self.net.state_dict(), "opt": self.opt.state_dict(),
                    "sampler": sampler.state(), "torch_rng": torch.get_rng_state(),
                    "step": self.step, "best": self.best, "history": self.history,
                    "args": dict(self.net.args)}, tmp)
        tmp.replace(path)

    def restore(self, path: str | Path, sampler: Any) -> None:
        st = torch.load(path, map_location="cpu", weights_only=False)
        if dict(st.get("args", {})) != dict(self.net.args):
            raise ParameterError(f"'{path}' was written for other model settings: resume with "
                                 "the config it was started with")
        self.net.load_state_dict(st["net"])
        self.opt.load_state_dict(st["opt"])
        sampler.set_state(st["sampler"])
        torch.set_rng_state(st["torch_rng"])
        self.step, self.best, self.history = int(st["step"]), float(st["best"]), st["history"]


def _data(cfg: dict[str, Any]) -> tuple[Any, list[Any]]:
    from engine.train.data import PairSampler, load_sources, validation_pairs

    mask = bool(cfg["mask_zero"])
    sources = load_sources(cfg["data"], holdout=0.0 if cfg.get("val") else float(cfg["holdout"]),
                           bands=cfg["bands"], mask_zero=mask)
    val_sources = (load_sources(cfg["val"], holdout=0.5, bands=cfg["bands"], mask_zero=mask)
                   if cfg.get("val") else sources)
    sampler = PairSampler(sources, lr_patch=int(cfg["lr_patch"]),
                          scale_range=(float(cfg["scale_min"]), float(cfg["scale_max"])),
                          channels=1, seed=int(cfg["seed"]),
                          max_invalid=float(cfg["max_invalid"]),
                          per_axis=float(cfg.get("per_axis") or 0.0))
    val = validation_pairs(val_sources, lr_patch=int(cfg["val_patch"]),
                           scales=[s if isinstance(s, (int, float)) else tuple(s)
                                   for s in cfg["val_scales"]],
                           per_source=int(cfg["val_per_source"]), channels=1,
                           max_invalid=float(cfg["max_invalid"]))
    return sampler, val


def _learning_rate(cfg: dict[str, Any], step: int, total: int) -> float:
    peak, low = float(cfg["lr"]), float(cfg["lr_min"])
    if cfg["schedule"] == "constant":
        return peak
    return low + 0.5 * (peak - low) * (1 + math.cos(math.pi * min(step / max(total, 1), 1.0)))


def train(config: Mapping[str, Any] | str | Path,
          progress: ProgressCallback = ignore) -> Path:
    """Train (or resume) the ``fast`` model; returns the path of the best checkpoint."""
    cfg = _config(config)
    torch.manual_seed(int(cfg["seed"]))
    if cfg.get("threads"):
        torch.set_num_threads(int(cfg["threads"]))
    out = Path(cfg["out"])
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(json.dumps(cfg, indent=2, default=str), encoding="utf-8")
    sampler, val = _data(cfg)
    net = FastSRNet(**dict(cfg["model"] or {}))
    state = RunState(net, torch.optim.Adam(net.parameters(), lr=float(cfg["lr"])))
    if cfg.get("resume"):
        state.restore(cfg["resume"], sampler)
        progress(Log(f"resumed at step {state.step}"))
    total = int(cfg["epochs"]) * int(cfg["iters_per_epoch"])
    budget = float(cfg["time_limit_min"]) * 60 if cfg.get("time_limit_min") else math.inf
    start, best_path = time.perf_counter(), out / "fast-best.pth"
    while state.step < total:
        state.step += 1
        net.train()
        for group in state.opt.param_groups:
            group["lr"] = _learning_rate(cfg, state.step - 1, total)
        hr, lr, valid = _stack(sampler.batch(int(cfg["batch_size"]), same_scale=True))
        loss = ((render(net, lr, tuple(hr.shape[-2:])) - hr).abs() * valid).sum() / \
            valid.sum().clamp_min(1)
        state.opt.zero_grad(set_to_none=True)
        loss.backward()
        state.opt.step()
        elapsed = time.perf_counter() - start
        if state.step % 50 == 0:
            progress(Metric("loss", float(loss.detach()), state.step))
            progress(Progress(min(max(state.step / total, elapsed / budget), 1.0),
                              f"step {state.step}/{total}"))
        last = state.step == total or elapsed >= budget
        if state.step % int(cfg["iters_per_epoch"]) == 0 or last:
            scores = validate(net, val)
            for key, value in scores.items():
                progress(Metric(key, value, state.step))
            state.history.append({"step": state.step, "loss": float(loss.detach()), **scores,
                                  "minutes": elapsed / 60})
            (out / "history.json").write_text(json.dumps(state.history, indent=1),
                                              encoding="utf-8")
            ck = make_checkpoint(net, step=state.step, val_psnr=scores["val_psnr"],
                                 config=json.loads(json.dumps(cfg, default=str)))
            torch.save(ck, out / "fast-last.pth")
            if scores["val_psnr"] > state.best:
                state.best = scores["val_psnr"]
                torch.save(ck, best_path)
                progress(Log(f"step {state.step}: validation PSNR {state.best:.3f} dB "
                             f"({scores['val_gain']:+.3f} dB over cubic, best)"))
            state.save(out / "fast-state.pth", sampler)
        if last:
            break
    return best_path


__all__ = ["DEFAULTS", "render", "train", "validate"]
