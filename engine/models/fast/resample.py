"""Separable resampling of LR images at arbitrary output pixel centres.

An upscaled grid is separable: every output row has one position along y and every column one
along x, whatever the (fractional, per-axis) scale. Resampling is then two 1-D passes of a few
taps each, gathered with ``index_select``: ``taps`` gathers per output pixel instead of the
whole-image matrix products or ``grid_sample``'s per-pixel 2-D kernels, which is what makes the
``fast`` model run at GDAL's speed.

Positions are pixel-centre coordinates in LR pixel units from the top (left) edge: the centre of
LR pixel i is at i + 0.5, so an output centre p samples the LR signal at u = p - 0.5. Borders
replicate the edge pixel (GDAL's behaviour at raster edges).
"""

from __future__ import annotations

import torch

#: Keys' cubic convolution parameter; -0.5 is GDAL's and Keys' (PyTorch's bicubic uses -0.75).
CUBIC_A = -0.5


def _cubic(t: torch.Tensor) -> torch.Tensor:
    """Keys' cubic kernel at distances ``t`` (any sign)."""
    a, t = CUBIC_A, t.abs()
    near = ((a + 2) * t - (a + 3)) * t * t + 1
    far = ((a * t - 5 * a) * t + 8 * a) * t - 4 * a
    return torch.where(t <= 1, near, torch.where(t < 2, far, torch.zeros_like(t)))


def taps(positions: torch.Tensor, size: int, kernel: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(indices (n, T) long, weights (n, T)) of the kernel's taps for ``positions`` (n,).

    ``kernel``: ``"cubic"`` (4 taps) or ``"linear"`` (2 taps); indices are clamped to the axis
    (edge replication), weights sum to one.
    """
    u = positions.to(torch.float64) - 0.5
    base = torch.floor(u)
    frac = u - base
    if kernel == "cubic":
        offsets = torch.arange(-1, 3, dtype=torch.float64, device=u.device)
        weights = _cubic(frac[:, None] - offsets[None, :])
    elif kernel == "linear":
        offsets = torch.arange(0, 2, dtype=torch.float64, device=u.device)
        weights = torch.stack([1 - frac, frac], dim=1)
    else:
        raise ValueError(f"unknown kernel '{kernel}'")
    index = (base[:, None] + offsets[None, :]).long().clamp_(0, size - 1)
    return index, weights


def _pass(x: torch.Tensor, index: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """One 1-D pass along dim 2 (rows): whole rows are gathered, which is contiguous memory.
    ``weights``: (n, T), or (C, n, T) for per-channel weights."""
    w = weights.to(x.dtype)[..., None]  # (n, T, 1) or (C, n, T, 1)
    out = x.index_select(2, index[:, 0]) * w[..., 0, :]
    for k in range(1, index.shape[1]):
        out.addcmul_(x.index_select(2, index[:, k]), w[..., k, :])
    return out


def resample(x: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor,
             kernel: str = "cubic", row_gain: torch.Tensor | None = None,
             col_gain: torch.Tensor | None = None) -> torch.Tensor:
    """``x`` (B, C, h, w) sampled at ``rows`` (H,) x ``cols`` (W,) -> (B, C, H, W).

    ``row_gain`` (C, H) and ``col_gain`` (C, W), when given, multiply channel c of output pixel
    (i, j) by row_gain[c, i] * col_gain[c, j], folded into the passes' weights for free.
    """
    return resample_t(x, rows, cols, kernel, row_gain, col_gain).transpose(2, 3)


def resample_t(x: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor,
               kernel: str = "cubic", row_gain: torch.Tensor | None = None,
               col_gain: torch.Tensor | None = None) -> torch.Tensor:
    """:func:`resample`, returned transposed and contiguous: (B, C, W, H). Sums of several
    resamplings are cheapest in this layout (one transpose at the end)."""
    iy, wy = taps(rows.to(x.device), x.shape[-2], kernel)
    ix, wx = taps(cols.to(x.device), x.shape[-1], kernel)
    if row_gain is not None:
        wy = wy.to(row_gain.dtype)[None] * row_gain[:, :, None]
    if col_gain is not None:
        wx = wx.to(col_gain.dtype)[None] * col_gain[:, :, None]
    t = _pass(x, iy, wy)
    # Columns: transposed, so that this pass gathers rows as well (a strided gather along the
    # last dimension is several times slower).
    return _pass(t.transpose(2, 3).contiguous(), ix, wx)


def phase(positions: torch.Tensor) -> torch.Tensor:
    """Fractional part of ``positions - 0.5``: where a centre falls between two LR centres."""
    u = positions.to(torch.float64) - 0.5
    return u - torch.floor(u)


def centres(n_out: int, n_in: int) -> torch.Tensor:
    """Centres of ``n_out`` output pixels spread over ``n_in`` LR pixels, float64 (n_out,)."""
    return (torch.arange(n_out, dtype=torch.float64) + 0.5) * (n_in / n_out)


__all__ = ["CUBIC_A", "centres", "phase", "resample", "resample_t", "taps"]
