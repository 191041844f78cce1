"""LDCSR training on the user's rasters: stage 1 (autoencoder), then stage 2 (LR encoder + UNet).

Data: :class:`engine.train.data.PairSampler` (the LMLTE pipeline: per-band normalised crops,
antialiased bicubic LR, nodata-aware, seeded). LDCSR is an RGB model; a sample is either three
distinct bands of one raster (``band_mode: mix`` half of the time, when the raster has them) or
one band replicated to three channels, which is the rule the raster pipeline applies to
non-RGB rasters. Values are mapped to [-1, 1] as in the official code.

Stage 1 (official ``first_stage_kl``, without the LPIPS/GAN terms, which need downloaded
weights): L1(decoder(z ~ q(z | HR, LR), LR, HR size), HR) + ``kl_weight`` * KL.
``scale_factor`` = 1 / std of a batch of latents (``scale_by_std``).

Stage 2 (official ``second_stage_van_v4``): the first stage frozen; x_T = q(x_{T-1} | x_0) at
the last timestep, the full T-step ancestral chain run with gradients, loss
= MSE(x_0_hat, x_0) + ``kd_weight`` * MSE(c, x_0) where c is the LR encoder's latent; UNet
weights averaged by an EMA with the official warm-up (decay min(d, (1 + n) / (10 + n))).

Outputs in ``out``: ``stage1.ckpt`` (official stage-1 layout) and ``last.ckpt`` / ``best.ckpt``
(official stage-2 Lightning layout with the EMA copy); both embed the official-format config
under ``arbsr_config`` so they load without a YAML. Best = highest validation PSNR of the
deterministic (fast) mode.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch
import torch.nn.functional as F

from engine.errors import ModelError, ParameterError
from engine.models.checkpoints import read_checkpoint
from engine.models.ldcsr import checkpoint
from engine.models.ldcsr.autoencoder import AutoencoderKL
from engine.models.ldcsr.cond import encode_condition
from engine.models.ldcsr.config import LDCSRConfig, from_yaml_dict
from engine.models.ldcsr.network import LDCSRNet
from engine.models.ldcsr.sampler import super_resolve, unet_conditions
from engine.progress import Log, Metric, Progress, ProgressCallback, ignore
from engine.schedulers.ddpm import DDPMScheduler
from engine.train import config as cfgmod
from engine.train.common import Ema, psnr, start_run
from engine.train.data import Pair, PairSampler, load_sources, validation_pairs

#: The small demonstration model: every width at its minimum (32 groups in GroupNorm).
DEMO_MODEL: dict[str, Any] = {
    "encoder": {"in_channels": 6, "ch": 32, "ch_mult": [1, 1, 1, 1], "num_res_blocks": 1,
                "z_channels": 4, "double_z": True},
    "decoder": {"ch": 32, "out_ch": 3, "ch_mult": [1, 1, 1, 1], "num_res_blocks": 1,
                "in_channels": 3, "z_channels": 4, "num_sr_modules": [1, 1, 1, 1]},
    "cond": {"in_channels": 3, "ch": 32, "ch_mult": [1, 1, 1, 1], "num_res_blocks": 1,
             "z_channels": 4, "double_z": False},
    "unet": {"in_channels": 8, "out_channels": 4, "model_channels": 32,
             "attention_resolutions": [8], "num_res_blocks": 1, "channel_mult": [1, 1, 1, 1],
             "num_head_channels": 16, "use_scale_embedding": True,
             "use_osize_embedding": True, "image_size": 64},
    "embed_dim": 4, "timesteps": 4, "linear_start": 0.1, "linear_end": 0.99,
    "parameterization": "eps", "conditioning_key": "hybrid_adm",
}

DEFAULTS: dict[str, Any] = {
    "family": "ldcsr",
    "stage": "both",          # 1, 2 or both
    "model": DEMO_MODEL,      # LDCSRConfig fields (or give an official YAML as model_yaml)
    "model_yaml": None,
    "channels": 3,
    "band_mode": "mix",       # mix: 3 bands or 1 band replicated; replicate: always 1 band
    "lr_patch": 20,
    "scale_min": 2.0,
    "scale_max": 4.0,
    "batch_size": 4,
    "epochs": 10,
    "stage2_epochs": None,    # default: epochs
    "stage2_lr_patch": None,  # default: lr_patch (stage 2 needs HR crops >= 72 px, see below)
    "stage2_batch_size": None,  # default: batch_size
    "iters_per_epoch": 50,
    "lr": 2.0e-4,
    "kl_weight": 1.0e-6,
    "kd_weight": 1.0,
    "ema_decay": 0.999,
    "stage1_time_fraction": 0.5,
    "val_patch": 24,
    "val_scales": [2.0, 4.0],
    "val_per_source": 2,
}

#: Smallest HR crop side: the autoencoder reflect-pads a latent of HR // 8 px (needs >= 5 px).
MIN_HR = 40
#: Smallest HR crop side in stage 2: a UNet whose bottom level is 32 wide (= GroupNorm groups)
#: needs a bottom map larger than 1x1, or its statistics degenerate (latent >= 9 px).
MIN_HR_STAGE2 = 72


def _to_rgb(pairs: list[Pair], rng: np.random.Generator,
            ) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack pairs (same scale) to (B, 3, H, W) HR and (B, 3, h, w) LR in [-1, 1]."""
    hr, lr = [], []
    for p in pairs:
        h, l_ = p.hr, p.lr
        if h.shape[0] == 1:
            h, l_ = h.expand(3, -1, -1), l_.expand(3, -1, -1)
        elif h.shape[0] == 3 and rng.random() < 0.5:
            order = list(rng.permutation(3))  # band order is not meaningful for MS rasters
            h, l_ = h[order], l_[order]
        hr.append(h)
        lr.append(l_)
    return torch.stack(hr) * 2 - 1, torch.stack(lr) * 2 - 1


