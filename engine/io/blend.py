"""Feather-blending accumulator for one band of tile rows at a time.

Tiles are processed row by row. Each tile adds ``weight * values`` and ``weight`` over the output
pixels it rendered; once no later tile can touch a row, the row is final and handed to the
writer. Memory is (channels + 2) x out_width x (tile rows + overlap) floats: bounded by the tile
size and the raster width, never by the raster height.
"""

from __future__ import annotations

import numpy as np

from engine.io.windows import Span


class RowAccumulator:
    """Weighted sums of rendered tiles over output rows [base, base + rows).

    Args:
        channels: bands of the output.
        width: output width (pixels).
    """

    def __init__(self, channels: int, width: int) -> None:
        self.channels = channels
        self.width = width
        self.base = 0
        self.acc = np.zeros((channels, 0, width), np.float32)
        self.wsum = np.zeros((0, width), np.float32)
        self.valid = np.ones((channels, 0, width), bool)

    def extend_to(self, row_end: int) -> None:
        """Make room for output rows up to ``row_end`` (exclusive)."""
        have = self.base + self.wsum.shape[0]
        if row_end <= have:
            return
        extra = row_end - have
        self.acc = np.concatenate([self.acc, np.zeros((self.channels, extra, self.width),
                                                      np.float32)], axis=1)
        self.wsum = np.concatenate([self.wsum, np.zeros((extra, self.width), np.float32)])
        self.valid = np.concatenate([self.valid, np.ones((self.channels, extra, self.width),
                                                         bool)], axis=1)

    def add(self, ys: Span, xs: Span, values: np.ndarray, wy: np.ndarray, wx: np.ndarray,
            valid: np.ndarray) -> None:
        """Add a tile: ``values`` (C, ys.ext_size, xs.ext_size) with separable weights wy, wx;
        ``valid`` (C, ys.size, xs.size) is the output validity of the pixels the tile owns."""
        self.extend_to(ys.ext1)
        r0, r1 = ys.ext0 - self.base, ys.ext1 - self.base
        if r0 < 0:
            raise ValueError("tile rows already written")
        w = wy[:, None] * wx[None, :]
        self.acc[:, r0:r1, xs.ext0:xs.ext1] += values * w[None]
        self.wsum[r0:r1, xs.ext0:xs.ext1] += w
        o0, o1 = ys.out0 - self.base, ys.out1 - self.base
        self.valid[:, o0:o1, xs.out0:xs.out1] = valid

    def pop(self, row_end: int) -> tuple[int, np.ndarray, np.ndarray]:
        """Remove and return the final rows [base, row_end): (first_row, values, valid)."""
        n = row_end - self.base
        first = self.base
        w = self.wsum[:n]
        values = self.acc[:, :n] / np.where(w > 0, w, 1.0)[None]
        valid = self.valid[:, :n]
        self.acc = self.acc[:, n:].copy()
        self.wsum = self.wsum[n:].copy()
        self.valid = self.valid[:, n:].copy()
        self.base = row_end
        return first, values, valid


__all__ = ["RowAccumulator"]
