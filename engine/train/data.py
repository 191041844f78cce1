"""Self-supervised training pairs (HR crop, LR, scale) cut from the user's own rasters.

Shared by every family's trainer (LMLTE, LDCSR, MoE). No torch ``DataLoader`` workers: pairs are
cut in the main process from rasters held in memory, so a run is reproducible from its seed alone
and costs no extra process on small machines.

API::

    from engine.train.data import load_sources, PairSampler, validation_pairs

    sources = load_sources(["a.tif", "b.tif"], holdout=0.1)   # list[Source], per-band normalised
    sampler = PairSampler(sources, lr_patch=48, scale_range=(1.0, 4.0), channels=1, seed=0)
    batch = sampler.batch(16)          # list[Pair]; Pair.hr (C, H, W), Pair.lr (C, h, w), Pair.scale
    batch = sampler.batch(16, same_scale=True)   # one scale for the whole batch (stackable HR)
    aniso = PairSampler(sources, lr_patch=48, per_axis=0.5, seed=0)  # half the pairs per-axis
    val = validation_pairs(sources, lr_patch=64, scales=(2, 3, 4), per_source=4, channels=1)

Conventions (the same as inference, so a trained model sees what it will see later):

* Values are per-band normalised with :func:`engine.normalization.compute_band_stats` (0.1 / 99.9
  percentiles of the valid pixels of each band of each raster, computed once per raster) and
  :func:`engine.normalization.normalize`: in-range data lies in [0, 1], nothing is clamped.
* The LR image is the HR crop downsampled with :func:`engine.degradation.downsample`
  (antialiased bicubic), exactly ``(lr_patch, lr_patch)`` pixels; the HR crop is
  ``round(lr_patch * s)`` pixels, so the true per-axis scale is ``hr_size / lr_patch``.
* Scales: uniform in ``scale_range`` by default; ``scale_weights`` biases the draw towards
  sub-ranges (e.g. ``{(2, 4): 0.7}``).
* Per-axis scales: with ``per_axis=p`` a fraction p of the pairs draws sy and sx independently
  (each uniform in ``scale_range``); the HR crop is ``round(lr_patch * sy)`` x
  ``round(lr_patch * sx)`` and the LR is the per-axis antialiased bicubic downsample to
  ``(lr_patch, lr_patch)``, the degradation ``evaluate`` applies at ``--scale-x/--scale-y``.
  Without them the network only ever sees square cells and does poorly on non-square ones.
* Nodata-aware: a crop is accepted only when at most ``max_invalid`` of its pixels are nodata,
  non-finite, or (for ``mask_zero`` sources) exactly zero; invalid pixels in an accepted crop are
  filled with the crop's valid mean and reported in ``Pair.valid`` so losses can ignore them.
* Augmentation: random horizontal / vertical flips and transposes (the 8 dihedral symmetries),
  applied to the HR crop before degradation.
* Band handling: ``channels=1`` makes every band of every raster its own single-channel sample
  (band-wise models, any band count); ``channels=k`` draws k distinct bands of one raster (kept in
  band order); ``channels=None`` takes all bands (all sources must have the same band count).
* Hold-out: ``holdout`` keeps the last fraction of each raster's rows for validation; training
  crops never touch them and :func:`validation_pairs` cuts only from them.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import torch
from osgeo import gdal

from engine import normalization
from engine.degradation import downsample
from engine.errors import InputError, ParameterError

gdal.UseExceptions()


@dataclass
class Source:
    """One raster in memory.

    Attributes:
        path: where it was read from.
        data: (bands, rows, cols) float32, per-band normalised (in-range data in [0, 1]).
        valid: (rows, cols) bool, True where every band holds data.
        train_rows: rows [0, train_rows) are for training, the rest is the validation hold-out.
    """

    path: str
    data: np.ndarray
    valid: np.ndarray
    train_rows: int

    @property
    def bands(self) -> int:
        return int(self.data.shape[0])

    def __post_init__(self) -> None:
        # Integral image of invalid pixels: the invalid count of any window in O(1).
        inv = (~self.valid).astype(np.int64)
        self._integral = np.zeros((inv.shape[0] + 1, inv.shape[1] + 1), np.int64)
        self._integral[1:, 1:] = inv.cumsum(0).cumsum(1)

    def invalid_count(self, top: int, left: int, height: int, width: int) -> int:
        """Number of invalid pixels in the window (top, left, height, width)."""
        s = self._integral
        return int(s[top + height, left + width] - s[top, left + width]
                   - s[top + height, left] + s[top, left])


@dataclass
class Pair:
    """One training pair.

    Attributes:
        hr: (C, H, W) float32 tensor, normalised HR crop.
        lr: (C, h, w) float32 tensor, its antialiased bicubic downsample.
        scale: (H / h, W / w).
        valid: (H, W) bool tensor, False on nodata pixels of the HR crop.
        source: index of the source raster; bands: the band indices used.
    """

    hr: torch.Tensor
    lr: torch.Tensor
    scale: tuple[float, float]
    valid: torch.Tensor
    source: int
    bands: tuple[int, ...]


def _normalise(data: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Per-band normalisation of ``data`` (bands, rows, cols) exactly as inference does it."""
    stats = normalization.compute_band_stats(data, valid)
    return np.asarray(normalization.normalize(data, stats), dtype=np.float32)