class _Batches:
    """Draws stackable batches at one random scale, mixing 3-band and replicated samples."""

    def __init__(self, sources: list, cfg: Mapping[str, Any], seed: int,
                 min_hr: int = MIN_HR) -> None:
        lo = max(float(cfg["scale_min"]), min_hr / int(cfg["lr_patch"]))
        hi = max(lo, float(cfg["scale_max"]))
        common = dict(lr_patch=int(cfg["lr_patch"]), scale_range=(lo, hi),
                      max_invalid=float(cfg["max_invalid"]),
                      scale_weights=cfgmod.scale_weights(cfg))
        self.single = PairSampler(sources, channels=1, seed=seed, **common)
        multi = [s for s in sources if s.bands >= 3]
        self.multi = (PairSampler(multi, channels=3, seed=seed + 7, **common)
                      if multi and cfg.get("band_mode", "mix") == "mix" else None)
        self.rng = np.random.default_rng(seed + 11)

    def draw(self, size: int) -> tuple[torch.Tensor, torch.Tensor]:
        sampler = self.multi if self.multi is not None and self.rng.random() < 0.5 \
            else self.single
        return _to_rgb(sampler.batch(size, same_scale=True), self.rng)


def _config(cfg: Mapping[str, Any]) -> LDCSRConfig:
    if cfg.get("model_yaml"):
        from engine.models.ldcsr.config import load_yaml

        return load_yaml(cfg["model_yaml"])
    return LDCSRConfig.from_dict(copy.deepcopy(dict(cfg["model"])))


@torch.no_grad()
def validate(net: LDCSRNet, pairs: list[Pair]) -> float:
    """Mean PSNR (dB, [0, 1] range) of the fast mode on validation pairs (band replicated)."""
    net.eval()
    vals = []
    for p in pairs:
        hr, lr = _to_rgb([p], np.random.default_rng(0))
        if min(hr.shape[2:]) < MIN_HR:
            continue
        sr = super_resolve(net, lr, tuple(hr.shape[2:]), mode="fast")
        vals.append(psnr((sr + 1) / 2, (hr + 1) / 2, int(math.ceil(p.scale[0]))))
    return float(np.mean(vals)) if vals else float("nan")


