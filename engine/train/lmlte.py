"""LMLTE training and fine-tuning (the recipe of LMF's ``train.py``, on the user's rasters).

One iteration: ``batch_size`` pairs from :class:`engine.train.data.PairSampler` (each with its own
scale in [scale_min, scale_max]), ``sample_q`` valid HR pixels drawn per pair as query points
(coordinates and cells as in LIIF/LMF), input and target mapped to [-1, 1]
(``(x - 0.5) / 0.5``, the official ``data_norm``), L1 loss, Adam, cosine learning rate per
iteration. After each epoch: validation PSNR on whole crops (valid pixels, shave ceil(scale)),
then ``epoch-last.pth`` and, when the PSNR improved, ``epoch-best.pth``.

Checkpoints use the official LMF layout ``{'model': {'name': 'lmlte', 'args', 'sd'},
'optimizer': {'name', 'args', 'sd'}, 'epoch'}``, readable by the official ``test.py`` and by
:func:`engine.load_model`. An extra ``'arbsr'`` entry (ignored by the official tools) carries what
an exact resume needs: the config, RNG states, global step, best PSNR and the validation history.
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
from torch import nn

from engine.errors import ModelError, ParameterError
from engine.models.checkpoints import read_checkpoint
from engine.models.lmlte.checkpoint import build_lmlte
from engine.models.lmlte.grow import grow_state
from engine.models.lmlte.coords import cell_factor, cell_size, make_coord
from engine.precision import autocast, precision_dtype
from engine.progress import Log, Metric, Progress, ProgressCallback, ignore
from engine.train import config as cfgmod
from engine.train.common import jsonable, psnr, start_run
from engine.train.data import Pair, PairSampler, load_sources, validation_pairs

#: LMLTE defaults: a small band-wise EDSR-baseline LMLTE (quality per CPU-minute).
DEFAULTS: dict[str, Any] = {
    "sample_q": 2304,
    # With --init: grow the starting checkpoint into the config's deeper / wider encoder
    # (engine.models.lmlte.grow) instead of training the checkpoint's own model.
    "grow": False,
    # Forward pass under autocast to bfloat16 (weights, gradients and Adam stay float32):
    # about 2.3 times faster steps on CPUs with AMX (Xeon Sapphire Rapids and later), slower
    # where bfloat16 is emulated. float16 would need loss scaling and is refused.
    "precision": "float32",
    "model": {
        "name": "lmlte",
        "args": {
            "encoder_spec": {"name": "edsr-baseline",
                             "args": {"no_upsampling": True, "n_resblocks": 8, "n_feats": 32,
                                      "n_colors": 1}},
            "imnet_spec": {"name": "lmmlp",
                           "args": {"out_dim": 1, "hidden_dim": 16, "hidden_depth": 8,
                                    "mod_scale": True, "mod_shift": True}},
            "hypernet_spec": {"name": "mlp", "args": {"out_dim": 288, "hidden_list": [288]}},
            "hidden_dim": 64,
            "local_ensemble": True,
            "cell_decode": True,
            "mod_input": True,
        },
    },
    "optimizer": {"name": "adam", "args": {"lr": 2.0e-4}},
}


def build_network(args: Mapping[str, Any]) -> nn.Module:
    """The LMLTE network for the official model ``args`` (engine.models.lmlte.network)."""
    return build_lmlte(copy.deepcopy(dict(args)))


def make_batch(pairs: list[Pair], sample_q: int, rng: np.random.Generator,
               device: torch.device) -> dict[str, torch.Tensor]:
    """Stack pairs into the official training batch.

    Returns:
        inp (B, C, h, w) in [-1, 1]; coord, cell (B, Q, 2); gt (B, Q, C) in [-1, 1].
    """
    inp, coords, cells, gts = [], [], [], []
    for p in pairs:
        c, hh, ww = p.hr.shape
        coord = make_coord(hh, ww).view(-1, 2)
        flat = p.hr.reshape(c, -1).t()
        idx_valid = np.flatnonzero(p.valid.reshape(-1).numpy())
        q = min(sample_q, hh * ww)
        pool = idx_valid if idx_valid.size >= q else np.arange(hh * ww)
        sel = torch.from_numpy(np.sort(rng.choice(pool, q, replace=False)))
        coords.append(coord[sel])
        gts.append(flat[sel])
        cells.append(torch.tensor([[cell_size(hh, 1.0), cell_size(ww, 1.0)]]).expand(q, 2))
        inp.append(p.lr)
    return {
        "inp": ((torch.stack(inp) - 0.5) / 0.5).to(device),
        "coord": torch.stack(coords).to(device),
        "cell": torch.stack(cells).to(device),
        "gt": ((torch.stack(gts) - 0.5) / 0.5).to(device),
    }


@torch.no_grad()
def predict(model: nn.Module, lr: torch.Tensor, size: tuple[int, int],
            chunk: int = 65536) -> torch.Tensor:
    """Render ``lr`` (C, h, w) in [0, 1] at ``size``; returns (C, H, W), unclamped, [0, 1] units.

    Uses the training forward with the official test protocol (cell clip above x4).
    """
    dev = next(model.parameters()).device
    hh, ww = size
    inp = ((lr[None] - 0.5) / 0.5).to(dev)
    coord = make_coord(hh, ww, dev).view(1, -1, 2)
    factor = cell_factor(hh / lr.shape[-2], ww / lr.shape[-1])
    cell = torch.empty_like(coord)
    cell[..., 0] = cell_size(hh, factor)
    cell[..., 1] = cell_size(ww, factor)
    outs = [model(inp, coord[:, i:i + chunk], cell[:, i:i + chunk])
            for i in range(0, coord.shape[1], chunk)]
    out = torch.cat(outs, 1)[0] * 0.5 + 0.5
    return out.t().reshape(-1, hh, ww).cpu()


def validate(model: nn.Module, pairs: list[Pair]) -> dict[str, float]:
    """Mean PSNR of the model and of bicubic upsampling over ``pairs``, per scale and overall."""
    model.eval()
    per: dict[str, list[tuple[float, float]]] = {}
    for p in pairs:
        size = tuple(p.hr.shape[-2:])
        sr = predict(model, p.lr, size)  # type: ignore[arg-type]
        bic = torch.nn.functional.interpolate(p.lr[None], size=size, mode="bicubic",
                                              align_corners=False)[0]
        shave = math.ceil(max(p.scale))
        sy, sx = p.scale
        key = f"x{sy:g}" if sy == sx else f"x{sy:g}_{sx:g}"  # rows x columns
        per.setdefault(key, []).append(
            (psnr(sr, p.hr, shave, p.valid), psnr(bic, p.hr, shave, p.valid)))
    model.train()
    out: dict[str, float] = {}
    allv = [v for vals in per.values() for v in vals]
    if allv:
        out["psnr"] = float(np.mean([a for a, _ in allv]))
        out["psnr_bicubic"] = float(np.mean([b for _, b in allv]))
    for key, vals in per.items():
        out[f"psnr_{key}"] = float(np.mean([a for a, _ in vals]))
        out[f"gain_{key}"] = float(np.mean([a - b for a, b in vals]))
    return out


def save_checkpoint(path: Path, model: nn.Module, model_spec: Mapping[str, Any],
                    optimizer: torch.optim.Optimizer, opt_spec: Mapping[str, Any], epoch: int,
                    extra: Mapping[str, Any]) -> None:
    """Write the official LMF layout (+ 'arbsr' resume state) atomically."""
    sv = {
        "model": {"name": model_spec["name"], "args": copy.deepcopy(model_spec["args"]),
                  "sd": {k: v.detach().cpu() for k, v in model.state_dict().items()}},
        "optimizer": {"name": opt_spec["name"], "args": copy.deepcopy(opt_spec["args"]),
                      "sd": optimizer.state_dict()},
        "epoch": epoch,
        "arbsr": dict(extra),
    }
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(sv, tmp)
    tmp.replace(path)


def export_weights(src: Path, dst: Path) -> None:
    """Copy a checkpoint keeping only the official keys (model, optimizer without moments, epoch).

    Used for shipped weights: small, and free of resume state.
    """
    ck = read_checkpoint(src)
    model = ck["model"]
    out = {"model": {"name": model["name"], "args": model["args"],
                     "sd": {k: v.clone() for k, v in model["sd"].items()}},
           "optimizer": {"name": ck["optimizer"]["name"], "args": ck["optimizer"]["args"],
                         "sd": {"state": {}, "param_groups": ck["optimizer"]["sd"]["param_groups"]}},
           "epoch": int(ck["epoch"])}
    torch.save(out, dst)


@dataclass
class _Run:
    """What the stages of one training run share (the model, its optimiser, data, counters)."""

    cfg: dict[str, Any]
    out: Path
    device: torch.device
    sampler: PairSampler
    #: Draws the query points of each batch.
    q_rng: np.random.Generator
    val: list[Pair]
    model: nn.Module
    optimizer: torch.optim.Optimizer
    opt_spec: dict[str, Any]
    #: Autocast dtype of the forward pass (None: float32).
    dtype: torch.dtype | None = None
    epoch_start: int = 1
    step: int = 0
    best: float = -math.inf
    history: list[dict[str, Any]] = field(default_factory=list)

    @property
    def last_path(self) -> Path:
        return self.out / "epoch-last.pth"

    @property
    def best_path(self) -> Path:
        return self.out / "epoch-best.pth"


def train(config: Mapping[str, Any], progress: ProgressCallback = ignore) -> Path:
    """Train (or resume, or fine-tune) an LMLTE model; returns the best checkpoint's path.

    Args:
        config: merged config (:func:`engine.train.config.merge` with :data:`DEFAULTS`).
        progress: event callback (progress lines, loss and validation metrics).
    """
    cfg = copy.deepcopy(dict(config))
    start_from = _starting_checkpoint(cfg)
    if start_from is not None and not (start_from[0] == "init" and cfg.get("grow")):
        # The run goes on with its own model; training options may be extended (epochs).
        cfg["model"] = {"name": "lmlte", "args": start_from[1]["model"]["args"]}
    run = _setup(cfg, progress)
    if start_from is not None:
        _restore(run, *start_from, progress)
    run.model.train()
    epochs = int(cfg["epochs"])
    limit = float(cfg["time_limit_min"]) * 60 if cfg.get("time_limit_min") else None
    start = time.perf_counter()
    for epoch in range(run.epoch_start, epochs + 1):
        entry = _train_epoch(run, epoch, progress)
        entry["seconds"] = round(time.perf_counter() - start, 1)
        _end_epoch(run, entry, progress)
        if limit is not None and time.perf_counter() - start > limit and epoch < epochs:
            progress(Log(f"time limit reached after epoch {epoch}; resume with --resume "
                         f"{run.last_path}", "warning"))
            break
    progress(Progress(1.0, "training done"))
    return run.best_path if run.best_path.exists() else run.last_path


def training_dtype(name: str | None) -> torch.dtype | None:
    """The forward pass's autocast dtype for the ``precision`` option: None (float32) or
    bfloat16 (ParameterError otherwise)."""
    dtype = precision_dtype(name)
    if dtype not in (None, torch.bfloat16):
        raise ParameterError(f"training precision '{name}' is not supported: use float32 or "
                             "bfloat16 (float16 would need loss scaling)")
    return dtype


def _starting_checkpoint(cfg: Mapping[str, Any]) -> tuple[str, dict[str, Any]] | None:
    """``("resume" | "init", checkpoint)``, read and checked, or None for a fresh model."""
    for kind in ("resume", "init"):
        if cfg.get(kind):
            ck = read_checkpoint(cfg[kind])
            _require_lmlte(ck, cfg[kind])
            return kind, ck
    return None


def _setup(cfg: dict[str, Any], progress: ProgressCallback) -> _Run:
    """Seed, read the data (training sampler, validation crops), build model and optimiser."""
    dtype = training_dtype(cfg.get("precision"))
    device, seed, out = start_run(cfg)

    progress(Progress(0.0, "reading training rasters"))
    channels = cfg.get("channels", 1)
    val_paths = list(cfg.get("val") or [])
    holdout = 0.0 if val_paths else float(cfg["holdout"])
    sources = load_sources(cfg["data"], holdout=holdout, bands=cfg.get("bands"),
                           mask_zero=bool(cfg.get("mask_zero")))
    val_sources = load_sources(val_paths, bands=cfg.get("bands"),
                               mask_zero=bool(cfg.get("mask_zero"))) if val_paths else (
        sources if holdout > 0 else [])
    n_in = int(cfg["model"]["args"]["encoder_spec"]["args"].get("n_colors", 3))
    if channels is not None and int(channels) != n_in:
        raise ParameterError(f"the model takes {n_in} channels but channels={channels}: set "
                             "channels to the model's input channels")
    sampler = PairSampler(sources, lr_patch=int(cfg["lr_patch"]),
                          scale_range=(float(cfg["scale_min"]), float(cfg["scale_max"])),
                          channels=channels, seed=seed, max_invalid=float(cfg["max_invalid"]),
                          scale_weights=cfgmod.scale_weights(cfg),
                          per_axis=float(cfg.get("per_axis") or 0.0))
    val = validation_pairs(val_sources, lr_patch=int(cfg["val_patch"]),
                           scales=[_val_scale(s) for s in cfg["val_scales"]],
                           per_source=int(cfg["val_per_source"]), channels=channels,
                           seed=seed + 1000, max_invalid=float(cfg["max_invalid"])) \
        if val_sources else []
    if not val:
        progress(Log("no validation crops (hold-out too small or none given): checkpoints are "
                     "kept by training loss only", "warning"))
    q_rng = np.random.default_rng(seed + 1)

    model = build_network(cfg["model"]["args"]).to(device)
    opt_spec = copy.deepcopy(cfg["optimizer"])
    opt_spec["args"]["lr"] = float(cfg["lr"])
    optimizer = torch.optim.Adam(model.parameters(), **opt_spec["args"])
    return _Run(cfg=cfg, out=out, device=device, sampler=sampler, q_rng=q_rng, val=val,
                model=model, optimizer=optimizer, opt_spec=opt_spec, dtype=dtype)


def _restore(run: _Run, kind: str, ck: Mapping[str, Any], progress: ProgressCallback) -> None:
    """Load the weights of ``ck`` (grown into the config's larger encoder when ``grow`` is set);
    to resume, also the optimiser, counters and RNG states."""
    if kind == "init" and run.cfg.get("grow"):
        grow_state(ck["model"]["sd"], ck["model"]["args"], run.model, run.cfg["model"]["args"])
        progress(Log(f"fine-tuning from {run.cfg['init']}, grown into the config's encoder"))
        return
    run.model.load_state_dict(ck["model"]["sd"])
    if kind == "init":
        progress(Log(f"fine-tuning from {run.cfg['init']}"))
        return
    run.optimizer.load_state_dict(ck["optimizer"]["sd"])
    extra = ck.get("arbsr", {})
    run.epoch_start = int(ck["epoch"]) + 1
    run.step = int(extra.get("step", (run.epoch_start - 1) * int(run.cfg["iters_per_epoch"])))
    run.best = float(extra.get("best", -math.inf))
    run.history = list(extra.get("history", []))
    if "sampler" in extra:
        run.sampler.set_state(extra["sampler"])
        run.q_rng.bit_generator.state = extra["queries"]
        torch.set_rng_state(extra["torch"])
    progress(Log(f"resuming {run.cfg['resume']} at epoch {run.epoch_start}"))


def _train_epoch(run: _Run, epoch: int, progress: ProgressCallback) -> dict[str, Any]:
    """One epoch of optimiser steps; returns its history entry (mean loss, last learning rate)."""
    cfg = run.cfg
    epochs, ipe = int(cfg["epochs"]), int(cfg["iters_per_epoch"])
    total = epochs * ipe
    loss_fn = nn.L1Loss()
    loss_sum = 0.0
    for it in range(ipe):
        lr_now = cfgmod.learning_rate(cfg, run.step, total)
        for g in run.optimizer.param_groups:
            g["lr"] = lr_now
        batch = make_batch(run.sampler.batch(int(cfg["batch_size"])), int(cfg["sample_q"]),
                           run.q_rng, run.device)
        with autocast(run.device, run.dtype):
            pred = run.model(batch["inp"], batch["coord"], batch["cell"])
        loss = loss_fn(pred.float(), batch["gt"])
        run.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.get("grad_clip"):
            nn.utils.clip_grad_norm_(run.model.parameters(), float(cfg["grad_clip"]))
        run.optimizer.step()
        run.step += 1
        loss_sum += loss.item()
        if it % 10 == 0 or it == ipe - 1:
            progress(Progress(run.step / total, f"epoch {epoch}/{epochs} iter {it + 1}/{ipe} "
                                                f"loss {loss_sum / (it + 1):.4f}"))
    return {"epoch": epoch, "loss": loss_sum / ipe, "lr": lr_now}


def _end_epoch(run: _Run, entry: dict[str, Any], progress: ProgressCallback) -> None:
    """Validate, then write ``epoch-last.pth`` (and ``epoch-best.pth`` when the score improved:
    validation PSNR, else minus the training loss), with the state an exact resume needs."""
    epoch = entry["epoch"]
    progress(Metric("train_loss", entry["loss"], epoch))
    if run.val:
        entry.update(validate(run.model, run.val))
        progress(Metric("val_psnr", entry["psnr"], epoch))
        score = entry["psnr"]
    else:
        score = -entry["loss"]
    run.history.append(entry)
    improved = score > run.best
    run.best = max(run.best, score)
    extra = {"config": jsonable(run.cfg), "step": run.step, "best": run.best,
             "history": run.history, "sampler": run.sampler.state(),
             "queries": run.q_rng.bit_generator.state, "torch": torch.get_rng_state()}
    save_checkpoint(run.last_path, run.model, run.cfg["model"], run.optimizer, run.opt_spec,
                    epoch, extra)
    if improved:
        save_checkpoint(run.best_path, run.model, run.cfg["model"], run.optimizer, run.opt_spec,
                        epoch, extra)
    progress(Log(f"epoch {epoch}: " + ", ".join(
        f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in entry.items())))


def _val_scale(s: Any) -> float | tuple[float, float]:
    # A validation scale is a factor or a per-axis [sy, sx] pair.
    return float(s) if isinstance(s, (int, float, str)) else (float(s[0]), float(s[1]))


def _require_lmlte(ck: Mapping[str, Any], path: str) -> None:
    model = ck.get("model")
    if not isinstance(model, Mapping) or model.get("name") != "lmlte" or "sd" not in model:
        raise ModelError(f"'{path}' is not an LMLTE checkpoint in the LMF layout: give an "
                         "lmlte .pth (e.g. epoch-last.pth of a previous run)")


__all__ = ["DEFAULTS", "build_network", "export_weights", "make_batch", "predict",
           "save_checkpoint", "train", "validate"]
