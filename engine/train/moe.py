"""Training MoE-DiffSR on the user's rasters (DDPM objective + MoE auxiliary losses).

``python -m engine train --family moe --data A.tif ... [--config moe-wv3]`` lands here through
``engine/commands/train.py``. The config is the common training dict of
:mod:`engine.train.config` (``data``, ``val``, ``out``, ``seed``, ``device``, ``threads``,
``epochs`` x ``iters_per_epoch`` optimiser steps, ``batch_size``, ``lr_patch``, ``scale_min`` /
``scale_max``, ``per_axis``, ``holdout``, ``val_patch``, ``val_scales``, ``val_per_source``,
``lr``, ``lr_min``, ``schedule``, ``warmup_iters``, ``grad_clip``, ``init``, ``resume``,
``time_limit_min``, ...) plus the MoE keys below (see :data:`DEFAULTS`)::

    base: lmlte-default          # the model whose output is refined (name or checkpoint path);
                                 # null: bicubic upsampling (the first generation of weights)
    ema: 0.995                   # EMA decay of the weights that are saved for inference
    balance_weight: 0.01         # Switch-style load-balancing loss weight
    z_weight: 0.001              # router z-loss weight
    model: {channels: [32, 48], num_experts: 8, top_k: 2, patch: 8, ...}   # MoEDiffSRNet args
    scheduler: {num_train_timesteps: 1000, beta_schedule: cosine, prediction_type: v}

Objective: ``x_0 = (hr - up) * residual_scale`` in the [-1, 1] domain, where ``up`` is the
base model's output for the LR crop at the HR size; ``t ~ U{0..T-1}``,
``x_t = add_noise(x_0, eps, t)``, loss = masked MSE(net(x_t, t, up, lr, s), target) with the target
``v`` (or ``eps``), plus ``balance_weight * balance + z_weight * z``. Nodata pixels of the HR crop
(``Pair.valid``) are left out of the loss. Validation (after every epoch) is the same loss of the
EMA weights on fixed hold-out pairs with fixed noise and timesteps, so it is comparable between
epochs, plus the PSNR of deterministic (temperature 0) samples against the base's PSNR; expert
usage is logged with it in ``history.json``.

Output: ``out/moe-best.pth`` (lowest validation loss, EMA weights) and ``out/moe-last.pth`` in
the layout of :func:`engine.models.moe.checkpoint.make_checkpoint` (the base model embedded);
``out/moe-state.pth`` holds what ``--resume out/moe-state.pth`` needs to continue the run
exactly (weights, EMA, optimiser, step, random states, history). The function returns the best.
"""

from __future__ import annotations

import copy
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import torch

from engine.errors import ParameterError
from engine.models.moe.checkpoint import (DEFAULT_SCHEDULER, base_upsample, detect,
                                          make_checkpoint)
from engine.models.moe.network import MoEDiffSRNet
from engine.models.moe.sampler import sample
from engine.models.sr_model import SRModel
from engine.progress import Log, Metric, Progress, ProgressCallback, ignore
from engine.schedulers.ddim import DDIMScheduler
from engine.train.common import jsonable, load_state, psnr, save_state, start_run
from engine.train.config import band_wise, learning_rate
from engine.train.data import band_wise_data, stack_pairs

DEFAULTS: dict[str, Any] = {
    "family": "moe", "out": "build/train/moe", "lr_patch": 24, "batch_size": 8,
    "scale_min": 1.5, "scale_max": 4.0, "epochs": 100, "iters_per_epoch": 200,
    "lr": 4e-4, "lr_min": 1e-5, "schedule": "constant", "grad_clip": 1.0, "threads": 1,
    "val_patch": 24, "val_scales": [1.5, 2.75, 4.0], "val_per_source": 3, "max_invalid": 0.05,
    "mask_zero": True, "time_limit_min": 30.0, "base": None, "val_steps": 8,
    "ema": 0.995, "balance_weight": 0.01, "z_weight": 1e-3,
    "model": {"channels": [32, 48]}, "scheduler": dict(DEFAULT_SCHEDULER),
}