def save_stage1(path: Path, ae: AutoencoderKL, cfg: LDCSRConfig, step: int) -> None:
    """Official stage-1 layout: un-prefixed encoder/decoder/quant_conv/post_quant_conv keys."""
    torch.save({"epoch": 0, "global_step": step, "state_dict": ae.state_dict(),
                checkpoint.CONFIG_KEY: cfg.to_yaml_dict()}, path)


def save_stage2(path: Path, net: LDCSRNet, ema: Ema, cfg: LDCSRConfig, step: int,
                extra: dict[str, Any]) -> None:
    """Official stage-2 Lightning layout with the EMA copy, plus the embedded config."""
    torch.save({"epoch": 0, "global_step": step, "pytorch-lightning_version": "1.9.5",
                "state_dict": checkpoint.to_lightning_state_dict(
                    net, ema.shadow, decay=ema.decay, num_updates=ema.num_updates),
                checkpoint.CONFIG_KEY: cfg.to_yaml_dict(), "arbsr": extra}, path)


def export_half(src: Path, dst: Path) -> None:
    """Write a stage-2 checkpoint again with float16 weights (a smaller file to ship).

    The layout stays the official one (keys re-emitted in the official order); loading casts
    the weights back to float32.
    """
    ck = torch.load(src, map_location="cpu", weights_only=True)
    cfg = from_yaml_dict(ck[checkpoint.CONFIG_KEY])
    net = checkpoint.build(cfg, ck["state_dict"], use_ema=False)
    ema = {name: ck["state_dict"][key] for name, key in
           ((n, checkpoint.ema_key(n)) for n, _ in net.unet.named_parameters())}
    state = checkpoint.to_lightning_state_dict(
        net, ema, decay=float(ck["state_dict"]["model_ema.decay"]),
        num_updates=int(ck["state_dict"]["model_ema.num_updates"]))
    state = {k: (v.half() if v.is_floating_point() and v.ndim > 0 else v)
             for k, v in state.items()}
    torch.save({"epoch": ck.get("epoch", 0), "global_step": ck.get("global_step", 0),
                "pytorch-lightning_version": "1.9.5", "state_dict": state,
                checkpoint.CONFIG_KEY: ck[checkpoint.CONFIG_KEY]}, dst)


@dataclass
class _Run:
    """What the stages of one training run share."""

    cfg: dict[str, Any]
    stage: str
    device: torch.device
    seed: int
    out: Path
    #: The checkpoint given as ``init`` (None for a fresh start).
    init: dict[str, Any] | None
    net: LDCSRNet
    mcfg: LDCSRConfig
    sources: list
    #: Stage-1 batches (the scale calibration draws its batch from them too).
    batches: _Batches
    val: list[Pair]
    progress: ProgressCallback
    start: float = field(default_factory=time.perf_counter)
    history: list[dict[str, Any]] = field(default_factory=list)

    @property
    def limit(self) -> float | None:
        """The run's time budget in seconds, or None."""
        return float(self.cfg["time_limit_min"]) * 60 if self.cfg.get("time_limit_min") else None

    def elapsed(self) -> float:
        """Seconds since the data was read (the time budget counts from there)."""
        return time.perf_counter() - self.start


