"""Training MoE-DiffSR on the user's rasters (DDPM objective + MoE auxiliary losses).

``python -m engine train --family moe --data A.tif ... [--config moe-wv3]`` lands here through
``engine/commands/train.py``. The config is the common training dict of
:mod:`engine.train.config` (``data``, ``val``, ``out``, ``seed``, ``device``, ``threads``,
``epochs`` x ``iters_per_epoch`` optimiser steps, ``batch_size``, ``lr_patch``, ``scale_min`` /
``scale_max``, ``holdout``, ``val_patch``, ``val_scales``, ``val_per_source``, ``lr``,
``lr_min``, ``schedule``, ``warmup_iters``, ``grad_clip``, ``init``, ``time_limit_min``, ...)
plus the MoE keys below (see :data:`DEFAULTS`)::

    ema: 0.995                   # EMA decay of the weights that are saved for inference
    balance_weight: 0.01         # Switch-style load-balancing loss weight
    z_weight: 0.001              # router z-loss weight
    model: {channels: [32, 48], num_experts: 8, top_k: 2, patch: 8, ...}   # MoEDiffSRNet args
    scheduler: {num_train_timesteps: 1000, beta_schedule: cosine, prediction_type: v}

Objective: ``x_0 = (hr - up(lr)) * residual_scale`` in the [-1, 1] domain, ``t ~ U{0..T-1}``,
``x_t = add_noise(x_0, eps, t)``, loss = masked MSE(net(x_t, t, up, lr, s), target) with the target
``v`` (or ``eps``), plus ``balance_weight * balance + z_weight * z``. Nodata pixels of the HR crop
(``Pair.valid``) are left out of the loss. Validation (after every epoch) is the same loss of the
EMA weights on fixed hold-out pairs with fixed noise and timesteps, so it is comparable between
epochs; expert usage (fraction of assignments per expert and block) is logged with it in
``history.json``.

Output: ``out/moe-best.pth`` (lowest validation loss, EMA weights) and ``out/moe-last.pth`` in
the layout of :func:`engine.models.moe.support.make_checkpoint`; the function returns the best.
Resuming an interrupted run is not supported for this family: fine-tune with ``init`` instead.
"""

from __future__ import annotations

import copy
import json
import math
import time
from pathlib import Path
from typing import Any, Mapping

import torch
import torch.nn.functional as F

from engine.errors import ParameterError
from engine.models.moe.denoiser import MoEDiffSRNet
from engine.models.moe.support import DEFAULT_SCHEDULER, detect, make_checkpoint
from engine.progress import Log, Metric, Progress, ProgressCallback, ignore
from engine.schedulers.ddim import DDIMScheduler

DEFAULTS: dict[str, Any] = {
    "family": "moe", "out": "build/train/moe", "lr_patch": 24, "batch_size": 8,
    "scale_min": 1.5, "scale_max": 4.0, "epochs": 100, "iters_per_epoch": 200,
    "lr": 4e-4, "lr_min": 1e-5, "schedule": "constant", "grad_clip": 1.0, "threads": 1,
    "val_patch": 24, "val_scales": [1.5, 2.75, 4.0], "val_per_source": 3, "max_invalid": 0.05,
    "mask_zero": True, "time_limit_min": 30.0,
    "ema": 0.995, "balance_weight": 0.01, "z_weight": 1e-3,
    "model": {"channels": [32, 48]}, "scheduler": dict(DEFAULT_SCHEDULER),
}


def _config(config: Mapping[str, Any] | str | Path) -> dict[str, Any]:
    from engine.train import config as cfgmod

    if isinstance(config, (str, Path)):
        config = cfgmod.load_yaml(config)
    cfg = cfgmod.merge(DEFAULTS, dict(config))
    if not cfg.get("data"):
        raise ParameterError("the MoE training config needs 'data': a list of raster files")
    if cfg.get("resume"):
        raise ParameterError("resuming is not supported for the moe family: pass the last "
                             "checkpoint with --init to fine-tune from it")
    if cfg.get("channels", 1) != 1:
        raise ParameterError("MoE-DiffSR is a band-wise model: use channels 1")
    return cfg


def _lr_at(cfg: dict[str, Any], step: int, total: int) -> float:
    peak, low = float(cfg["lr"]), float(cfg["lr_min"])
    warm = int(cfg.get("warmup_iters") or 0)
    if step < warm:
        return peak * (step + 1) / warm
    if cfg["schedule"] == "constant":
        return peak
    frac = (step - warm) / max(total - warm, 1)
    return low + 0.5 * (peak - low) * (1 + math.cos(math.pi * min(frac, 1.0)))


