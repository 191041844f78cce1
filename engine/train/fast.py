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

from engine.models.fast.checkpoint import make_checkpoint
from engine.models.fast.network import FastSRNet
from engine.models.fast.resample import centres, resample
from engine.progress import Log, Metric, Progress, ProgressCallback, ignore
from engine.train.common import jsonable, load_state, psnr, save_state, start_run
from engine.train.config import band_wise, learning_rate
from engine.train.data import band_wise_data, stack_pairs

DEFAULTS: dict[str, Any] = {
    "family": "fast", "out": "build/train/fast", "lr_patch": 32, "batch_size": 32,
    "scale_min": 1.1, "scale_max": 4.0, "per_axis": 0.5, "epochs": 40,
    "iters_per_epoch": 500, "lr": 2e-3, "lr_min": 2e-5, "schedule": "cosine",
    "threads": 1, "val_patch": 48, "val_scales": [2.0, 3.0, 4.0, [1.5, 4.0]],
    "val_per_source": 4, "max_invalid": 0.05, "mask_zero": True,
    "model": {"channels": 16, "layers": 3, "features": 4, "hidden": 16},
}


def render(net: FastSRNet, lr: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """The network on a batch (B, 1, h, w) at the HR size, the way the pipeline calls it."""
    h, w = lr.shape[-2:]
    return net(lr, centres(size[0], h), centres(size[1], w), (h / size[0], w / size[1]))


@torch.no_grad()
def validate(net: FastSRNet, pairs: list[Any]) -> dict[str, float]:
    """Mean PSNR of the model and of cubic resampling (the model's base) on ``pairs``."""
    net.eval()
    model = base = 0.0
    for p in pairs:
        device = next(net.parameters()).device
        hr, lr, valid = (t.to(device) for t in stack_pairs([p]))
        size = tuple(hr.shape[-2:])
        shave = math.ceil(max(p.scale))
        mask = valid[0, 0] > 0.5
        model += psnr(render(net, lr, size), hr, shave, mask)
        h, w = lr.shape[-2:]
        base += psnr(resample(lr, centres(size[0], h), centres(size[1], w), "cubic"), hr,
                     shave, mask)
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
        save_state(path, {"net": self.net.state_dict(), "opt": self.opt.state_dict(),
                          "sampler": sampler.state(), "torch_rng": torch.get_rng_state(),
                          "step": self.step, "best": self.best, "history": self.history,
                          "args": dict(self.net.args)})

    def restore(self, path: str | Path, sampler: Any) -> None:
        st = load_state(path, self.net.args)
        self.net.load_state_dict(st["net"])
        self.opt.load_state_dict(st["opt"])
        sampler.set_state(st["sampler"])
        torch.set_rng_state(st["torch_rng"])
        self.step, self.best, self.history = int(st["step"]), float(st["best"]), st["history"]


def train(config: Mapping[str, Any] | str | Path,
          progress: ProgressCallback = ignore) -> Path:
    """Train (or resume) the ``fast`` model; returns the path of the best checkpoint."""
    cfg = band_wise(DEFAULTS, config, "fast")
    device, _seed, out = start_run(cfg)
    (out / "config.json").write_text(json.dumps(cfg, indent=2, default=str), encoding="utf-8")
    sampler, val = band_wise_data(cfg)
    net = FastSRNet(**dict(cfg["model"] or {})).to(device)
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
            group["lr"] = learning_rate(cfg, state.step - 1, total)
        hr, lr, valid = (t.to(device) for t in stack_pairs(
            sampler.batch(int(cfg["batch_size"]), same_scale=True)))
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
                                 config=jsonable(cfg))
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