def train(config: Mapping[str, Any], progress: ProgressCallback = ignore) -> Path:
    """Train LDCSR (stage 1, stage 2 or both); returns the best stage-2 checkpoint path.

    ``init``: a stage-1 checkpoint (stage 2 starts from it) or a stage-2 checkpoint
    (fine-tune both stages / stage 2 from it). ``resume`` is not supported for LDCSR.
    """
    run = _setup(copy.deepcopy(dict(config)), progress)
    if run.stage in ("1", "both"):
        _train_stage1(run)
        if run.stage == "1":
            return run.out / "stage1.ckpt"
    ae = run.net.first_stage_model  # frozen from here on
    ae.eval()
    ae.requires_grad_(False)
    if run.init is None or not checkpoint.is_stage2(run.init) or run.stage == "both":
        _calibrate_scale(run)
    return _train_stage2(run)


def _setup(cfg: dict[str, Any], progress: ProgressCallback) -> _Run:
    """Check the options, seed, build the network (from ``init`` when given), read the data."""
    if cfg.get("resume"):
        raise ParameterError("LDCSR training cannot resume a run: use --init with its "
                             "checkpoint (stage1.ckpt or last.ckpt) to continue from its weights")
    stage = str(cfg.get("stage", "both"))
    if stage not in ("1", "2", "both"):
        raise ParameterError(f"stage must be 1, 2 or both, got {stage}")
    device, seed, out = start_run(cfg)
    init = read_checkpoint(cfg["init"]) if cfg.get("init") else None
    net, mcfg = _network(cfg, init)
    if init is not None:
        progress(Log(f"starting from {cfg['init']}"))
    elif stage == "2":
        raise ParameterError("stage 2 needs a trained stage 1: pass --init stage1.ckpt")
    net = net.to(device)

    progress(Progress(0.0, "reading training rasters"))
    val_paths = list(cfg.get("val") or [])
    holdout = 0.0 if val_paths else float(cfg["holdout"])
    sources = load_sources(cfg["data"], holdout=holdout, bands=cfg.get("bands"),
                           mask_zero=bool(cfg.get("mask_zero")))
    val_sources = load_sources(val_paths, bands=cfg.get("bands")) if val_paths else (
        sources if holdout > 0 else [])
    batches = _Batches(sources, cfg, seed)
    val_patch = max(int(cfg["val_patch"]), int(math.ceil(MIN_HR / min(cfg["val_scales"]))))
    val = validation_pairs(val_sources, lr_patch=val_patch,
                           scales=[float(s) for s in cfg["val_scales"]],
                           per_source=int(cfg["val_per_source"]), channels=1,
                           seed=seed + 1000) if val_sources else []
    return _Run(cfg=cfg, stage=stage, device=device, seed=seed, out=out, init=init, net=net,
                mcfg=mcfg, sources=sources, batches=batches, val=val, progress=progress)


def _network(cfg: Mapping[str, Any], init: dict[str, Any] | None,
             ) -> tuple[LDCSRNet, LDCSRConfig]:
    """The network to train and its config: new, or with the weights of ``init``."""
    mcfg = _config(cfg)
    if init is not None and isinstance(init.get(checkpoint.CONFIG_KEY), dict):
        mcfg = from_yaml_dict(init[checkpoint.CONFIG_KEY])
    # Built in every case: its random initialisation is part of the seeded sequence of a run.
    net = LDCSRNet(mcfg)
    if init is None:
        return net, mcfg
    if checkpoint.is_stage2(init):
        return checkpoint.build(mcfg, init["state_dict"], use_ema=True), mcfg
    if checkpoint.is_stage1(init):
        net.first_stage_model.load_state_dict(
            checkpoint.load_first_stage(init, mcfg).state_dict())
        return net, mcfg
    raise ModelError(f"'{cfg['init']}' is not an LDCSR checkpoint: give stage1.ckpt or "
                     "a stage-2 .ckpt")