@dataclass
class Batch:
    """One stacked batch in the [-1, 1] domain, with the base upsampling the model refines."""

    hr: torch.Tensor      # (B, 1, H, W)
    lr: torch.Tensor      # (B, 1, h, w)
    up: torch.Tensor      # (B, 1, H, W)
    valid: torch.Tensor   # (B, 1, H, W) 0/1

    @classmethod
    def of(cls, pairs: list[Any], base: SRModel | None, device: torch.device) -> Batch:
        hr, lr, valid = (t.to(device) for t in stack_pairs(pairs))
        hr, lr = hr * 2 - 1, lr * 2 - 1
        return cls(hr, lr, base_upsample(base, lr, tuple(hr.shape[-2:])), valid)

    @property
    def scale(self) -> torch.Tensor:
        (h, w), (H, W) = self.lr.shape[-2:], self.hr.shape[-2:]
        return torch.full((self.hr.shape[0],), (H / h + W / w) / 2, device=self.hr.device)


def diffusion_loss(net: MoEDiffSRNet, scheduler: DDIMScheduler, batch: Batch, t: torch.Tensor,
                   noise: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Masked DDPM loss of one batch plus the MoE auxiliary terms (unweighted).

    Args:
        t: (B,) int64 timesteps; noise: like ``batch.hr``.
    """
    x0 = (batch.hr - batch.up) * net.residual_scale
    x_t = scheduler.add_noise(x0, noise, t)
    pred = net(x_t, t, batch.up, batch.lr, batch.scale)
    target = scheduler.training_target(x0, noise, t)
    err = (pred - target).pow(2) * batch.valid
    mse = err.sum() / (batch.valid.sum() * batch.hr.shape[1]).clamp_min(1)
    return mse, net.aux_losses()


def _psnr(a: torch.Tensor, b: torch.Tensor, valid: torch.Tensor) -> float:
    """PSNR in dB of [-1, 1] images over valid pixels, on the [0, 1] scale."""
    return psnr((a + 1) / 2, (b + 1) / 2, 0, valid > 0.5)


@dataclass
class Validation:
    """Fixed hold-out batches, noise and timesteps: numbers comparable across epochs."""

    items: list[tuple[Batch, torch.Tensor, torch.Tensor]]
    steps: int

    @classmethod
    def of(cls, pairs: list[Any], scheduler: DDIMScheduler, base: SRModel | None,
           device: torch.device, steps: int) -> Validation:
        gen = torch.Generator().manual_seed(12345)
        items = []
        for p in pairs:
            batch = Batch.of([p], base, device)
            t = scheduler.sample_timesteps(1, generator=gen).to(device)
            items.append((batch, t, torch.randn(batch.hr.shape, generator=gen).to(device)))
        return cls(items, steps)

    @torch.no_grad()
    def __call__(self, net: MoEDiffSRNet, scheduler: DDIMScheduler) -> dict[str, float]:
        loss = psnr_t0 = psnr_base = 0.0
        for batch, t, noise in self.items:
            mse, _ = diffusion_loss(net, scheduler, batch, t, noise)
            loss += float(mse)
            out = sample(net, scheduler, batch.lr, batch.up, steps=self.steps, temperature=0.0)
            psnr_t0 += _psnr(out, batch.hr, batch.valid)
            psnr_base += _psnr(batch.up, batch.hr, batch.valid)
        n = max(len(self.items), 1)
        return {"val_loss": loss / n, "val_psnr_t0": psnr_t0 / n, "val_psnr_base": psnr_base / n}


@dataclass
class RunState:
    """Everything an interrupted run needs to continue exactly."""

    net: MoEDiffSRNet
    ema: MoEDiffSRNet
    opt: torch.optim.Optimizer
    gen: torch.Generator
    step: int = 0
    best: float = math.inf
    history: list[dict[str, Any]] = field(default_factory=list)

    def save(self, path: Path, sampler: Any) -> None:
        save_state(path, {"net": self.net.state_dict(), "ema": self.ema.state_dict(),
                          "opt": self.opt.state_dict(), "gen": self.gen.get_state(),
                          "sampler": sampler.state(), "step": self.step, "best": self.best,
                          "history": self.history, "args": dict(self.net.args)})

    def restore(self, path: str | Path, sampler: Any) -> None:
        st = load_state(path, self.net.args)
        self.net.load_state_dict(st["net"])
        self.ema.load_state_dict(st["ema"])
        self.opt.load_state_dict(st["opt"])
        self.gen.set_state(st["gen"])
        sampler.set_state(st["sampler"])
        self.step, self.best, self.history = int(st["step"]), float(st["best"]), st["history"]


def _load_base(spec: str | None, device: torch.device) -> tuple[SRModel | None, dict | None]:
    """The base model and its ``{"family", "checkpoint"}`` entry for the saved checkpoints."""
    if not spec:
        return None, None
    from engine.models.checkpoints import read_checkpoint
    from engine.models.registry import find_card, load_model

    model = load_model(spec, device)
    card = find_card(spec)
    path = card.file if card is not None else Path(spec)
    return model, {"family": model.family, "checkpoint": read_checkpoint(path)}


def _network(cfg: dict[str, Any]) -> MoEDiffSRNet:
    if not cfg.get("init"):
        return MoEDiffSRNet(**dict(cfg["model"] or {}))
    from engine.models.checkpoints import read_checkpoint

    ck = read_checkpoint(cfg["init"])
    if not detect(ck):
        raise ParameterError(f"init checkpoint '{cfg['init']}' is not a MoE-DiffSR checkpoint: "
                             "give a moe-*.pth written by this trainer")
    net = MoEDiffSRNet(**ck["model"]["args"])
    net.load_state_dict(ck["model"]["sd"])
    return net


def _train_step(state: RunState, cfg: dict[str, Any], sched: DDIMScheduler, batch: Batch,
                total: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """One optimiser step and the EMA update; returns the loss terms."""
    net, opt = state.net, state.opt
    net.train()
    for group in opt.param_groups:
        group["lr"] = learning_rate(cfg, state.step - 1, total)
    t = sched.sample_timesteps(batch.hr.shape[0], generator=state.gen).to(batch.hr.device)
    noise = torch.randn(batch.hr.shape, generator=state.gen).to(batch.hr.device)
    mse, aux = diffusion_loss(net, sched, batch, t, noise)
    loss = mse + float(cfg["balance_weight"]) * aux["balance"] + float(cfg["z_weight"]) * aux["z"]
    if not torch.isfinite(loss):
        raise ParameterError(f"the training loss became {float(loss)} at step {state.step}: "
                             "lower the learning rate (--lr)")
    opt.zero_grad(set_to_none=True)
    loss.backward()
    if cfg.get("grad_clip"):
        torch.nn.utils.clip_grad_norm_(net.parameters(), float(cfg["grad_clip"]))
    opt.step()
    decay = min(float(cfg["ema"]), (1 + state.step) / (10 + state.step))  # EMA warm-up
    with torch.no_grad():
        for pe, pn in zip(state.ema.parameters(), net.parameters()):
            pe.lerp_(pn, 1 - decay)
        for be, bn in zip(state.ema.buffers(), net.buffers()):
            be.copy_(bn)
    return mse, aux


def _setup(cfg: dict[str, Any], device: torch.device, progress: ProgressCallback
           ) -> tuple[RunState, Any, DDIMScheduler, SRModel | None, dict | None, Validation]:
    """Base model, data, scheduler, network, EMA and optimiser, resumed when asked."""
    base, base_entry = _load_base(cfg.get("base"), device)
    sampler, val_pairs = band_wise_data(cfg)
    sched = DDIMScheduler(**{**DEFAULT_SCHEDULER, **dict(cfg["scheduler"] or {})})
    net = _network(cfg).to(device)
    ema = copy.deepcopy(net).eval()
    for p in ema.parameters():
        p.requires_grad_(False)
    state = RunState(net, ema, torch.optim.AdamW(net.parameters(), lr=float(cfg["lr"]),
                                                 weight_decay=0.0),
                     torch.Generator().manual_seed(int(cfg["seed"])))
    if cfg.get("resume"):
        state.restore(cfg["resume"], sampler)
        progress(Log(f"resumed at step {state.step}"))
    validate = Validation.of(val_pairs, sched, base, device, int(cfg["val_steps"]))
    return state, sampler, sched, base, base_entry, validate


@dataclass
class _Usage:
    """Expert usage summed between validations."""

    total: torch.Tensor | None = None
    count: int = 0

    def add(self, net: MoEDiffSRNet) -> None:
        usage = net.expert_usage().detach().cpu()
        self.total = usage if self.total is None else self.total + usage
        self.count += 1

    def take(self) -> list:
        mean = (self.total / max(self.count, 1)).tolist() if self.total is not None else []
        self.total, self.count = None, 0
        return mean


def _end_of_epoch(state: RunState, cfg: dict[str, Any], out: Path, sched: DDIMScheduler,
                  base_entry: dict | None, validate: Validation, sampler: Any,
                  record: dict[str, Any], progress: ProgressCallback) -> None:
    """Validate the EMA weights, log, write moe-last/-best and the resume state."""
    scores = validate(state.ema, sched)
    for key, value in scores.items():
        progress(Metric(key, value, state.step))
    state.history.append({"step": state.step, **record, **scores})
    (out / "history.json").write_text(json.dumps(state.history, indent=1), encoding="utf-8")
    ck = make_checkpoint(state.ema, sched, base=base_entry, step=state.step,
                         val_loss=scores["val_loss"], config=jsonable(cfg))
    torch.save(ck, out / "moe-last.pth")
    if scores["val_loss"] < state.best:
        state.best = scores["val_loss"]
        torch.save(ck, out / "moe-best.pth")
        progress(Log(f"step {state.step}: validation loss {state.best:.4f} (best)"))
    state.save(out / "moe-state.pth", sampler)


def train(config: Mapping[str, Any] | str | Path,
          progress: ProgressCallback = ignore) -> Path:
    """Train (or fine-tune, or resume) MoE-DiffSR; returns the path of the best checkpoint."""
    cfg = band_wise(DEFAULTS, config, "MoE-DiffSR")
    device, _seed, out = start_run(cfg)
    (out / "config.json").write_text(json.dumps(cfg, indent=2, default=str), encoding="utf-8")
    state, sampler, sched, base, base_entry, validate = _setup(cfg, device, progress)
    per_epoch = int(cfg["iters_per_epoch"])
    total = int(cfg["epochs"]) * per_epoch
    budget = float(cfg["time_limit_min"]) * 60 if cfg.get("time_limit_min") else math.inf
    start, usage = time.perf_counter(), _Usage()
    while state.step < total:
        state.step += 1
        step = state.step
        batch = Batch.of(sampler.batch(int(cfg["batch_size"]), same_scale=True), base, device)
        mse, aux = _train_step(state, cfg, sched, batch, total)
        usage.add(state.net)
        elapsed = time.perf_counter() - start
        if step % 20 == 0:
            progress(Metric("loss", float(mse.detach()), step))
            progress(Metric("balance", float(aux["balance"].detach()), step))
            progress(Progress(min(max(step / total, elapsed / budget), 1.0),
                              f"step {step}/{total}"))
        last = step == total or elapsed >= budget
        if step % per_epoch == 0 or last:
            record = {"loss": float(mse.detach()), "balance": float(aux["balance"].detach()),
                      "z": float(aux["z"].detach()), "minutes": elapsed / 60,
                      "usage": usage.take()}
            _end_of_epoch(state, cfg, out, sched, base_entry, validate, sampler, record,
                          progress)
        if last:
            if elapsed >= budget and step < total:
                progress(Log(f"time limit reached after {step} steps; continue with --resume "
                             f"{out / 'moe-state.pth'}", "warning"))
            break
    return out / "moe-best.pth"


def export_half(src: str | Path, dst: str | Path) -> None:
    """Write a trained checkpoint again with float16 network weights (the file that ships).

    The embedded base model is kept as it is (it is the bundled default model's own file);
    loading casts the weights back to float32.
    """
    ck = torch.load(src, map_location="cpu", weights_only=True)
    sd = ck["model"]["sd"]
    ck["model"]["sd"] = {k: (v.half() if v.is_floating_point() else v) for k, v in sd.items()}
    torch.save(ck, dst)


__all__ = ["DEFAULTS", "diffusion_loss", "export_half", "train"]
