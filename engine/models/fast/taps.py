"""Where the ``fast`` model's resampling reads: tap indices and weights along one axis (NumPy,
float64), shared by the PyTorch network (:mod:`engine.models.fast.resample`) and the torch-free
CPU runtime (:mod:`engine.models.fast.runtime`), so both read the same pixels with the same
weights.

Positions are pixel-centre coordinates in LR pixel units from the top (left) edge: the centre of
LR pixel i is at i + 0.5, so an output centre p samples the LR signal at u = p - 0.5. Borders
replicate the edge pixel (GDAL's behaviour at raster edges).
"""

from __future__ import annotations

import numpy as np

#: Keys' cubic convolution parameter; -0.5 is GDAL's and Keys' (PyTorch's bicubic uses -0.75).
CUBIC_A = -0.5

#: LR pixels the cubic taps reach beyond the pixel an output centre falls in.
CUBIC_REACH = 2

#: LR pixels one block of outputs spans in the banded products: small enough that a block's
#: zeros cost little, large enough for efficient products.
BAND = 24


def _cubic(t: np.ndarray) -> np.ndarray:
    """Keys' cubic kernel at distances ``t`` (any sign)."""
    a, t = CUBIC_A, np.abs(t)
    near = ((a + 2) * t - (a + 3)) * t * t + 1
    far = ((a * t - 5 * a) * t + 8 * a) * t - 4 * a
    return np.where(t <= 1, near, np.where(t < 2, far, 0.0))


def taps(positions: np.ndarray, size: int, kernel: str) -> tuple[np.ndarray, np.ndarray]:
    """(indices (n, T) int64, weights (n, T) float64) of the kernel's taps for ``positions``
    (n,).

    ``kernel``: ``"cubic"`` (4 taps) or ``"linear"`` (2 taps); indices are clamped to the axis
    (edge replication), weights sum to one.
    """
    u = np.asarray(positions, dtype=np.float64) - 0.5
    base = np.floor(u)
    frac = u - base
    if kernel == "cubic":
        offsets = np.arange(-1, 3, dtype=np.float64)
        weights = _cubic(frac[:, None] - offsets[None, :])
    elif kernel == "linear":
        offsets = np.arange(0, 2, dtype=np.float64)
        weights = np.stack([1 - frac, frac], axis=1)
    else:
        raise ValueError(f"unknown kernel '{kernel}'")
    index = np.clip((base[:, None] + offsets[None, :]).astype(np.int64), 0, size - 1)
    return index, weights


def halo(layers: int) -> int:
    """LR pixels of context per tile side for a seamless tiled result: the CNN's radius (one
    per 3x3 convolution), the cubic reach, and one of margin."""
    return int(layers) + CUBIC_REACH + 1


def phase(positions: np.ndarray) -> np.ndarray:
    """Fractional part of ``positions - 0.5``: where a centre falls between two LR centres."""
    u = np.asarray(positions, dtype=np.float64) - 0.5
    return u - np.floor(u)


__all__ = ["BAND", "CUBIC_A", "CUBIC_REACH", "halo", "phase", "taps"]
