"""MoE-DiffSR benchmark: speed, peak memory, quality with the detail control, the uncertainty
layer's ranking of errors, and expert-usage statistics.

Speed: output megapixels per second of ``model.upscale`` (the card's steps and temperature) on
one LR tile after a warm-up call, at x2 and x4, in a fresh child process (peak memory as in the
LDCSR entry: ``ru_maxrss`` growth on CPU, ``torch.cuda.max_memory_allocated`` on CUDA).

Quality (not with ``quick``), held-out images only:

* WorldView-2 Longmont crops from ``dgsamples`` (the card protocol shared with LDCSR,
  :mod:`engine.bench.common`: 4 PAN crops of 192 x 192, 2 MUL crops of 96 x 96, bands 2, 3, 5,
  7) and scikit-image photos (``camera`` and the three channels of ``astronaut``, 256 x 256
  centre crops), every band on its own, per-band 0.1/99.9 percentile scaling;
* LR by the shared antialiased bicubic (:func:`engine.degradation.downsample`);
* methods: GDAL cubic, ``lmlte-default`` and ``moe`` at temperature 0, at the card's default and
  at 1 (seed 0);
* metrics on [0, 1]-clipped values with a ceil(scale) border removed: PSNR, SSIM, the
  gradient-magnitude ratio GMR = mean |Sobel(SR)| / mean |Sobel(HR)| (1 = as sharp as the truth)
  and the spectral distance RAPS-d: the mean absolute difference, in dB, between the radially
  averaged power spectra of SR and HR over the upper half of the frequencies (0 = the truth's
  spectrum; a blurry result lacks power there).

Uncertainty (not with ``quick``): on the WorldView-2 pairs, ``moe`` at the default temperature
draws ``UNCERTAINTY_SAMPLES`` samples; the Spearman rank correlation between the per-pixel
standard deviation and the absolute error of the seed's sample, per image, averaged.

Expert usage (not with ``quick``): while ``moe`` samples the WorldView-2 crops, every step's
routing of every MoE block is recorded. Each routing patch is labelled by the mean Sobel
magnitude of the HR pixels it covers, in terciles per crop (flat / medium / edges), and by the
noise level of the step (first, middle and last third of the steps). Reported per block: the
top-1 share of each expert overall, per content class and per noise third, and the normalised
mutual information I(expert; class) / H(class) (0 = routing ignores that variable, 1 = the
expert tells the class exactly).
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np

from engine.bench.common import (WV2_DATA, Scores, add_scores, call_in_child, quality_table,
                                 speed_row, threads, timed_once, upscale_band,
                                 wv2_single_band_pairs)
from engine.metrics.sharpness import gradient_magnitude
from engine.pipeline.render import SAMPLE_SEED_STRIDE

SCALES = (2, 4)
#: Samples per pixel of the uncertainty evaluation.
UNCERTAINTY_SAMPLES = 4
PHOTO_SIDE = 256
PHOTO_DATA = ("scikit-image photos: camera and astronaut (3 channels), 256x256 centre crops, "
              "band-wise")


def _child(scale: int, lr_side: int, device: str) -> dict[str, Any]:
    """Measure one configuration in this process (called in a fresh child)."""
    import torch

    import engine

    torch.set_num_threads(threads())
    model = engine.load_model("moe", device=device)
    lr = torch.rand(1, 1, lr_side, lr_side, generator=torch.Generator().manual_seed(0))
    size = (lr_side * scale, lr_side * scale)
    model.upscale(lr[:, :, :8, :8], (8 * scale, 8 * scale), seed=0, steps=2)  # warm-up
    sec, peak = timed_once(lambda: model.upscale(lr, size, seed=0), model.device)
    return speed_row({"model": "moe", "steps": model.describe()["steps"], "scale": scale},
                     lr_side, size, sec, peak, model.device)


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
                        steps: int | None = None, temperature: float | None = None
                        ) -> tuple[np.ndarray, list[list[np.ndarray]]]:
    """SR (H, W) in [0, 1] units (unclamped) of a (1, 1, h, w) LR in [0, 1] with the card's
    steps and temperature unless given, and per step, per block, the (Hp, Wp) top-1 expert
    grid of the first image."""
    import torch

    from engine.models.moe.checkpoint import base_upsample
    from engine.models.moe.sampler import sample

    info = model.describe()
    steps = info["steps"] if steps is None else steps
    temperature = info["temperature"] if temperature is None else temperature

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
    x = lr.to(model.device) * 2 - 1
    with torch.no_grad():
        out = sample(net, model.scheduler, x, base_upsample(model.base, x, size), steps=steps,
                     eta=0.0, temperature=temperature, generator=gen, callback=grab)
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


def photo_single_band_pairs(scales: tuple[int, ...]) -> Any:
    """``(scale, hr, lr)`` of the scikit-image photos, like ``wv2_single_band_pairs``."""
    import torch
    from skimage import data as skdata

    from engine.degradation import downsample
    from engine.normalization import compute_band_stats, normalize

    c0 = (512 - PHOTO_SIDE) // 2
    crop = slice(c0, c0 + PHOTO_SIDE)
    images = [skdata.camera()[crop, crop][None],
              np.moveaxis(skdata.astronaut()[crop, crop], -1, 0)]
    for raw in images:
        raw = raw.astype(np.float64)
        hr_all = normalize(raw, compute_band_stats(raw))
        for scale in scales:
            for hr in hr_all:
                h, w = hr.shape
                lr = downsample(torch.from_numpy(hr)[None, None].float(), (h // scale, w // scale))
                yield scale, hr, lr


def spectral_distance(sr: np.ndarray, hr: np.ndarray) -> float:
    """RAPS-d: mean |10 log10 P_sr(f) - 10 log10 P_hr(f)| over the upper half of the radial
    frequencies (dB), with P the radially averaged power spectrum of the Hann-windowed image."""
    h, w = hr.shape
    win = np.outer(np.hanning(h), np.hanning(w))

    def raps(a: np.ndarray) -> np.ndarray:
        p = np.abs(np.fft.fftshift(np.fft.fft2((a - a.mean()) * win))) ** 2
        yy, xx = np.indices(p.shape)
        r = np.hypot(yy - h // 2, xx - w // 2).astype(int)
        n = min(h, w) // 2
        return np.bincount(r.ravel(), p.ravel(), minlength=n)[:n] / np.maximum(
            np.bincount(r.ravel(), minlength=n)[:n], 1)

    a, b = raps(sr), raps(hr)
    hi = slice(len(b) // 2, len(b))
    return float(np.mean(np.abs(10 * np.log10(a[hi] + 1e-20) - 10 * np.log10(b[hi] + 1e-20))))


def _shaved(a: np.ndarray, scale: int) -> np.ndarray:
    s = int(math.ceil(scale))
    return np.clip(a, 0, 1)[s:-s, s:-s]


def evaluate(device: str = "cpu", scales: tuple[int, ...] = SCALES, model: str = "moe",
             temperatures: tuple[float, ...] = (), default_temperature: float | None = None
             ) -> dict[str, Any]:
    """The model card's tables (module docstring): quality per data set, method and scale,
    the uncertainty ranking and the expert usage. ``model``: the moe name or checkpoint;
    ``temperatures``: more temperatures to score besides 0, the default and 1;
    ``default_temperature``: instead of the card's."""
    import torch
    from scipy.stats import spearmanr

    import engine
    from engine.metrics.baselines import gdal_resample

    torch.set_num_threads(threads())
    lmlte = engine.load_model("lmlte-default", device=device)
    moe = engine.load_model(model, device=device)
    default_t = float(moe.describe()["temperature"] if default_temperature is None
                      else default_temperature)
    temps = sorted({0.0, default_t, 1.0, *temperatures})
    net = moe.module
    usage = UsageStats(len(net.moe_blocks()), net.args["num_experts"])
    tables: dict[str, Any] = {}
    spectral: dict[tuple[str, int], list[float]] = {}
    rho: dict[int, list[float]] = {}
    for data, pairs in (("wv2", wv2_single_band_pairs(scales)),
                        ("photos", photo_single_band_pairs(scales))):
        acc: Scores = {}
        for scale, hr, lr in pairs:
            size = hr.shape
            preds = {"GDAL cubic": gdal_resample(lr[0, 0].numpy(), size, "cubic"),
                     "lmlte-default": upscale_band(lmlte, lr, size)}
            for t in temps:
                if data == "wv2" and t == default_t:
                    preds[f"moe T={t:g}"], maps = sample_with_routing(moe, lr, size,
                                                                       temperature=t)
                    usage.add(net, hr, maps)
                else:
                    with torch.no_grad():
                        out = moe.upscale(lr, size, clamp=False, seed=0, temperature=t)
                    preds[f"moe T={t:g}"] = out[0, 0].double().cpu().numpy()
            add_scores(acc, preds, hr, scale)
            for name, p in preds.items():
                spectral.setdefault((f"{data}:{name}", scale), []).append(
                    spectral_distance(_shaved(p, scale), _shaved(hr, scale)))
            if data == "wv2":
                draws = [preds[f"moe T={default_t:g}"]]
                with torch.no_grad():
                    for k in range(1, UNCERTAINTY_SAMPLES):
                        out = moe.upscale(lr, size, clamp=False, seed=SAMPLE_SEED_STRIDE * k,
                                          temperature=default_t)
                        draws.append(out[0, 0].double().cpu().numpy())
                std = np.std(np.stack(draws), axis=0, ddof=1)
                err = np.abs(np.clip(draws[0], 0, 1) - np.clip(hr, 0, 1))
                r = spearmanr(_shaved(std, scale).ravel(), _shaved(err, scale).ravel())
                rho.setdefault(scale, []).append(float(r.statistic))
        rows = quality_table(acc)
        for row in rows:
            row["raps_d"] = round(float(np.mean(spectral[(f"{data}:{row['method']}",
                                                          row["scale"])])), 2)
        tables[data] = rows
    return {"data": {"wv2": WV2_DATA, "photos": PHOTO_DATA}, "seed": 0,
            "steps": moe.describe()["steps"], "default_temperature": default_t,
            "tables": tables,
            "uncertainty": {"samples": UNCERTAINTY_SAMPLES, "temperature": default_t,
                            "spearman_std_vs_abs_error": {
                                str(s): round(float(np.mean(v)), 3) for s, v in rho.items()}},
            "expert_usage": usage.report(block_names(net))}


def run(out_dir: Path, quick: bool) -> dict[str, Any]:
    """Bench entry: speed/memory at x2 and x4; quality and expert usage unless ``quick``."""
    result: dict[str, Any] = {"entry": "moe", "threads": threads(), "speed": speed(quick)}
    if not quick:
        result["quality"] = evaluate()
    return result


if __name__ == "__main__":  # pragma: no cover - manual use: python -m engine.bench.moe
    print(json.dumps(run(Path("build/bench"), quick="--quick" in sys.argv), indent=2))
