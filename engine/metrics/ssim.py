"""SSIM (Wang et al. 2004) with an 11x11 Gaussian window (sigma 1.5), K1 = 0.01, K2 = 0.03.

Computed per band on (C, H, W) or (H, W) float arrays after cutting off the ``shave`` border
(the SR convention); the SSIM map is averaged over pixels whose whole window is valid and lies
inside the image (as in scikit-image's ``gaussian_weights=True`` variant, which it matches).
Bands are averaged.
"""

from __future__ import annotations

import numpy as np

from engine.metrics.psnr import as_bands, shave_mask

SIGMA = 1.5
RADIUS = 5  # 11x11 window


def ssim_map(a: np.ndarray, b: np.ndarray, data_range: float = 1.0) -> np.ndarray:
    """SSIM map of two (H, W) arrays (float64, same shape)."""
    # scipy is imported here, not at module level: the CLI imports every command (this module
    # via evaluate) at start-up, and scipy costs every upscale 0.1-0.2 s.
    from scipy import ndimage

    def blur(x: np.ndarray) -> np.ndarray:
        return ndimage.gaussian_filter(x, SIGMA, truncate=RADIUS / SIGMA, mode="reflect")

    a = a.astype(np.float64)
    b = b.astype(np.float64)
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    # Sample covariances (n / (n - 1)) as in the reference implementation.
    n = (2 * RADIUS + 1) ** 2
    cov_norm = n / (n - 1)
    ma, mb = blur(a), blur(b)
    vaa = cov_norm * (blur(a * a) - ma * ma)
    vbb = cov_norm * (blur(b * b) - mb * mb)
    vab = cov_norm * (blur(a * b) - ma * mb)
    return ((2 * ma * mb + c1) * (2 * vab + c2)) / ((ma ** 2 + mb ** 2 + c1) * (vaa + vbb + c2))


def ssim(pred: np.ndarray, ref: np.ndarray, *, valid: np.ndarray | None = None,
         data_range: float = 1.0, shave: int = 0) -> float:
    """Mean SSIM over valid, unshaved pixels, averaged over bands."""
    p, r, v = as_bands(pred, ref, valid)
    if shave > 0:
        # SR convention: the border is cut off before SSIM is computed.
        cut = (slice(None), slice(shave, -shave), slice(shave, -shave))
        p, r = p[cut], r[cut]
        v = None if v is None else v[cut]
    if min(p.shape[-2:]) < 2 * RADIUS + 1:
        return float("nan")
    from scipy import ndimage

    base = shave_mask(p.shape, RADIUS)
    scores = []
    for c in range(p.shape[0]):
        ok = np.isfinite(p[c]) & np.isfinite(r[c])
        if v is not None:
            ok &= v[c]
        # A window touching an invalid pixel is not a valid comparison.
        ok_win = ndimage.binary_erosion(ok, np.ones((2 * RADIUS + 1,) * 2, bool),
                                        border_value=1)
        m = base & ok_win
        if not m.any():
            continue
        smap = ssim_map(np.where(ok, p[c], 0.0), np.where(ok, r[c], 0.0), data_range)
        scores.append(float(smap[m].mean()))
    return float(np.mean(scores)) if scores else float("nan")


__all__ = ["ssim", "ssim_map"]
