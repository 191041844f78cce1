"""The plan: the output raster cut into blocks, each with its input window and seed.

A block owns a rectangle of output pixels (the partition). Its boundaries are multiples of the
block size in OUTPUT pixels, and the default block size is a multiple of the output GeoTIFF's
256-pixel blocks, so a block writes whole GeoTIFF blocks and per-block part files line up with
the output's own blocks. Each block also knows:

* the output pixels it renders (``ext``): its own, plus a blending overlap for crop-based
  (diffusion) models, none for point-query models (exact rendering needs no blending);
* the input window it reads (``crop``): the LR pixels its rendered centres fall in, plus the
  model's halo;
* a seed derived from its global position, so stochastic models give the same pixels whatever
  the block order, the number of workers or the machine that renders it.

The plan is a pure function of the raster size, scale, model geometry, block size and seed: the
driver and every worker compute the same blocks, and a resumed run recognises finished ones.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from engine.io.windows import Span, alignment, split_output_axis

#: Default output block side in pixels (2 x 2 blocks of the output GeoTIFF). A model card can
#: set its own default in input pixels (option ``tile``, e.g. ``fast``).
DEFAULT_OUTPUT_TILE = 512
#: Block size of the output GeoTIFF (gdal_raster.creation_options).
GEOTIFF_BLOCK = 256
#: Largest blending overlap, in LR pixels, of crop-based models.
MAX_BLEND_HALO = 8


@dataclass(frozen=True)
class BlockSpec:
    """One block: output pixels ``ys.out0:out1 x xs.out0:out1``, rendered region and crop."""

    row: int
    col: int
    ys: Span
    xs: Span
    seed: int

    @property
    def name(self) -> str:
        """Deterministic name of the block (its part file is ``<name>.tif``)."""
        return f"r{self.row:05d}_c{self.col:05d}"


@dataclass(frozen=True)
class Plan:
    """All blocks of one job, row-major, and the geometry they share."""

    width: int
    height: int
    out_w: int
    out_h: int
    block_w: int
    block_h: int
    overlap_x: int
    overlap_y: int
    blended: bool
    rows: tuple[Span, ...]
    cols: tuple[Span, ...]
    seed: int

    @property
    def blocks(self) -> list[BlockSpec]:
        return [BlockSpec(r, c, ys, xs, block_seed(self.seed, ys.ext0, xs.ext0))
                for r, ys in enumerate(self.rows) for c, xs in enumerate(self.cols)]

    def __len__(self) -> int:
        return len(self.rows) * len(self.cols)

    def neighbours(self, block: BlockSpec) -> list[BlockSpec]:
        """Blocks whose rendered region overlaps ``block``'s own pixels (itself included),
        row-major: the blending order, fixed so that the sums are the same in every run."""
        out = []
        for r in range(max(0, block.row - 1), min(len(self.rows), block.row + 2)):
            for c in range(max(0, block.col - 1), min(len(self.cols), block.col + 2)):
                ys, xs = self.rows[r], self.cols[c]
                if (ys.ext0 < block.ys.out1 and ys.ext1 > block.ys.out0
                        and xs.ext0 < block.xs.out1 and xs.ext1 > block.xs.out0):
                    out.append(BlockSpec(r, c, ys, xs, block_seed(self.seed, ys.ext0, xs.ext0)))
        return out


def block_seed(seed: int, row: int, col: int) -> int:
    """Seed of the block whose rendered region starts at output (row, col): reproducible."""
    return int((seed * 1_000_003 + row * 65_537 + col * 257) % (2**31 - 1))


def block_size(tile: int | None, scale: float) -> int:
    """Output block side along one axis for a ``tile`` given in INPUT pixels (None = default).

    Sizes of a GeoTIFF block or more are rounded to whole GeoTIFF blocks.
    """
    if tile is None:
        return DEFAULT_OUTPUT_TILE
    size = max(8, int(round(tile * scale)))
    if size >= GEOTIFF_BLOCK:
        size = int(round(size / GEOTIFF_BLOCK)) * GEOTIFF_BLOCK
    return size


def make_plan(width: int, height: int, out_w: int, out_h: int, *, halo: int, grid: bool,
              tile: int | None = None, seed: int = 0) -> Plan:
    """Blocks of a ``width`` x ``height`` -> ``out_w`` x ``out_h`` job.

    Args:
        halo: the model's LR context pixels (``SRModel.halo``).
        grid: the model renders arbitrary output points (exact, no blending needed).
        tile: block side in input pixels (default: 512 output pixels).
        seed: the job's seed; each block derives its own from it and its position.
    """
    sx, sy = out_w / width, out_h / height
    bw, bh = block_size(tile, sx), block_size(tile, sy)
    ov_x = 0 if grid else int(math.ceil(min(halo, MAX_BLEND_HALO) * sx))
    ov_y = 0 if grid else int(math.ceil(min(halo, MAX_BLEND_HALO) * sy))
    # Crop-based models: crops aligned so that their output grid is a subset of the global one.
    ax = 1 if grid else alignment(width, out_w)
    ay = 1 if grid else alignment(height, out_h)
    cols = split_output_axis(width, out_w, bw, halo=halo, overlap=ov_x, align=ax)
    rows = split_output_axis(height, out_h, bh, halo=halo, overlap=ov_y, align=ay)
    blended = not grid and (len(cols) > 1 or len(rows) > 1)
    return Plan(width, height, out_w, out_h, bw, bh, ov_x, ov_y, blended, tuple(rows),
                tuple(cols), seed)


__all__ = ["BlockSpec", "DEFAULT_OUTPUT_TILE", "Plan", "block_seed", "block_size", "make_plan"]
