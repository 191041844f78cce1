"""Separable resampling of LR images at arbitrary output pixel centres (PyTorch).

An upscaled grid is separable: every output row has one position along y and every column one
along x, whatever the (fractional, per-axis) scale. Resampling is then two 1-D passes with a few
taps per output pixel (:func:`taps`, defined once in :mod:`engine.models.fast.taps`), instead of
``grid_sample``'s per-pixel 2-D kernels; the passes run as products with banded matrices
(``summed_resampling``), which is what makes the ``fast`` model run at GDAL's speed.
"""

from __future__ import annotations

import torch

from engine.models.fast import taps as geometry
from engine.models.fast.taps import BAND, CUBIC_A


def taps(positions: torch.Tensor, size: int, kernel: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(indices (n, T) long, weights (n, T) float64) of the kernel's taps for ``positions`` (n,)
    on their device (:func:`engine.models.fast.taps.taps`)."""
    index, weights = geometry.taps(positions.detach().cpu().numpy(), size, kernel)
    return (torch.from_numpy(index).to(positions.device),
            torch.from_numpy(weights).to(positions.device))


def phase(positions: torch.Tensor) -> torch.Tensor:
    """Fractional part of ``positions - 0.5`` (float64, on their device)."""
    return torch.from_numpy(geometry.phase(positions.detach().cpu().numpy())).to(positions.device)


def centres(n_out: int, n_in: int) -> torch.Tensor:
    """Centres of ``n_out`` output pixels spread over ``n_in`` LR pixels, float64 (n_out,)."""
    return (torch.arange(n_out, dtype=torch.float64) + 0.5) * (n_in / n_out)


# --- Summed resamplings as banded matrix products --------------------------------------------
#
# The model's output is a sum of separable resamplings of several planes (its cubic base and K
# gain-weighted linear ones). Gathering taps costs little arithmetic but streams full-size
# planes through memory once per tap and plane, which made resampling most of the model's time
# at x4. The sum is instead two products with banded matrices: columns first, on the LR rows,
# then rows, with all planes stacked into the inner dimension so that the sum over planes
# happens inside the product. Each block of outputs becomes a small dense matrix over the
# ``BAND`` (+ kernel reach) LR pixels it reads: a few times more multiply-adds than the taps, at
# matrix-product speed, and no full-size intermediates.

#: One axis of a summed resampling: per group of planes, (tap indices (n, T), tap weights
#: (planes, n, T)), e.g. ``taps`` of the cubic kernel for one plane and of the linear kernel,
#: times per-plane gains, for K more.
AxisTaps = list[tuple[torch.Tensor, torch.Tensor]]


def _blocks(axis: AxisTaps) -> list[tuple[int, int, int, int, torch.Tensor]]:
    """(o0, o1, lo, hi, matrix (S, o1 - o0, hi - lo)) per block of outputs along one axis:
    outputs o0..o1 read LR pixels lo..hi of the S stacked planes. Outputs are blocked by their
    first tap (positions increase along an axis); lo..hi covers every tap of the block."""
    n = axis[0][0].shape[0]
    first = axis[0][0][:, 0].contiguous()
    blocks = []
    o0 = 0
    while o0 < n:
        o1 = int(torch.searchsorted(first, first[o0] + BAND))
        o1 = min(max(o1, o0 + 1), n)
        lo = min(int(idx[o0:o1].min()) for idx, _ in axis)
        hi = max(int(idx[o0:o1].max()) for idx, _ in axis) + 1
        mats = []
        for idx, w in axis:
            planes = w.shape[0]
            m = w.new_zeros(planes, o1 - o0, hi - lo)
            # Adding: clamped edge taps that land on the same pixel sum (edge replication).
            mats.append(m.scatter_add(2, (idx[o0:o1] - lo).expand(planes, -1, -1),
                                      w[:, o0:o1]))
        blocks.append((o0, o1, lo, hi, torch.cat(mats)))
        o0 = o1
    return blocks


def summed_resampling(planes: torch.Tensor, rows: AxisTaps, cols: AxisTaps) -> torch.Tensor:
    """sum over s of planes[:, s] resampled with the s-th rows x cols weights.

    ``planes`` (N, S, h, w); ``rows`` and ``cols`` stack S planes in the order of ``planes``.
    Returns (N, H, W), contiguous. Differentiable (training uses it too).
    """
    n, s, h, _ = planes.shape
    height, width = rows[0][0].shape[0], cols[0][0].shape[0]
    # Columns, on the LR rows, into (N, h, S, W): every row band of it is then one contiguous
    # (band * S, W) matrix for the second product.
    t = planes.new_empty(n, h, s, width)
    for j0, j1, lo, hi, m in _blocks(cols):
        t[..., j0:j1] = torch.matmul(planes[..., lo:hi], m.transpose(1, 2)).transpose(1, 2)
    out = planes.new_empty(n, height, width)
    for i0, i1, lo, hi, m in _blocks(rows):
        lhs = m.permute(1, 2, 0).reshape(i1 - i0, (hi - lo) * s)  # (rows, band x planes)
        out[:, i0:i1] = torch.matmul(lhs, t[:, lo:hi].reshape(n, (hi - lo) * s, width))
    return out


def resample(x: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor,
             kernel: str = "cubic") -> torch.Tensor:
    """``x`` (B, C, h, w) sampled at ``rows`` (H,) x ``cols`` (W,) -> (B, C, H, W)."""
    b, c, h, w = x.shape
    iy, wy = taps(rows.to(x.device), h, kernel)
    ix, wx = taps(cols.to(x.device), w, kernel)
    out = summed_resampling(x.reshape(b * c, 1, h, w), [(iy, wy.to(x.dtype)[None])],
                            [(ix, wx.to(x.dtype)[None])])
    return out.reshape(b, c, *out.shape[-2:])


__all__ = ["BAND", "CUBIC_A", "AxisTaps", "centres", "phase", "resample", "summed_resampling",
           "taps"]
