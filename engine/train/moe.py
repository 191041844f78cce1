"""Training MoE-DiffSR on the user's rasters (DDPM objective + MoE auxiliary losses).

Config schema (YAML mapping, every key optional except ``data``)::

    data: [a.tif, b.tif]        # training rasters (any band count / type; band-wise samples)
    out: build/train/moe         # folder for checkpoints and the copied config
    seed: 0
    holdout: 0.1                 # bottom fraction of rows kept for validation
    lr_patch: 24                 # LR crop side; HR side = round(lr_patch * scale)
    scale_range: [1.5, 4.0]
    batch: 8
    iterations: 20000            # optimiser steps ...
    max_minutes: 30              # ... or wall-clock budget, whichever ends first
    learning_rate: 2.0e-4
    ema: 0.995                   # EMA decay of the weights that are saved for inference
    balance_weight: 0.01         # Switch-style load-balancing loss weight
    z_weight: 0.001              # router z-loss weight
    val_every: 200               # steps between validations (fixed pairs, fixed noise and t)
    threads: 1                   # torch CPU threads
    init: null                   # checkpoint to fine-tune from
    model: {channels: [32, 48], num_experts: 8, top_k: 2, patch: 8, ...}   # MoEDiffSRNet args
    scheduler: {num_train_timesteps: 1000, beta_schedule: cosine, prediction_type: v}

Objective: ``x_0 = (hr - up(lr)) * residual_scale`` in the [-1, 1] domain, ``t ~ U{0..T-1}``,
``x_t = add_noise(x_0, eps, t)``, loss = masked MSE(net(x_t, t, up, lr, s), target) with the target
``v`` (or ``eps``), plus ``balance_weight * balance + z_weight * z``. Nodata pixels of the HR crop
(``Pair.valid``) are left out of the loss.

Output: ``out/moe-best.pth`` (lowest validation loss, EMA weights) and ``out/moe-last.pth`` in
the layout of :func:`engine.models.moe.support.make_checkpoint`; the function returns the best.
"""

from __future__ import annotations

import copy
import json
import time
from pathlib import Path
from typing import Any, Mapping

import torch
import torch.nn.functional as F

from engine.errors import ParameterError
from engine.models.moe.denoiser import MoEDiffSRNet
from engine.models.moe.support import DEFAULT_SCHEDULER, make_checkpoint, detect
from engine.progress import Log, Metric, Progress, ProgressCallback, ignore
from engine.schedulers.ddim import DDIMScheduler

DEFAULTS: dict[str, Any] = {
    "out": "build/train/moe", "seed": 0, "holdout": 0.1, "lr_patch": 24,
    "scale_range": [1.5, 4.0], "batch": 8, "iterations": 20000, "max_minutes": 30.0,
    "learning_rate": 2e-4, "ema": 0.995, "balance_weight": 0.01, "z_weight": 1e-3,
    "val_every": 200, "val_pairs": 16, "threads": 1, "init": None,
    "model": {"channels": [32, 48]}, "scheduler": dict(DEFAULT_SCHEDULER), "bands": None,
    "mask_zero": True,
}


