"""The one degradation model: antialiased bicubic downsampling.

``evaluate`` makes its LR input with it and training makes its LR/HR pairs with it, so a model is
measured on exactly the degradation it was trained for. Antialiasing (a widened bicubic kernel,
as PIL / MATLAB ``imresize`` do) avoids aliasing at large factors.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def downsample(hr: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Antialiased bicubic resize of ``hr`` (B, C, H, W) float to ``size`` = (h, w).

    Same dtype and device as the input (half precision is computed in float32). Values are not
    clamped: the bicubic overshoot is part of the degradation.
    """
    if hr.ndim != 4:
        raise ValueError(f"downsample expects (B, C, H, W), got shape {tuple(hr.shape)}")
    h, w = int(size[0]), int(size[1])
    if h < 1 or w < 1:
        raise ValueError(f"downsample size must be positive, got {size}")
    x = hr if hr.dtype in (torch.float32, torch.float64) else hr.float()
    out = F.interpolate(x, size=(h, w), mode="bicubic", antialias=True, align_corners=False)
    return out.to(hr.dtype) if hr.is_floating_point() else out


def downsample_numpy(hr: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """:func:`downsample` for numpy arrays (H, W), (C, H, W) or (B, C, H, W); float32 result."""
    a = np.asarray(hr, dtype=np.float32)
    ndim = a.ndim
    t = torch.from_numpy(np.ascontiguousarray(a))
    while t.ndim < 4:
        t = t[None]
    out = downsample(t, size).numpy()
    return out.reshape(out.shape[4 - ndim:]) if ndim < 4 else out


def scaled_size(height: int, width: int, scale: float | tuple[float, float]) -> tuple[int, int]:
    """LR size for an HR of (height, width) at ``scale`` (sy, sx): round(H / sy), round(W / sx)."""
    sy, sx = (scale, scale) if isinstance(scale, (int, float)) else scale
    return max(1, round(height / sy)), max(1, round(width / sx))


__all__ = ["downsample", "downsample_numpy", "scaled_size"]
