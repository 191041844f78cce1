"""Pure tile / halo / crop arithmetic of the raster pipeline (no GDAL, no torch).

Coordinates: the input (LR) raster is ``w`` x ``h`` pixels, the output ``out_w`` x ``out_h``.
Along one axis the effective scale is ``s = out_n / n`` and output pixel ``j`` is centred at LR
position ``c_j = (j + 0.5) * n / out_n`` (LR pixel units, 0 = left/top edge). Every function here
is per axis; a 2-D tile is the product of two axis spans.

Tiles partition the OUTPUT raster exactly: LR tile boundaries ``k * tile`` map to output
boundaries ``round(k * tile * s)`` (monotone, so no gaps and no overlaps). Each tile is rendered
from an LR crop holding the LR pixels its output centres fall in plus ``halo`` pixels of context
on each side (clipped to the raster), which is what makes a tiled result equal to the untiled one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


def output_size(n: int, scale: float) -> int:
    """Output pixels along an axis of ``n`` input pixels at ``scale``: ``round(n * scale)``, >= 1."""
    return max(1, int(round(n * scale)))


@dataclass(frozen=True)
class Span:
    """One axis of a tile.

    Attributes:
        out0, out1: output pixels [out0, out1) this tile owns (the partition).
        ext0, ext1: output pixels [ext0, ext1) it renders (owned + blending overlap).
        crop0, crop1: LR pixels [crop0, crop1) it reads (centres of the rendered pixels + halo).
    """

    out0: int
    out1: int
    ext0: int
    ext1: int
    crop0: int
    crop1: int

    @property
    def size(self) -> int:
        return self.out1 - self.out0

    @property
    def ext_size(self) -> int:
        return self.ext1 - self.ext0

    @property
    def crop_size(self) -> int:
        return self.crop1 - self.crop0


def centres(j0: int, j1: int, n: int, out_n: int) -> np.ndarray:
    """LR positions (float64) of the centres of output pixels [j0, j1)."""
    return (np.arange(j0, j1, dtype=np.float64) + 0.5) * (n / out_n)


def crop_for(j0: int, j1: int, n: int, out_n: int, halo: int, align: int = 1) -> tuple[int, int]:
    """LR pixels [c0, c1) that contain the centres of output pixels [j0, j1), +halo, clipped.

    With ``align`` > 1 the crop is widened so that both ends are multiples of ``align`` (or the
    raster edge): with ``align = alignment(n, out_n)`` a crop then maps to a whole number of
    output pixels that coincide with the global output grid.
    """
    if j1 <= j0:
        raise ValueError("empty output span")
    ratio = n / out_n
    first = math.floor((j0 + 0.5) * ratio)
    last = math.floor((j1 - 0.5) * ratio)
    c0 = max(0, min(first, n - 1) - halo)
    c1 = min(n, min(last, n - 1) + 1 + halo)
    if align > 1:
        c0 = (c0 // align) * align
        c1 = min(n, -(-c1 // align) * align)
    return c0, c1


def alignment(n: int, out_n: int, limit: int = 64) -> int:
    """Smallest LR period q such that q * out_n / n is an integer (1 when larger than ``limit``).

    Crops starting at multiples of q have output grids that coincide with the global one.
    """
    q = n // math.gcd(n, out_n)
    return q if q <= limit else 1


def split_axis(n: int, out_n: int, tile: int, *, halo: int = 0, overlap: int = 0,
               align: int = 1) -> list[Span]:
    """Split one axis of ``n`` LR pixels (``out_n`` output pixels) into tiles of ``tile`` LR pixels.

    Args:
        n: input pixels (>= 1).
        out_n: output pixels (>= 1).
        tile: LR pixels per tile (>= 1); the last tile may be shorter.
        halo: LR context pixels each side of a crop.
        overlap: output pixels each tile renders beyond its own span for feather blending
            (0 for exact point-query rendering).
        align: crop alignment (see :func:`crop_for`).
    """
    if n < 1 or out_n < 1 or tile < 1:
        raise ValueError("sizes must be positive")
    s = out_n / n
    bounds = [0]
    k = 1
    while k * tile < n:
        b = int(round(k * tile * s))
        if bounds[-1] < b < out_n:
            bounds.append(b)
        k += 1
    bounds.append(out_n)
    spans = []
    for out0, out1 in zip(bounds[:-1], bounds[1:]):
        ext0 = max(0, out0 - overlap)
        ext1 = min(out_n, out1 + overlap)
        c0, c1 = crop_for(ext0, ext1, n, out_n, halo, align)
        spans.append(Span(out0, out1, ext0, ext1, c0, c1))
    return spans


def split_output_axis(n: int, out_n: int, block: int, *, halo: int = 0, overlap: int = 0,
                      align: int = 1) -> list[Span]:
    """Split one OUTPUT axis into blocks of ``block`` output pixels (the last may be shorter).

    Unlike :func:`split_axis` the boundaries are multiples of ``block`` in output pixels, so that
    with ``block`` a multiple of the output GeoTIFF's block size every tile writes whole blocks
    (and per-block part files line up with the output's own blocks).
    """
    if n < 1 or out_n < 1 or block < 1:
        raise ValueError("sizes must be positive")
    spans = []
    for out0 in range(0, out_n, block):
        out1 = min(out_n, out0 + block)
        ext0 = max(0, out0 - overlap)
        ext1 = min(out_n, out1 + overlap)
        c0, c1 = crop_for(ext0, ext1, n, out_n, halo, align)
        spans.append(Span(out0, out1, ext0, ext1, c0, c1))
    return spans


def feather(span: Span, overlap: int) -> np.ndarray:
    """Blend weights (float32, length ``span.ext_size``) of a tile along one axis.

    Inside a 2*overlap band centred on each internal tile boundary the weight ramps linearly, so
    that the weights of the two neighbours sum to exactly 1 at every output pixel; elsewhere 1.
    """
    w = np.ones(span.ext_size, dtype=np.float32)
    if overlap <= 0:
        return w
    j = np.arange(span.ext0, span.ext1, dtype=np.float64)
    if span.ext0 < span.out0:  # left neighbour exists; band [out0 - ov, out0 + ov)
        lo = span.out0 - overlap
        w = np.minimum(w, np.clip((j - lo + 0.5) / (2 * overlap), 0, 1).astype(np.float32))
    if span.ext1 > span.out1:  # right neighbour exists; band [out1 - ov, out1 + ov)
        hi = span.out1 + overlap
        w = np.minimum(w, np.clip((hi - j - 0.5) / (2 * overlap), 0, 1).astype(np.float32))
    return w


def nearest_input(j0: int, j1: int, n: int, out_n: int) -> np.ndarray:
    """Index (int64) of the LR pixel that contains each output centre of [j0, j1)."""
    return np.minimum(np.floor(centres(j0, j1, n, out_n)).astype(np.int64), n - 1)


def scaled_geotransform(gt: tuple[float, ...] | list[float], w: int, h: int,
                        out_w: int, out_h: int) -> tuple[float, ...]:
    """Geotransform of the output grid covering exactly the same extent as ``gt``.

    Origin unchanged; the x column terms (gt[1], gt[4]) scale by w / out_w, the y terms (gt[2],
    gt[5]) by h / out_h, which keeps rotated grids rotated by the same angle.
    """
    fx, fy = w / out_w, h / out_h
    return (float(gt[0]), float(gt[1]) * fx, float(gt[2]) * fy,
            float(gt[3]), float(gt[4]) * fx, float(gt[5]) * fy)


def pixel_size(gt: tuple[float, ...] | list[float]) -> tuple[float, float]:
    """(x, y) pixel size in map units of a (possibly rotated) geotransform, both positive."""
    return math.hypot(gt[1], gt[4]), math.hypot(gt[2], gt[5])


__all__ = ["Span", "alignment", "centres", "crop_for", "feather", "nearest_input", "output_size",
           "pixel_size", "scaled_geotransform", "split_axis", "split_output_axis"]