def _train_stage1(run: _Run) -> None:
    """The autoencoder: L1 reconstruction + KL, ``stage1.ckpt`` after every epoch."""
    cfg, ae, progress = run.cfg, run.net.first_stage_model, run.progress
    epochs, ipe, bs = int(cfg["epochs"]), int(cfg["iters_per_epoch"]), int(cfg["batch_size"])
    opt = torch.optim.Adam(ae.parameters(), lr=float(cfg["lr"]))
    limit = run.limit * float(cfg["stage1_time_fraction"]) if run.limit else None
    total, step = epochs * ipe, 0
    gen = torch.Generator(device=run.device).manual_seed(run.seed)
    for epoch in range(1, epochs + 1):
        ae.train()
        loss_sum = 0.0
        for it in range(ipe):
            for g in opt.param_groups:
                g["lr"] = cfgmod.learning_rate(cfg, step, total)
            hr, lr = (t.to(run.device) for t in run.batches.draw(bs))
            rec, mean, logvar = ae(hr, lr, generator=gen)
            kl = 0.5 * (mean ** 2 + logvar.exp() - 1 - logvar).sum(dim=(1, 2, 3)).mean()
            loss = F.l1_loss(rec, hr) + float(cfg["kl_weight"]) * kl
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
            loss_sum += float(loss.detach())
            if it % 10 == 0:
                progress(Progress(0.5 * step / total, f"stage 1 epoch {epoch}/{epochs} "
                                                      f"loss {loss_sum / (it + 1):.4f}"))
        run.history.append({"stage": 1, "epoch": epoch, "loss": loss_sum / ipe,
                            "seconds": round(run.elapsed(), 1)})
        progress(Metric("stage1_loss", loss_sum / ipe, epoch))
        save_stage1(run.out / "stage1.ckpt", ae, run.mcfg, step)
        if limit is not None and run.elapsed() > limit:
            progress(Log(f"stage 1 time budget used after epoch {epoch}", "warning"))
            break


@torch.no_grad()
def _calibrate_scale(run: _Run) -> None:
    """``scale_factor`` = 1 / std of a batch of latents (the official ``scale_by_std``)."""
    hr, lr = (t.to(run.device) for t in run.batches.draw(max(int(run.cfg["batch_size"]), 8)))
    mean, logvar = run.net.first_stage_model.encode(hr, lr)
    z = mean + torch.exp(0.5 * logvar) * torch.randn_like(mean)
    run.net.scale_factor.fill_(1.0 / float(z.flatten().std()))
    run.progress(Log(f"scale_factor = {float(run.net.scale_factor):.4f}"))


def _train_stage2(run: _Run) -> Path:
    """LR encoder + UNet through the whole sampling chain, first stage frozen; EMA of the UNet.

    Writes ``last.ckpt`` after every epoch and ``best.ckpt`` when the validation PSNR of the
    fast mode (else the training loss) improved; returns the best.
    """
    cfg, net, progress = run.cfg, run.net, run.progress
    sched = DDPMScheduler.from_buffers(net.schedule())
    sched.set_timesteps()
    params = list(net.unet.parameters()) + list(net.cond_stage_model.parameters())
    opt = torch.optim.Adam(params, lr=float(cfg["lr"]))
    ema = Ema(net.unet, float(cfg["ema_decay"]))
    epochs = int(cfg.get("stage2_epochs") or cfg["epochs"])
    ipe = int(cfg["iters_per_epoch"])
    bs = int(cfg.get("stage2_batch_size") or cfg["batch_size"])
    cfg2 = {**cfg, "lr_patch": int(cfg.get("stage2_lr_patch") or cfg["lr_patch"])}
    batches = _Batches(run.sources, cfg2, run.seed + 5,
                       min_hr=MIN_HR_STAGE2 if net.unet.bottom_channels <= 32 else MIN_HR)
    total, step, best = epochs * ipe, 0, -math.inf
    gen = torch.Generator(device=run.device).manual_seed(run.seed + 1)
    for epoch in range(1, epochs + 1):
        net.unet.train()
        net.cond_stage_model.train()
        loss_sum = 0.0
        for it in range(ipe):
            for g in opt.param_groups:
                g["lr"] = cfgmod.learning_rate(cfg, step, total)
            hr, lr = (t.to(run.device) for t in batches.draw(bs))
            loss = _stage2_loss(net, sched, hr, lr, gen, float(cfg["kd_weight"]))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            ema.update(net.unet)
            step += 1
            loss_sum += float(loss.detach())
            if it % 10 == 0:
                progress(Progress(0.5 + 0.5 * step / total, f"stage 2 epoch {epoch}/{epochs} "
                                                             f"loss {loss_sum / (it + 1):.4f}"))
        entry: dict[str, Any] = {"stage": 2, "epoch": epoch, "loss": loss_sum / ipe,
                                 "seconds": round(run.elapsed(), 1)}
        progress(Metric("stage2_loss", loss_sum / ipe, epoch))
        best = _end_stage2_epoch(run, ema, entry, step, best)
        if run.limit is not None and run.elapsed() > run.limit:
            progress(Log(f"time limit reached after stage 2 epoch {epoch}", "warning"))
            break
    progress(Progress(1.0, "training done"))
    best_path = run.out / "best.ckpt"
    return best_path if best_path.exists() else run.out / "last.ckpt"