def _stack(pairs: list[Any]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    hr = torch.stack([p.hr for p in pairs]) * 2 - 1
    lr = torch.stack([p.lr for p in pairs]) * 2 - 1
    valid = torch.stack([p.valid for p in pairs])[:, None].float()
    return hr, lr, valid


def diffusion_loss(net: MoEDiffSRNet, scheduler: DDIMScheduler, hr: torch.Tensor,
                   lr: torch.Tensor, valid: torch.Tensor, t: torch.Tensor,
                   noise: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Masked DDPM loss of one batch plus the MoE auxiliary terms (unweighted).

    Args:
        hr: (B, C, H, W) in [-1, 1]; lr: (B, C, h, w) in [-1, 1]; valid: (B, 1, H, W) 0/1;
        t: (B,) int64; noise: like ``hr``.
    """
    size = hr.shape[-2:]
    up = F.interpolate(lr, size=size, mode="bicubic", align_corners=False)
    x0 = (hr - up) * net.residual_scale
    x_t = scheduler.add_noise(x0, noise, t)
    scale = torch.full((hr.shape[0],), (size[0] / lr.shape[-2] + size[1] / lr.shape[-1]) / 2)
    pred = net(x_t, t, up, lr, scale.to(hr.device))
    target = scheduler.training_target(x0, noise, t)
    err = (pred - target).pow(2) * valid
    mse = err.sum() / (valid.sum() * hr.shape[1]).clamp_min(1)
    return mse, net.aux_losses()


def train(config: Mapping[str, Any] | str | Path,
          progress: ProgressCallback = ignore) -> Path:
    """Train (or fine-tune) MoE-DiffSR; returns the path of the best checkpoint."""
    from engine.device import resolve_device
    from engine.train.data import PairSampler, load_sources, validation_pairs

    cfg = _config(config)
    torch.manual_seed(int(cfg["seed"]))
    if cfg.get("threads"):
        torch.set_num_threads(int(cfg["threads"]))
    device = resolve_device(cfg.get("device") or "auto")
    out = Path(cfg["out"])
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(json.dumps(cfg, indent=2, default=str), encoding="utf-8")
    sources = load_sources(cfg["data"], holdout=0.0 if cfg.get("val") else float(cfg["holdout"]),
                           bands=cfg["bands"], mask_zero=bool(cfg["mask_zero"]))
    val_sources = (load_sources(cfg["val"], holdout=0.5, bands=cfg["bands"],
                                mask_zero=bool(cfg["mask_zero"])) if cfg.get("val") else sources)
    sampler = PairSampler(sources, lr_patch=int(cfg["lr_patch"]),
                          scale_range=(float(cfg["scale_min"]), float(cfg["scale_max"])),
                          channels=1, seed=int(cfg["seed"]),
                          max_invalid=float(cfg["max_invalid"]),
                          scale_weights=_scale_weights(cfg.get("scale_weights")))
    val = validation_pairs(val_sources, lr_patch=int(cfg["val_patch"]),
                           scales=tuple(float(s) for s in cfg["val_scales"]),
                           per_source=int(cfg["val_per_source"]), channels=1,
                           max_invalid=float(cfg["max_invalid"]))
    sched = DDIMScheduler(**{**DEFAULT_SCHEDULER, **dict(cfg["scheduler"] or {})})
    if cfg.get("init"):
        from engine.models.checkpoints import read_checkpoint

        ck = read_checkpoint(cfg["init"])
        if not detect(ck):
            raise ParameterError(f"init checkpoint '{cfg['init']}' is not a MoE-DiffSR "
                                 "checkpoint: give a moe-*.pth written by this trainer")
        net = MoEDiffSRNet(**ck["model"]["args"])
        net.load_state_dict(ck["model"]["sd"])
    else:
        net = MoEDiffSRNet(**dict(cfg["model"] or {}))
    net.to(device)
    ema = copy.deepcopy(net).eval()
    for p in ema.parameters():
        p.requires_grad_(False)
    opt = torch.optim.AdamW(net.parameters(), lr=float(cfg["lr"]), weight_decay=0.0)
    gen = torch.Generator().manual_seed(int(cfg["seed"]))
    # Fixed validation noise and timesteps: the validation loss is comparable across epochs.
    val_gen = torch.Generator().manual_seed(12345)
    val_items = [(_stack([p]), sched.sample_timesteps(1, generator=val_gen)) for p in val]
    val_noise = [torch.randn(v[0][0].shape, generator=val_gen) for v in val_items]
    per_epoch = int(cfg["iters_per_epoch"])
    iterations = int(cfg["epochs"]) * per_epoch
    budget = float(cfg["time_limit_min"]) * 60 if cfg.get("time_limit_min") else math.inf
    bw, zw = float(cfg["balance_weight"]), float(cfg["z_weight"])
    clip = cfg.get("grad_clip")
    start, best, best_path = time.perf_counter(), math.inf, out / "moe-best.pth"
    usage_sum, usage_n = None, 0
    history: list[dict[str, Any]] = []

    def validate() -> float:
        total = 0.0
        with torch.no_grad():
            for ((hr, lr, valid), t), noise in zip(val_items, val_noise):
                mse, _ = diffusion_loss(ema, sched, hr.to(device), lr.to(device),
                                        valid.to(device), t.to(device), noise.to(device))
                total += float(mse)
        return total / max(len(val_items), 1)

    for step in range(1, iterations + 1):
        net.train()
        for group in opt.param_groups:
            group["lr"] = _lr_at(cfg, step - 1, iterations)
        hr, lr, valid = (x.to(device) for x in _stack(sampler.batch(int(cfg["batch_size"]),
                                                                    same_scale=True)))
        t = sched.sample_timesteps(hr.shape[0], generator=gen).to(device)
        noise = torch.randn(hr.shape, generator=gen).to(device)
        mse, aux = diffusion_loss(net, sched, hr, lr, valid, t, noise)
        loss = mse + bw * aux["balance"] + zw * aux["z"]
        if not torch.isfinite(loss):
            raise ParameterError(f"the training loss became {float(loss)} at step {step}: lower "
                                 "the learning rate (--lr)")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if clip:
            torch.nn.utils.clip_grad_norm_(net.parameters(), float(clip))
        opt.step()
        decay = min(float(cfg["ema"]), (1 + step) / (10 + step))  # EMA warm-up
        with torch.no_grad():
            for pe, pn in zip(ema.parameters(), net.parameters()):
                pe.lerp_(pn, 1 - decay)
            for be, bn in zip(ema.buffers(), net.buffers()):
                be.copy_(bn)
        usage = net.expert_usage().detach().cpu()
        usage_sum = usage if usage_sum is None else usage_sum + usage
        usage_n += 1
        elapsed = time.perf_counter() - start
        if step % 20 == 0:
            progress(Metric("loss", float(mse.detach()), step))
            progress(Metric("balance", float(aux["balance"].detach()), step))
            progress(Progress(min(max(step / iterations, elapsed / budget), 1.0),
                              f"step {step}/{iterations}"))
        last = step == iterations or elapsed >= budget
        if step % per_epoch == 0 or last:
            v = validate()
            progress(Metric("val_loss", v, step))
            mean_usage = (usage_sum / max(usage_n, 1)).tolist() if usage_sum is not None else []
            usage_sum, usage_n = None, 0
            history.append({"step": step, "loss": float(mse.detach()), "val_loss": v,
                            "balance": float(aux["balance"].detach()),
                            "z": float(aux["z"].detach()), "minutes": elapsed / 60,
                            "usage": mean_usage})
            (out / "history.json").write_text(json.dumps(history, indent=1), encoding="utf-8")
            ck = make_checkpoint(ema, sched, step=step, val_loss=v, config=_jsonable(cfg))
            torch.save(ck, out / "moe-last.pth")
            if v < best:
                best = v
                torch.save(ck, best_path)
                progress(Log(f"step {step}: validation loss {v:.4f} (best)"))
        if last:
            if elapsed >= budget and step < iterations:
                progress(Log(f"time limit reached after {step} steps; best checkpoint kept",
                             "warning"))
            break
    return best_path


def _scale_weights(spec: Any) -> dict[tuple[float, float], float] | None:
    if not spec:
        return None
    if isinstance(spec, dict):
        return {tuple(k): float(v) for k, v in spec.items()}  # type: ignore[misc]
    return {(float(lo), float(hi)): float(w) for lo, hi, w in spec}


def _jsonable(cfg: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(cfg, default=str))


__all__ = ["DEFAULTS", "diffusion_loss", "train"]