def load_sources(paths: Sequence[str | os.PathLike[str]], *, holdout: float = 0.0,
                 bands: Sequence[int] | None = None, mask_zero: bool = False,
                 min_size: int = 16) -> list[Source]:
    """Read rasters into memory, per-band normalised, with their valid-pixel masks.

    Args:
        paths: GDAL-readable rasters (any band count and data type).
        holdout: fraction of rows at the bottom of each raster kept for validation (0 to 0.5).
        bands: 1-based band indices to keep (default: all).
        mask_zero: also treat exact zeros as nodata (for products with a zero-filled collar but
            no nodata value).
        min_size: smallest usable raster side.

    Raises:
        InputError: a file is missing, unreadable or too small.
        ParameterError: ``holdout`` outside [0, 0.5].
    """
    if not 0.0 <= holdout <= 0.5:
        raise ParameterError(f"holdout {holdout} must be between 0 and 0.5")
    if not paths:
        raise InputError("no training rasters given: pass one or more files with --data")
    out = []
    for p in paths:
        path = str(p)
        if not Path(path).is_file():
            raise InputError(f"training raster '{path}' does not exist: check the --data paths")
        try:
            ds = gdal.Open(path)
        except RuntimeError as exc:
            raise InputError(f"cannot read training raster '{path}' ({str(exc)[:120]}): give a "
                             "GDAL-readable raster") from exc
        idx = list(bands) if bands else list(range(1, ds.RasterCount + 1))
        if any(b < 1 or b > ds.RasterCount for b in idx):
            raise ParameterError(f"band selection {idx} does not fit '{path}' "
                                 f"({ds.RasterCount} bands)")
        if min(ds.RasterXSize, ds.RasterYSize) < min_size:
            raise InputError(f"training raster '{path}' is {ds.RasterXSize}x{ds.RasterYSize} "
                             f"pixels: rasters must be at least {min_size} pixels on each side")
        raw = np.stack([ds.GetRasterBand(b).ReadAsArray().astype(np.float64) for b in idx])
        valid = np.isfinite(raw).all(0)
        for k, b in enumerate(idx):
            nd = ds.GetRasterBand(b).GetNoDataValue()
            if nd is not None:
                valid &= ~(raw[k] == nd) if not math.isnan(nd) else ~np.isnan(raw[k])
        if mask_zero:
            valid &= ~(raw == 0).all(0)
        ds = None
        if not valid.any():
            raise InputError(f"training raster '{path}' has no valid pixel: check its nodata "
                             "value")
        data = _normalise(raw, valid)
        data[:, ~valid] = 0.0
        rows = data.shape[1]
        train_rows = rows - int(round(rows * holdout))
        out.append(Source(path, data, valid, train_rows))
    return out


