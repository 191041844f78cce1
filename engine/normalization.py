"""Per-band value scaling shared by inference and training.

Models see every band mapped by ``(x - lo) / (hi - lo)`` where ``lo`` / ``hi`` are the 0.1 and
99.9 percentiles of the band's valid pixels. The statistics are computed ONCE per raster (from a
decimated read of at most ~4 Mpixel) and reused for every tile, so tiles agree with each other.
Nothing is clamped: values outside [lo, hi] fall slightly outside [0, 1] and come back exactly
through :func:`denormalize`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

#: Percentiles that define the [0, 1] range of a band.
LOW_PERCENTILE = 0.1
HIGH_PERCENTILE = 99.9
#: Decimated reads for statistics stay under this many pixels per band.
MAX_STATS_PIXELS = 4_000_000


@dataclass(frozen=True)
class BandStats:
    """Value range of one band: ``lo`` maps to 0, ``hi`` to 1 (``hi > lo`` always)."""

    lo: float
    hi: float

    @property
    def span(self) -> float:
        return self.hi - self.lo


def band_stats(values: np.ndarray, valid: np.ndarray | None = None) -> BandStats:
    """Statistics of one band: ``values`` (H, W) any numeric dtype, ``valid`` (H, W) bool."""
    a = np.asarray(values)
    if a.dtype.kind in "iub":
        # Integers are exact and finite: percentiles of the native values are the same numbers
        # as of a float64 copy, without the copy (memory stays small on large rasters).
        sample = a.ravel() if valid is None else a[np.asarray(valid, dtype=bool)]
    else:
        v = a.astype(np.float64, copy=False)
        ok = np.isfinite(v)
        if valid is not None:
            ok &= np.asarray(valid, dtype=bool)
        sample = v[ok]
    if sample.size == 0:
        return BandStats(0.0, 1.0)
    lo, hi = np.percentile(sample, (LOW_PERCENTILE, HIGH_PERCENTILE))
    lo, hi = float(lo), float(hi)
    if not hi > lo:
        hi = lo + 1.0
    return BandStats(lo, hi)


def compute_band_stats(values: np.ndarray, valid_mask: np.ndarray | None = None) -> list[BandStats]:
    """Per-band statistics of ``values`` (C, H, W) or (H, W) with an optional valid mask.

    ``valid_mask`` is (H, W) shared by all bands or (C, H, W) per band; NaN/inf are always
    invalid. A band with no valid pixel gets (0, 1); a constant band gets (v, v + 1).
    """
    arr = np.asarray(values)
    if arr.ndim == 2:
        arr = arr[None]
    mask = None if valid_mask is None else np.asarray(valid_mask, dtype=bool)
    out = []
    for b in range(arr.shape[0]):
        m = None if mask is None else (mask[b] if mask.ndim == 3 else mask)
        out.append(band_stats(arr[b], m))
    return out


def _coeffs(stats: Sequence[BandStats], ndim: int, axis: int) -> tuple[np.ndarray, np.ndarray]:
    lo = np.array([s.lo for s in stats], dtype=np.float64)
    span = np.array([s.span for s in stats], dtype=np.float64)
    shape = [1] * ndim
    shape[axis] = len(stats)
    return lo.reshape(shape), span.reshape(shape)


def _band_axis(ndim: int) -> int:
    # (C, H, W) -> 0, (B, C, H, W) -> 1, (H, W) -> a single band
    return 1 if ndim == 4 else 0


def normalize(x: np.ndarray, stats: Sequence[BandStats] | BandStats) -> np.ndarray:
    """``(x - lo) / (hi - lo)`` per band as float32, unclamped.

    ``x``: (C, H, W), (B, C, H, W) or (H, W) with a single :class:`BandStats`.
    """
    if isinstance(stats, BandStats):
        stats = [stats]
    a = np.asarray(x, dtype=np.float64)
    if a.ndim == 2:
        lo, span = stats[0].lo, stats[0].span
        return ((a - lo) / span).astype(np.float32)
    lo_, span_ = _coeffs(stats, a.ndim, _band_axis(a.ndim))
    return ((a - lo_) / span_).astype(np.float32)


def denormalize(y: np.ndarray, stats: Sequence[BandStats] | BandStats) -> np.ndarray:
    """Inverse of :func:`normalize`: ``y * (hi - lo) + lo`` as float64 (caller casts/clips)."""
    if isinstance(stats, BandStats):
        stats = [stats]
    a = np.asarray(y, dtype=np.float64)
    if a.ndim == 2:
        return a * stats[0].span + stats[0].lo
    lo_, span_ = _coeffs(stats, a.ndim, _band_axis(a.ndim))
    return a * span_ + lo_


def decimation_step(width: int, height: int, max_pixels: int = MAX_STATS_PIXELS) -> int:
    """Integer stride so that a strided read of a ``width`` x ``height`` band is <= max_pixels."""
    step = 1
    while (-(-width // step)) * (-(-height // step)) > max_pixels:
        step += 1
    return step


__all__ = ["BandStats", "band_stats", "compute_band_stats", "decimation_step", "denormalize",
           "normalize", "LOW_PERCENTILE", "HIGH_PERCENTILE", "MAX_STATS_PIXELS"]
