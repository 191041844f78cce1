"""MoE-DiffSR benchmark: speed, peak memory, WorldView-2 quality and expert-usage statistics.

Speed: output megapixels per second of ``model.upscale`` (20 DDIM steps) on one LR tile after a
warm-up call, at x2 and x4, in a fresh child process (peak memory as in the LDCSR entry:
``ru_maxrss`` growth on CPU, ``torch.cuda.max_memory_allocated`` on CUDA).

Quality (not with ``quick``): the same protocol and crops as the LDCSR entry
(:mod:`engine.bench.common`), so the tables compare: WorldView-2 Longmont crops from
``dgsamples`` (held out from training: 4 PAN crops of 192 x 192, 2 MUL crops of 96 x 96, bands
2, 3, 5, 7); per-band 0.1/99.9 percentile scaling; LR
by the shared antialiased bicubic (:func:`engine.degradation.downsample`); PSNR and SSIM from
:mod:`engine.metrics` and the gradient-magnitude ratio GMR = mean |Sobel(SR)| / mean |Sobel(HR)|
on [0, 1]-clipped values with a ceil(scale) border removed; for GDAL cubic
(:func:`engine.metrics.baselines.gdal_resample`), ``lmlte-default``, ``ldcsr`` (when its card is
installed; RGB models see the band replicated to three channels, outputs averaged) and ``moe``
(seed 0, 20 and 5 steps).

Expert usage (not with ``quick``): while ``moe`` samples the evaluation crops, every step's
routing of every MoE block is recorded. Each routing patch is labelled by the mean Sobel
magnitude of the HR pixels it covers, in terciles per crop (flat / medium / edges), and by the
noise level of the step (first, middle and last third of the steps). Reported per block: the
top-1 share of each expert overall, per content class and per noise third, and the normalised
mutual information I(expert; class) / H(class) (0 = routing ignores that variable, 1 = the
expert tells the class exactly).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from engine.bench.common import (WV2_DATA, Scores, add_scores, call_in_child, quality_table,
                                 speed_row, threads, timed_once, upscale_band,
                                 wv2_single_band_pairs)
from engine.metrics.sharpness import gradient_magnitude

SCALES = (2, 4)
STEPS = 20
#: Extra step counts in the quality table (the short training favours fewer steps).
FEW_STEPS = (5,)


def _child(scale: int, lr_side: int, device: str) -> dict[str, Any]:
    """Measure one configuration in this process (called in a fresh child)."""
    import torch

    import engine

    torch.set_num_threads(threads())
    model = engine.load_model("moe", device=device)
    lr = torch.rand(1, 1, lr_side, lr_side, generator=torch.Generator().manual_seed(0))
    size = (lr_side * scale, lr_side * scale)
    model.upscale(lr[:, :, :8, :8], (8 * scale, 8 * scale), seed=0, steps=2)  # warm-up
    sec, peak = timed_once(lambda: model.upscale(lr, size, seed=0, steps=STEPS), model.device)
    return speed_row({"model": "moe", "steps": STEPS, "scale": scale}, lr_side, size, sec, peak,
                     model.device)


def speed(quick: bool, device: str = "cpu") -> list[dict[str, Any]]:
    lr_side = 24 if quick else 96
    return [call_in_child("engine.bench.moe", "_child", scale, lr_side, device)
            for scale in SCALES]


def content_classes(hr: np.ndarray, patch_px: int, grid: tuple[int, int]) -> np.ndarray:
    """(Hp, Wp) content class of each routing patch: 0 flat, 1 medium, 2 edges, -1 padding.

    Classes are terciles (within this image) of the mean Sobel magnitude of the HR pixels that a
    patch of ``patch_px`` output pixels covers; patches in the model's internal padding are -1.
    """
    mag = gradient_magnitude(hr)
    hp, wp = grid
    pad = np.zeros((hp * patch_px, wp * patch_px))
    hh, ww = min(hr.shape[0], hp * patch_px), min(hr.shape[1], hp * patch_px)
    pad[:hh, :ww] = mag[:hh, :ww]
    per = pad.reshape(hp, patch_px, wp, patch_px).mean((1, 3))
    inside = np.zeros((hp, wp), bool)
    inside[:hr.shape[0] // patch_px, :hr.shape[1] // patch_px] = True
    if not inside.any():
        return np.full((hp, wp), -1)
    # right=True: ties at a tercile edge (e.g. many exactly flat patches) go to the lower class.
    cls = np.digitize(per, np.quantile(per[inside], [1 / 3, 2 / 3]), right=True)
    cls[~inside] = -1
    return cls


def block_level(net: Any, index: int) -> int:
    """U-Net level (0 = finest) of MoE block ``index`` in ``net.moe_blocks()`` order."""
    n_down = len(net.down_blocks)
    if index < n_down:
        return index
    if index == n_down:
        return net.levels - 1
    return net.levels - 1 - (index - n_down - 1)


def block_names(net: Any) -> list[str]:
    n_down, n_up = len(net.down_blocks), len(net.up_blocks)
    return ([f"enc{i}" for i in range(n_down)] + ["mid"]
            + [f"dec{n_up - 1 - j}" for j in range(n_up)])


def sample_with_routing(model: Any, lr: Any, size: tuple[int, int], *, seed: int = 0,
                        steps: int = STEPS) -> tuple[np.ndarray, list[list[np.ndarray]]]:
    """SR (H, W) in [-1, 1]-domain-free [0, 1] units (unclamped) of a (1, 1, h, w) LR in [0, 1],
    and per step, per block, the (Hp, Wp) top-1 expert grid of the first image."""
    import torch

    from engine.models.moe.sampler import sample

    net = model.module
    maps: list[list[np.ndarray]] = []

    def grab(_i: int, _n: int) -> None:
        row = []
        for b in net.moe_blocks():
            r = b.last_routing
            _, hp, wp = r.grid
            row.append(r.experts[:, 0].reshape(-1, hp, wp)[0].cpu().numpy())
        maps.append(row)

    gen = torch.Generator(device=model.device).manual_seed(seed)
    with torch.no_grad():
        out = sample(net, model.scheduler, lr.to(model.device) * 2 - 1, size, steps=steps,
                     eta=0.0, generator=gen, callback=grab)
    return ((out + 1) / 2)[0, 0].double().cpu().numpy(), maps


class UsageStats:
    """Accumulates top-1 expert counts per block x (content class, noise third)."""

    def __init__(self, blocks: int, experts: int) -> None:
        self.counts = np.zeros((blocks, 3, 3, experts), np.int64)  # block, class, third, expert

    def add(self, net: Any, hr: np.ndarray, maps: list[list[np.ndarray]]) -> None:
        n = len(maps)
        for si, row in enumerate(maps):
            third = min(3 * si // n, 2)
            for bi, grid in enumerate(row):
                px = net.unshuffle * net.patch * 2 ** block_level(net, bi)
                cls = content_classes(hr, px, grid.shape)
                for c in range(3):
                    e = grid[cls == c]
                    self.counts[bi, c, third] += np.bincount(e, minlength=self.counts.shape[-1])

    def report(self, names: list[str]) -> list[dict[str, Any]]:
        rows = []
        for bi, name in enumerate(names):
            c = self.counts[bi].astype(np.float64)
            total = c.sum()
            by_class = c.sum(1)
            by_third = c.sum(0)
            rows.append({
                "block": name,
                "share": _r(c.sum((0, 1)) / max(total, 1)),
                "share_by_content": {k: _r(v / max(v.sum(), 1))
                                     for k, v in zip(("flat", "medium", "edges"), by_class)},
                "share_by_noise": {k: _r(v / max(v.sum(), 1))
                                   for k, v in zip(("high", "middle", "low"), by_third)},
                "nmi_content": round(_nmi(by_class), 4),
                "nmi_noise": round(_nmi(by_third), 4),
            })
        return rows


def _r(a: np.ndarray) -> list[float]:
    return [round(float(x), 3) for x in a]


def _nmi(joint: np.ndarray) -> float:
    """I(X; E) / H(X) for a (classes, experts) count table."""
    p = joint / max(joint.sum(), 1)
    px, pe = p.sum(1, keepdims=True), p.sum(0, keepdims=True)
    nz = p > 0
    mi = float((p[nz] * np.log(p[nz] / (px @ pe)[nz])).sum())
    hx = float(-(px[px > 0] * np.log(px[px > 0])).sum())
    return mi / hx if hx > 0 else 0.0


def evaluate(device: str = "cpu", scales: tuple[int, ...] = SCALES) -> dict[str, Any]:
    """The model card's evaluation table and expert-usage statistics (module docstring)."""
    import torch

    import engine
    from engine.metrics.baselines import gdal_resample
    from engine.models.registry import find_card

    torch.set_num_threads(threads())
    names = ["lmlte-default"] + (["ldcsr"] if find_card("ldcsr") else [])
    others = {n: engine.load_model(n, device=device) for n in names}
    moe = engine.load_model("moe", device=device)
    net = moe.module
    usage = UsageStats(len(net.moe_blocks()), net.args["num_experts"])
    acc: Scores = {}
    seconds: dict[str, float] = {}
    for scale, hr, lr in wv2_single_band_pairs(scales):
        size = hr.shape
        preds = {"GDAL cubic": gdal_resample(lr[0, 0].numpy(), size, "cubic")}
        for name, m in others.items():
            t0 = time.perf_counter()
            preds[name] = upscale_band(m, lr, size)
            seconds[name] = seconds.get(name, 0.0) + time.perf_counter() - t0
        for steps in FEW_STEPS:
            with torch.no_grad():
                out = moe.upscale(lr, size, clamp=False, seed=0, steps=steps)
            preds[f"moe ({steps} steps)"] = out[0, 0].double().cpu().numpy()
        t0 = time.perf_counter()
        preds[f"moe ({STEPS} steps)"], maps = sample_with_routing(moe, lr, size)
        seconds["moe"] = seconds.get("moe", 0.0) + time.perf_counter() - t0
        usage.add(net, hr, maps)
        add_scores(acc, preds, hr, scale)
    return {"data": WV2_DATA, "moe_steps": STEPS, "seed": 0, "table": quality_table(acc),
            "seconds_total": {k: round(v, 1) for k, v in seconds.items()},
            "expert_usage": usage.report(block_names(net))}


def run(out_dir: Path, quick: bool) -> dict[str, Any]:
    """Bench entry: speed/memory at x2 and x4; quality and expert usage unless ``quick``."""
    result: dict[str, Any] = {"entry": "moe", "threads": threads(), "speed": speed(quick)}
    if not quick:
        result["quality"] = evaluate()
    return result


if __name__ == "__main__":  # pragma: no cover - manual use: python -m engine.bench.moe
    print(json.dumps(run(Path("build/bench"), quick="--quick" in sys.argv), indent=2))