class PairSampler:
    """Random (HR crop, LR, scale) pairs from training rows of ``sources``; seeded, reproducible.

    Args:
        sources: from :func:`load_sources`.
        lr_patch: LR side in pixels (the HR side is ``round(lr_patch * scale)``).
        scale_range: (min, max) scale, both >= 1.
        channels: 1 (band-wise samples), k (k bands of one raster) or None (all bands).
        seed: RNG seed; the same seed gives the same pairs.
        max_invalid: largest accepted fraction of nodata pixels in an HR crop.
        augment: random flips / transposes.
        scale_weights: optional {(lo, hi): weight} mixture replacing the uniform draw.
        source_weights: optional per-source sampling weights (default: proportional to the number
            of training pixels times bands, so a big PAN raster is not drowned by small ones).
        per_axis: fraction (0..1) of pairs with independent row / column scales.
    """

    def __init__(self, sources: Sequence[Source], *, lr_patch: int = 48,
                 scale_range: tuple[float, float] = (1.0, 4.0), channels: int | None = 1,
                 seed: int = 0, max_invalid: float = 0.0, augment: bool = True,
                 scale_weights: Mapping[tuple[float, float], float] | None = None,
                 source_weights: Sequence[float] | None = None, tries: int = 200,
                 per_axis: float = 0.0) -> None:
        if lr_patch < 2:
            raise ParameterError("lr_patch must be at least 2 pixels")
        lo, hi = float(scale_range[0]), float(scale_range[1])
        if not 1.0 <= lo <= hi:
            raise ParameterError(f"scale range {scale_range} must satisfy 1 <= min <= max")
        self.sources = list(sources)
        self.lr_patch = lr_patch
        self.scale_range = (lo, hi)
        if not 0.0 <= float(per_axis) <= 1.0:
            raise ParameterError(f"per_axis {per_axis} must be a fraction between 0 and 1")
        self.per_axis = float(per_axis)
        self.channels = channels
        self.max_invalid = max_invalid
        self.augment = augment
        self.tries = tries
        self.rng = np.random.default_rng(seed)
        self.scale_weights = dict(scale_weights) if scale_weights else None
        # A raster too small for the largest crops still serves the smaller scales.
        hr_min = int(round(lr_patch * lo))
        usable = [i for i, s in enumerate(self.sources)
                  if s.train_rows >= hr_min and s.data.shape[2] >= hr_min]
        if not usable:
            raise InputError(f"no training raster is large enough for {hr_min}x{hr_min} HR crops "
                             f"(lr_patch {lr_patch} x scale {lo}): use a smaller patch or scale")
        if channels is None and len({self.sources[i].bands for i in usable}) > 1:
            raise ParameterError("channels=None needs rasters with the same band count")
        if channels is not None and channels > 1 and any(self.sources[i].bands < channels
                                                         for i in usable):
            raise ParameterError(f"channels={channels} needs rasters with at least that many "
                                 "bands")
        self.usable = usable
        if source_weights is None:
            w = np.array([self.sources[i].train_rows * self.sources[i].data.shape[2]
                          * (self.sources[i].bands if channels == 1 else 1) for i in usable],
                         np.float64)
        else:
            w = np.array([source_weights[i] for i in usable], np.float64)
        self.source_p = w / w.sum()

    def state(self) -> dict:
        """RNG state (for resuming a run exactly)."""
        return self.rng.bit_generator.state

    def set_state(self, state: dict) -> None:
        self.rng.bit_generator.state = state

    def draw_scale(self) -> float:
        lo, hi = self.scale_range
        if self.scale_weights:
            ranges = list(self.scale_weights)
            p = np.array([self.scale_weights[r] for r in ranges], np.float64)
            r = ranges[int(self.rng.choice(len(ranges), p=p / p.sum()))]
            lo, hi = max(lo, float(r[0])), min(hi, float(r[1]))
        return float(self.rng.uniform(lo, hi))

    def draw_scales(self) -> tuple[float, float]:
        """(sy, sx): equal, or with probability ``per_axis`` independent and uniform."""
        # The extra draw happens only when per-axis pairs are asked for, so runs without them
        # keep the pair sequence of their seed.
        if self.per_axis > 0 and self.rng.uniform() < self.per_axis:
            lo, hi = self.scale_range
            return float(self.rng.uniform(lo, hi)), float(self.rng.uniform(lo, hi))
        s = self.draw_scale()
        return s, s

    def pair(self, scale: float | tuple[float, float] | None = None) -> Pair:
        """One random pair (at ``scale``, one factor or (sy, sx), when given)."""
        if scale is None:
            sy, sx = self.draw_scales()
        elif isinstance(scale, (int, float)):
            sy = sx = float(scale)
        else:
            sy, sx = float(scale[0]), float(scale[1])
        hr_h = max(self.lr_patch, int(round(self.lr_patch * sy)))
        hr_w = max(self.lr_patch, int(round(self.lr_patch * sx)))
        limit = int(self.max_invalid * hr_h * hr_w)
        for _ in range(self.tries):
            k = self.usable[int(self.rng.choice(len(self.usable), p=self.source_p))]
            src = self.sources[k]
            if src.train_rows < hr_h or src.data.shape[2] < hr_w:
                continue
            top = int(self.rng.integers(0, src.train_rows - hr_h + 1))
            left = int(self.rng.integers(0, src.data.shape[2] - hr_w + 1))
            if src.invalid_count(top, left, hr_h, hr_w) <= limit:
                break
        else:
            raise InputError("could not find a training crop with enough valid pixels: the "
                             "rasters are mostly nodata; use larger rasters or a smaller patch")
        bands = self._bands(src)
        hr = src.data[list(bands), top:top + hr_h, left:left + hr_w]
        valid = src.valid[top:top + hr_h, left:left + hr_w]
        hr, valid = _fill_invalid(hr, valid)
        if self.augment:
            # A transpose swaps the axes of a per-axis crop: the scale is read from the result.
            hr, valid = _dihedral(hr, valid, int(self.rng.integers(0, 8)))
        hr_t = torch.from_numpy(np.ascontiguousarray(hr))
        lr_t = degrade(hr_t, (self.lr_patch, self.lr_patch))
        return Pair(hr_t, lr_t, (hr_t.shape[-2] / self.lr_patch, hr_t.shape[-1] / self.lr_patch),
                    torch.from_numpy(np.ascontiguousarray(valid)), k, bands)

    def batch(self, size: int, *, same_scale: bool = False) -> list[Pair]:
        """``size`` pairs; with ``same_scale`` they share one scale (stackable tensors)."""
        s = self.draw_scales() if same_scale else None
        return [self.pair(s) for _ in range(size)]

    def _bands(self, src: Source) -> tuple[int, ...]:
        if self.channels is None:
            return tuple(range(src.bands))
        if self.channels == 1:
            return (int(self.rng.integers(0, src.bands)),)
        return tuple(sorted(int(b) for b in self.rng.choice(src.bands, self.channels,
                                                             replace=False)))


