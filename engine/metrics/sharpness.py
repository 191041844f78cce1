"""Sharpness: the gradient-magnitude ratio of an SR image to its HR reference.

GMR = mean |Sobel(SR)| / mean |Sobel(HR)| on 2-D arrays (1 = as sharp as HR, below 1 = blurrier,
above 1 = over-sharpened or noisy).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage


def gradient_magnitude(a: np.ndarray) -> np.ndarray:
    """Per-pixel Sobel gradient magnitude of a 2-D array."""
    return np.hypot(ndimage.sobel(a, 0), ndimage.sobel(a, 1))


def gradient_ratio(sr: np.ndarray, hr: np.ndarray) -> float:
    """GMR = mean |Sobel(sr)| / mean |Sobel(hr)| for 2-D arrays."""
    return float(gradient_magnitude(sr).mean()) / max(float(gradient_magnitude(hr).mean()), 1e-12)


__all__ = ["gradient_magnitude", "gradient_ratio"]
