"""PSNR over valid pixels with a border shave.

Arrays are (C, H, W) or (H, W) floats in a common value scale; ``data_range`` is the peak
(1.0 for per-band normalised values). The mean squared error is taken over all bands' valid
pixels after removing ``shave`` pixels on each side (the SR convention: shave = ceil(scale)).
"""

from __future__ import annotations

import math

import numpy as np


def shave_mask(shape: tuple[int, ...], shave: int) -> np.ndarray:
    """Bool mask (H, W) of pixels at least ``shave`` pixels away from the border."""
    h, w = shape[-2:]
    m = np.zeros((h, w), bool)
    if 2 * shave < h and 2 * shave < w:
        m[shave:h - shave, shave:w - shave] = True
    return m


def as_bands(pred: np.ndarray, ref: np.ndarray, valid: np.ndarray | None
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """``pred``, ``ref`` as float64 (C, H, W) and ``valid`` broadcast to that shape (or None)."""
    p = np.asarray(pred, np.float64)
    r = np.asarray(ref, np.float64)
    if p.shape != r.shape:
        raise ValueError(f"shapes differ: {p.shape} vs {r.shape}")
    if p.ndim == 2:
        p, r = p[None], r[None]
    v = None
    if valid is not None:
        v = np.asarray(valid, bool)
        v = np.broadcast_to(v if v.ndim == 3 else v[None], p.shape)
    return p, r, v


def psnr(pred: np.ndarray, ref: np.ndarray, *, valid: np.ndarray | None = None,
         data_range: float = 1.0, shave: int = 0) -> float:
    """Peak signal-to-noise ratio in dB (inf for identical images).

    ``valid``: (H, W) or (C, H, W) bool, False pixels are ignored.
    """
    p, r, v = as_bands(pred, ref, valid)
    m = np.broadcast_to(shave_mask(p.shape, shave), p.shape).copy()
    if v is not None:
        m &= v
    m &= np.isfinite(p) & np.isfinite(r)
    if not m.any():
        return float("nan")
    mse = float(np.mean((p[m] - r[m]) ** 2))
    if mse == 0:
        return float("inf")
    return 10.0 * math.log10(data_range ** 2 / mse)


__all__ = ["as_bands", "psnr", "shave_mask"]