def band_wise_data(cfg: Mapping[str, Any]) -> tuple[PairSampler, list[Pair]]:
    """The training pair sampler and the fixed validation pairs of a band-wise trainer's config
    (the common keys of :mod:`engine.train.config`)."""
    from engine.train.config import scale_weights

    mask = bool(cfg["mask_zero"])
    sources = load_sources(cfg["data"], holdout=0.0 if cfg.get("val") else float(cfg["holdout"]),
                           bands=cfg["bands"], mask_zero=mask)
    val_sources = (load_sources(cfg["val"], holdout=0.5, bands=cfg["bands"], mask_zero=mask)
                   if cfg.get("val") else sources)
    sampler = PairSampler(sources, lr_patch=int(cfg["lr_patch"]),
                          scale_range=(float(cfg["scale_min"]), float(cfg["scale_max"])),
                          channels=1, seed=int(cfg["seed"]),
                          max_invalid=float(cfg["max_invalid"]),
                          scale_weights=scale_weights(cfg),
                          per_axis=float(cfg.get("per_axis") or 0.0))
    val = validation_pairs(val_sources, lr_patch=int(cfg["val_patch"]),
                           scales=[s if isinstance(s, (int, float)) else tuple(s)
                                   for s in cfg["val_scales"]],
                           per_source=int(cfg["val_per_source"]), channels=1,
                           max_invalid=float(cfg["max_invalid"]))
    return sampler, val