def _stage2_loss(net: LDCSRNet, sched: DDPMScheduler, hr: torch.Tensor, lr: torch.Tensor,
                 gen: torch.Generator, kd_weight: float) -> torch.Tensor:
    """MSE(x_0_hat, x_0) + ``kd_weight`` * MSE(c, x_0) of one batch (``second_stage_van_v4``).

    x_0 is the scaled latent of the HR image; x_T = q(x_{T-1} | x_0) at the last timestep; the
    whole chain runs with gradients; c is the LR encoder's latent.
    """
    size = (hr.shape[2], hr.shape[3])
    dev = hr.device
    with torch.no_grad():
        mean, logvar = net.first_stage_model.encode(hr, lr)
        noise = torch.randn(mean.shape, generator=gen, device=dev)
        x0 = net.scale_factor * (mean + torch.exp(0.5 * logvar) * noise)
    c = encode_condition(net.cond_stage_model, lr, size)
    scale, osize = unet_conditions(hr.shape[0], lr.shape[2], size[0], dev)
    t_last = torch.full((hr.shape[0],), sched.num_train_timesteps - 1, dtype=torch.long,
                        device=dev)
    x = sched.add_noise(x0, torch.randn(x0.shape, generator=gen, device=dev), t_last)
    for t in sched.timesteps.tolist():
        tt = torch.full((hr.shape[0],), t, dtype=torch.long, device=dev)
        eps = net.unet(torch.cat([x, c], 1), tt, scale, osize)
        x = sched.step(eps, t, x, generator=gen).prev_sample
    return F.mse_loss(x, x0) + kd_weight * F.mse_loss(c, x0)


def _end_stage2_epoch(run: _Run, ema: Ema, entry: dict[str, Any], step: int,
                      best: float) -> float:
    """Validate the EMA weights, write ``last.ckpt`` (and ``best.ckpt`` when the score improved:
    validation PSNR of the fast mode, else minus the training loss); returns the best score."""
    epoch = entry["epoch"]
    score = -entry["loss"]
    if run.val:
        with ema.applied(run.net.unet):
            entry["val_psnr_fast"] = validate(run.net, run.val)
        run.progress(Metric("val_psnr_fast", entry["val_psnr_fast"], epoch))
        if math.isfinite(entry["val_psnr_fast"]):
            score = entry["val_psnr_fast"]
    run.history.append(entry)
    extra = {"config": {k: v for k, v in run.cfg.items() if k != "model"},
             "history": run.history}
    save_stage2(run.out / "last.ckpt", run.net, ema, run.mcfg, step, extra)
    if score > best:
        best = score
        save_stage2(run.out / "best.ckpt", run.net, ema, run.mcfg, step, extra)
    run.progress(Log(f"stage 2 epoch {epoch}: " + ", ".join(
        f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in entry.items())))
    return best