def _config(config: Mapping[str, Any] | str | Path) -> dict[str, Any]:
    if isinstance(config, (str, Path)):
        import yaml

        config = yaml.safe_load(Path(config).read_text(encoding="utf-8")) or {}
    cfg = {**DEFAULTS, **dict(config)}
    if not cfg.get("data"):
        raise ParameterError("the MoE training config needs 'data': a list of raster files")
    return cfg


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
    from engine.train.data import PairSampler, load_sources, validation_pairs

    cfg = _config(config)
    torch.manual_seed(int(cfg["seed"]))
    torch.set_num_threads(int(cfg["threads"]))
    out = Path(cfg["out"])
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(json.dumps(cfg, indent=2, default=str), encoding="utf-8")
    sources = load_sources(cfg["data"], holdout=float(cfg["holdout"]), bands=cfg["bands"],
                           mask_zero=bool(cfg["mask_zero"]))
    lo, hi = (float(s) for s in cfg["scale_range"])
    sampler = PairSampler(sources, lr_patch=int(cfg["lr_patch"]), scale_range=(lo, hi),
                          channels=1, seed=int(cfg["seed"]), max_invalid=0.05)
    val_scales = sorted({lo, (lo + hi) / 2, hi})
    val = validation_pairs(sources, lr_patch=int(cfg["lr_patch"]), scales=tuple(val_scales),
                           per_source=max(1, int(cfg["val_pairs"]) // (len(sources) * len(val_scales))),
                           channels=1)
    sched = DDIMScheduler(**{**DEFAULT_SCHEDULER, **dict(cfg["scheduler"] or {})})
    if cfg.get("init"):
        from engine.models.checkpoints import read_checkpoint

        ck = read_checkpoint(cfg["init"])
        if not detect(ck):
            raise ParameterError(f"init checkpoint '{cfg['init']}' is not a MoE-DiffSR checkpoint")
        net = MoEDiffSRNet(**ck["model"]["args"])
        net.load_state_dict(ck["model"]["sd"])
    else:
        net = MoEDiffSRNet(**dict(cfg["model"] or {}))
    ema = copy.deepcopy(net).eval()
    for p in ema.parameters():
        p.requires_grad_(False)
    opt = torch.optim.AdamW(net.parameters(), lr=float(cfg["learning_rate"]), weight_decay=0.0)
    gen = torch.Generator().manual_seed(int(cfg["seed"]))
    # Fixed validation noise and timesteps: the validation loss is comparable across steps.
    val_gen = torch.Generator().manual_seed(12345)
    val_items = [(_stack([p]), sched.sample_timesteps(1, generator=val_gen)) for p in val]
    val_noise = [torch.randn(v[0][0].shape, generator=val_gen) for v in val_items]
    iterations, budget = int(cfg["iterations"]), float(cfg["max_minutes"]) * 60
    bw, zw = float(cfg["balance_weight"]), float(cfg["z_weight"])
    start, best, best_path = time.perf_counter(), float("inf"), out / "moe-best.pth"
    usage_sum = None
    history: list[dict[str, float]] = []

    def validate(step: int) -> float:
        total = 0.0
        with torch.no_grad():
            for ((hr, lr, valid), t), noise in zip(val_items, val_noise):
                mse, _ = diffusion_loss(ema, sched, hr, lr, valid, t, noise)
                total += float(mse)
        return total / max(len(val_items), 1)

    step = 0
    for step in range(1, iterations + 1):
        net.train()
        hr, lr, valid = _stack(sampler.batch(int(cfg["batch"]), same_scale=True))
        t = sched.sample_timesteps(hr.shape[0], generator=gen)
        noise = torch.randn(hr.shape, generator=gen)
        mse, aux = diffusion_loss(net, sched, hr, lr, valid, t, noise)
        loss = mse + bw * aux["balance"] + zw * aux["z"]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
        decay = min(float(cfg["ema"]), (1 + step) / (10 + step))  # warm-up of the EMA
        with torch.no_grad():
            for pe, pn in zip(ema.parameters(), net.parameters()):
                pe.lerp_(pn, 1 - decay)
            for be, bn in zip(ema.buffers(), net.buffers()):
                be.copy_(bn)
        usage = net.expert_usage().detach()
        usage_sum = usage if usage_sum is None else usage_sum + usage
        elapsed = time.perf_counter() - start
        if step % 20 == 0:
            progress(Metric("loss", float(mse.detach()), step))
            progress(Metric("balance", float(aux["balance"].detach()), step))
            progress(Progress(min(step / iterations, elapsed / budget), f"step {step}"))
        last = step == iterations or elapsed >= budget
        if step % int(cfg["val_every"]) == 0 or last:
            v = validate(step)
            progress(Metric("val_loss", v, step))
            mean_usage = (usage_sum / int(cfg["val_every"])).tolist() if usage_sum is not None else []
            usage_sum = None
            history.append({"step": step, "loss": float(mse.detach()), "val_loss": v,
                            "balance": float(aux["balance"].detach()), "z": float(aux["z"].detach()),
                            "minutes": elapsed / 60, "usage": mean_usage})  # type: ignore[dict-item]
            (out / "history.json").write_text(json.dumps(history, indent=1), encoding="utf-8")
            ck = make_checkpoint(ema, sched, step=step, val_loss=v, config=_jsonable(cfg))
            torch.save(ck, out / "moe-last.pth")
            if v < best:
                best = v
                torch.save(ck, best_path)
                progress(Log(f"step {step}: validation loss {v:.4f} (best)"))
        if last:
            break
    return best_path


def _jsonable(cfg: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(cfg, default=str))


__all__ = ["DEFAULTS", "diffusion_loss", "train"]
