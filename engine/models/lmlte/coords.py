"""LMLTE query coordinates and cells: the one place that defines them.

Bit-exact parity with the official LMF code rests on these numbers (``tests/data/lmlte/``): the
last bit of a pixel centre decides which LR pixel is "nearest" where an output centre coincides
with an LR centre, and the cell enters the network's phase input.

Conventions (LIIF): coordinates are pixel centres in (-1, 1) of the LR extent, ``[..., 0]`` = row
(y), ``[..., 1]`` = column (x); a cell is the output pixel size in the same units (2/H, 2/W),
multiplied above the training scale by the cell clip ``max(max(sy, sx) / 4, 1)``.

The functions accept traced sizes (0-dim tensors that ``torch.jit.trace`` hands out for
``x.shape``) as well as ints, and build every size-dependent tensor with tensor operations, so an
exported graph keeps them as graph values instead of freezing the traced size.
"""

from __future__ import annotations

from typing import Any

import torch

#: Highest training scale of the official models (the cell clip and CMSR start above it).
MAX_TRAIN_SCALE = 4


def _float64(n: Any) -> torch.Tensor:
    """A size (int or traced 0-dim tensor) as a float64 scalar tensor."""
    if isinstance(n, torch.Tensor):
        return n.to(torch.float64)
    return torch.scalar_tensor(float(n), dtype=torch.float64)


def make_coord_axis(n: Any, device: torch.device | str | None = None) -> torch.Tensor:
    """Pixel-centre coordinates of an axis of ``n`` pixels in (-1, 1), float32, shape (n,).

    ``float32(-1 + 1/n) + float32(2/n) * i``, the official ``make_coord`` values bit for bit.
    """
    n64 = _float64(n)
    start = (1.0 / n64 - 1.0).float()
    step = (2.0 / n64).float()
    count = n if isinstance(n, torch.Tensor) else int(n)
    return (start + step * torch.arange(count, dtype=torch.float32)).to(device)


def make_coord(h: Any, w: Any, device: torch.device | str | None = None) -> torch.Tensor:
    """Grid of pixel centres, (h, w, 2) float32, ``[..., 0]`` = row, ``ij`` indexing."""
    return coord_grid(make_coord_axis(h, device), make_coord_axis(w, device))


def coord_grid(ys: torch.Tensor, xs: torch.Tensor) -> torch.Tensor:
    """The query points of the grid ``ys`` x ``xs``: (len(ys), len(xs), 2), ``[..., 0]`` = row."""
    return torch.stack(torch.meshgrid(ys, xs, indexing="ij"), dim=-1)


def size_tensor(h: Any, w: Any, dtype: torch.dtype,
                device: torch.device | str | None = None) -> torch.Tensor:
    """``(h, w)`` as a (2,) tensor (sizes stay graph values in a traced graph)."""
    return torch.stack((_float64(h), _float64(w))).to(dtype=dtype, device=device)


def cell_factor(scale_y: float, scale_x: float, clip: float = MAX_TRAIN_SCALE) -> float:
    """The reference cell clip: ``max(max(sy, sx) / clip, 1)`` (cells beyond x4 stay at x4 size)."""
    return max(max(scale_y, scale_x) / clip, 1.0)


def cell_size(n_out: int, factor: float) -> float:
    """Cell of a whole-image query along an axis of ``n_out`` output pixels.

    ``float32(float32(2/n) * float32(factor))``, exactly what the reference computes.
    """
    c = torch.tensor(2 / n_out, dtype=torch.float32) * torch.tensor(factor, dtype=torch.float32)
    return float(c)


def image_query(h: int, w: int, out_h: int, out_w: int, *, clip: float = MAX_TRAIN_SCALE,
                device: torch.device | str | None = None,
                ) -> tuple[torch.Tensor, torch.Tensor, tuple[float, float]]:
    """The official test protocol for an (h, w) -> (out_h, out_w) upscale.

    Returns:
        ys (out_h,), xs (out_w,) float32 pixel centres and the clipped cell (cy, cx).
    """
    factor = cell_factor(out_h / h, out_w / w, clip)
    cell = (cell_size(out_h, factor), cell_size(out_w, factor))
    return make_coord_axis(out_h, device), make_coord_axis(out_w, device), cell


def grid_query(h: int, w: int, rows: torch.Tensor, cols: torch.Tensor,
               pixel: tuple[float, float], *, clip: float = MAX_TRAIN_SCALE,
               device: torch.device | str | None = None,
               ) -> tuple[torch.Tensor, torch.Tensor, tuple[float, float]]:
    """Query of output pixels centred at LR positions ``rows`` x ``cols`` (LR pixel units).

    ``coord = -1 + 2 * rows / h`` (and cols / w), computed in float64 and rounded to float32;
    ``cell = float32(2 * dy / h * factor)`` with the cell clip of the scale ``(1/dy, 1/dx)``.
    """
    dy, dx = float(pixel[0]), float(pixel[1])
    factor = cell_factor(1.0 / dy, 1.0 / dx, clip)
    cell = (float(torch.tensor(2 * dy / h * factor, dtype=torch.float32)),
            float(torch.tensor(2 * dx / w * factor, dtype=torch.float32)))
    ys = (-1 + 2 * torch.as_tensor(rows).to(torch.float64) / h).to(device=device,
                                                                      dtype=torch.float32)
    xs = (-1 + 2 * torch.as_tensor(cols).to(torch.float64) / w).to(device=device,
                                                                      dtype=torch.float32)
    return ys, xs, cell


#: Output pixels whose height and width differ by less than this fraction count as square: the
#: rounding of output sizes (500 x 501 at x2 -> 1000 x 1002 ...) makes equal scales differ by a
#: fraction of a percent, where the two routes of an LMLTE agree (and a second route would
#: double the time for nothing); per-axis requests differ by far more.
SQUARE_TOLERANCE = 0.01


def non_square_pixels(h: int, w: int, cell_yx: tuple[float, float]) -> bool:
    """True when the output pixels of a query on an (h, w) input are not square in LR pixels
    (``--scale-x`` != ``--scale-y``, beyond :data:`SQUARE_TOLERANCE`): the case where the
    direct and the transposed route of an LMLTE differ and the models render both
    (``axis_ensemble``)."""
    dy, dx = cell_yx[0] * h, cell_yx[1] * w
    return abs(dy - dx) > SQUARE_TOLERANCE * max(dy, dx)


__all__ = ["MAX_TRAIN_SCALE", "SQUARE_TOLERANCE", "cell_factor", "cell_size", "coord_grid",
           "grid_query", "image_query", "make_coord", "make_coord_axis", "non_square_pixels",
           "size_tensor"]