def stack_pairs(pairs: Sequence[Pair]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(hr (B, C, H, W), lr (B, C, h, w), valid (B, 1, H, W) float) of same-scale pairs.

    The sampler's random transposes turn an H x W per-axis crop into W x H; those are transposed
    back (one more dihedral augmentation), so any batch of one scale stacks.
    """
    shape = pairs[0].hr.shape[-2:]
    fit = [(p.hr, p.lr, p.valid) if p.hr.shape[-2:] == shape else
           (p.hr.transpose(-1, -2), p.lr.transpose(-1, -2), p.valid.transpose(-1, -2))
           for p in pairs]
    return (torch.stack([f[0] for f in fit]), torch.stack([f[1] for f in fit]),
            torch.stack([f[2] for f in fit])[:, None].float())


def degrade(hr: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Antialiased bicubic downsample of ``hr`` (C, H, W) to ``size`` (h, w), shared with eval."""
    return downsample(hr[None], size)[0].contiguous()


def _fill_invalid(hr: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    # Nodata would otherwise ring through the bicubic kernel; the crop's mean is the mildest fill.
    if valid.all():
        return hr, valid
    hr = hr.copy()
    for c in range(hr.shape[0]):
        hr[c][~valid] = float(hr[c][valid].mean()) if valid.any() else 0.0
    return hr, valid


def _dihedral(hr: np.ndarray, valid: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Apply symmetry ``k`` (0..7) of the square: bit 0 = vflip, bit 1 = hflip, bit 2 = transpose."""
    if k & 1:
        hr, valid = hr[:, ::-1], valid[::-1]
    if k & 2:
        hr, valid = hr[:, :, ::-1], valid[:, ::-1]
    if k & 4:
        hr, valid = hr.transpose(0, 2, 1), valid.T
    return hr, valid


def validation_pairs(sources: Sequence[Source], *, lr_patch: int = 64,
                     scales: Sequence[float | Sequence[float]] = (2.0, 3.0, 4.0),
                     per_source: int = 4,
                     channels: int | None = 1, seed: int = 1234,
                     max_invalid: float = 0.0) -> list[Pair]:
    """A fixed validation set cut from the hold-out rows (or whole rasters when holdout is 0).

    The same arguments always give the same pairs; no augmentation. A scale is one factor or a
    per-axis pair (sy, sx). Sources whose hold-out is too small for a crop at a scale are
    skipped at that scale.
    """
    rng = np.random.default_rng(seed)
    pairs = []
    for k, src in enumerate(sources):
        top0 = src.train_rows if src.train_rows < src.data.shape[1] else 0
        rows = src.data.shape[1] - top0
        for s in scales:
            sy, sx = (float(s), float(s)) if isinstance(s, (int, float)) else map(float, s)
            hr_h, hr_w = int(round(lr_patch * sy)), int(round(lr_patch * sx))
            if rows < hr_h or src.data.shape[2] < hr_w:
                continue
            got = 0
            for _ in range(per_source * 50):
                if got == per_source:
                    break
                top = top0 + int(rng.integers(0, rows - hr_h + 1))
                left = int(rng.integers(0, src.data.shape[2] - hr_w + 1))
                if src.invalid_count(top, left, hr_h, hr_w) > max_invalid * hr_h * hr_w:
                    continue
                if channels is None:
                    bands: tuple[int, ...] = tuple(range(src.bands))
                elif channels == 1:
                    bands = (int(rng.integers(0, src.bands)),)
                else:
                    bands = tuple(range(min(channels, src.bands)))
                hr, valid = _fill_invalid(src.data[list(bands), top:top + hr_h,
                                                   left:left + hr_w],
                                          src.valid[top:top + hr_h, left:left + hr_w])
                hr_t = torch.from_numpy(np.ascontiguousarray(hr))
                pairs.append(Pair(hr_t, degrade(hr_t, (lr_patch, lr_patch)),
                                  (hr_h / lr_patch, hr_w / lr_patch),
                                  torch.from_numpy(np.ascontiguousarray(valid)), k, bands))
                got += 1
    return pairs


__all__ = ["Pair", "PairSampler", "Source", "degrade", "load_sources", "validation_pairs"]
