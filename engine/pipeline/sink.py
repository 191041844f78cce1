"""Sinks: where rendered blocks go, and the step from normalised values to output pixels.

* :func:`to_output` turns a block's normalised float values into the output data type (rounded,
  clipped), writes nodata where the nearest input pixel is invalid, and keeps every VALID pixel
  off the nodata value.
* Final parts: one GeoTIFF per block, exactly the output's type, bands, nodata and metadata,
  georeferenced in place (workers, ``--resume``, ``.vrt`` outputs).
* Blend parts: crop-based (diffusion) blocks render beyond their own pixels; each writes its
  normalised float values over its rendered region, plus the validity of its own pixels, and
  :func:`blend_block` later sums the overlapping parts with feather weights, always in the
  same (row-major) order, so the result is the same whatever order the blocks were rendered in.

Part files are written to a temporary name and renamed: a part that exists is complete.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
from osgeo import gdal

from engine.errors import InputError
from engine.io import gdal_raster as gr
from engine.io.windows import feather
from engine.normalization import BandStats, denormalize
from engine.pipeline.plan import BlockSpec, Plan

#: Rows denormalised at a time: keeps the float64 temporaries small.
_ROWS = 64


def to_output(values: np.ndarray, valid: np.ndarray, stats: Sequence[BandStats],
              info: gr.RasterInfo, write_mask: bool) -> tuple[np.ndarray, np.ndarray | None]:
    """Output pixels (C, h, w) in the raster's type, and the mask band's (h, w) or None.

    A valid pixel whose value rounds to the band's nodata value would silently disappear; it is
    moved to the nearest representable value next to it inside the valid range instead (one
    grey level for integers, one ulp for floats).
    """
    data = np.empty(values.shape, info.dtype)
    for r in range(0, values.shape[1], _ROWS):
        raw = denormalize(values[:, r:r + _ROWS], stats)
        data[:, r:r + _ROWS] = gr.to_dtype(raw, info.dtype)
    for c in range(data.shape[0]):
        nodata = info.nodata[c]
        band = data[c]
        if nodata is not None and np.isfinite(nodata):
            clash = valid[c] & (band == np.array(nodata).astype(info.dtype))
            if clash.any():
                band[clash] = _next_to(nodata, info.dtype)
        bad = ~valid[c]
        if bad.any():
            if nodata is not None:
                band[bad] = nodata
            elif info.dtype.kind == "f":
                band[bad] = np.nan
    mask = valid.any(0) if write_mask else None
    return data, mask


def _next_to(nodata: float, dtype: np.dtype) -> float:
    """The representable value of ``dtype`` nearest to ``nodata`` but different from it, on the
    side that stays in range (nodata at the type's minimum moves up, otherwise down)."""
    if dtype.kind == "f":
        v = np.array(nodata, dtype)
        lowest = np.finfo(dtype).min
        return float(np.nextafter(v, np.array(np.inf if v <= lowest else -np.inf, dtype)))
    lo = np.iinfo(dtype).min
    return nodata + 1 if nodata <= lo else nodata - 1


# ---------------------------------------------------------------------------------------------
# Part files


def part_path(folder: Path, block: BlockSpec, kind: str = "final") -> Path:
    """``<folder>/<block name>.tif`` (final pixels) or ``.blend.tif`` (float blend part)."""
    return folder / (f"{block.name}.tif" if kind == "final" else f"{block.name}.blend.tif")


def write_final_part(folder: Path, block: BlockSpec, info: gr.RasterInfo, plan: Plan,
                     data: np.ndarray, mask: np.ndarray | None) -> Path:
    """One block's output pixels as a georeferenced GeoTIFF (temporary name, then renamed)."""
    def create(tmp: Path) -> gdal.Dataset:
        return gr.create_output(tmp, info, plan.out_w, plan.out_h, write_mask=mask is not None,
                                window=(block.xs.out0, block.ys.out0, block.xs.size,
                                        block.ys.size))

    return _write_part(part_path(folder, block), create, data, mask)


def write_blend_part(folder: Path, block: BlockSpec, info: gr.RasterInfo, plan: Plan,
                     values: np.ndarray, valid: np.ndarray) -> Path:
    """A crop-based block's normalised values over its rendered region (bands 1..V) and the
    validity of its own pixels (bands V+1..V+C, 1 = valid), as Float32. V = C, or 2C with the
    standard deviation of an uncertainty run."""
    c = valid.shape[0]
    ys, xs = block.ys, block.xs
    flags = np.ones((c, ys.ext_size, xs.ext_size), np.float32)
    flags[:, ys.out0 - ys.ext0:ys.out1 - ys.ext0, xs.out0 - xs.ext0:xs.out1 - xs.ext0] = valid

    def create(tmp: Path) -> gdal.Dataset:
        ds = gr.create_geotiff(tmp, xs.ext_size, ys.ext_size, values.shape[0] + c,
                               gdal.GDT_Float32,
                               ["TILED=YES", "COMPRESS=DEFLATE", "PREDICTOR=3",
                                "BIGTIFF=IF_SAFER"])
        gr.set_georeferencing(ds, info, plan.out_w, plan.out_h, xs.ext0, ys.ext0)
        return ds

    data = np.concatenate([values.astype(np.float32), flags])
    return _write_part(part_path(folder, block, "blend"), create, data, None)


class UncertaintyOutput:
    """The ``--uncertainty`` raster: Float32, one band per output band, on the output's grid.

    Each band is the per-pixel standard deviation over the samples in the band's data units
    (normalised std x the band's span); :data:`UNCERTAINTY_NODATA` where the output is nodata.
    Written to a temporary name and moved into place by :meth:`finish`.
    """

    def __init__(self, path: Path, info: gr.RasterInfo, plan: Plan,
                 stats: Sequence[BandStats]) -> None:
        self.path, self.stats = path, list(stats)
        self.tmp = gr.temp_path(path)
        self.ds = gr.create_geotiff(self.tmp, plan.out_w, plan.out_h, len(stats),
                                    gdal.GDT_Float32, ["TILED=YES", "COMPRESS=DEFLATE",
                                                       "PREDICTOR=3", "BIGTIFF=IF_SAFER"])
        gr.set_georeferencing(self.ds, info, plan.out_w, plan.out_h)
        for i in range(len(stats)):
            band = self.ds.GetRasterBand(i + 1)
            band.SetNoDataValue(UNCERTAINTY_NODATA)
            name = info.descriptions[i] if i < len(info.descriptions) else ""
            band.SetDescription(f"std of {name or f'band {info.bands[i]}'}")
            if i < len(info.units) and info.units[i]:
                band.SetUnitType(info.units[i])
            if i < len(info.scales) and info.scales[i] not in (None, 1.0):
                band.SetScale(float(info.scales[i]))  # raw units, like the output's band

    def write(self, block: BlockSpec, std: np.ndarray, valid: np.ndarray) -> None:
        """A block's normalised std (C, h, w) and the validity of its output pixels."""
        span = np.array([s.span for s in self.stats], np.float64)[:, None, None]
        data = (std.astype(np.float64) * span).astype(np.float32)
        data[~valid] = UNCERTAINTY_NODATA
        gr.write_window(self.ds, block.xs.out0, block.ys.out0, data, None)

    def finish(self, *, overwrite: bool) -> None:
        gr.close(self.ds)
        self.ds = None
        gr.finalize(self.tmp, self.path, overwrite=overwrite)

    def close(self) -> None:
        """Drop the temporary file (a no-op after :meth:`finish`)."""
        with gr.quiet_gdal():
            self.ds = None
        gr.remove_quietly(self.tmp)


#: Nodata of the uncertainty raster: a standard deviation is never negative.
UNCERTAINTY_NODATA = -1.0


def _write_part(path: Path, create: Callable[[Path], gdal.Dataset], data: np.ndarray,
                mask: np.ndarray | None) -> Path:
    """Write a part under a temporary name and rename it: a part file that exists is whole."""
    tmp = gr.temp_path(path)
    ds = None
    try:
        ds = create(tmp)
        gr.write_window(ds, 0, 0, data, mask)
        gr.close(ds)
        ds = None
        os.replace(tmp, path)
    finally:
        with gr.quiet_gdal():
            ds = None
        gr.remove_quietly(tmp)
    return path


def read_part(path: Path) -> np.ndarray:
    """All bands of a part file (C, rows, cols)."""
    try:
        ds = gdal.Open(str(path))
        arr = ds.ReadAsArray()
    except RuntimeError as exc:
        raise InputError(f"part file '{path}' cannot be read ({str(exc).strip()[:120]}): "
                            "delete the parts folder and run again without --resume") from None
    return arr.reshape(ds.RasterCount, ds.RasterYSize, ds.RasterXSize)


def blend_block(folder: Path, plan: Plan, block: BlockSpec, channels: int
                ) -> tuple[np.ndarray, np.ndarray]:
    """Feather-blend the blend parts overlapping ``block``'s own pixels.

    Returns (values (V, h, w) normalised float32, valid (C, h, w) bool), ``channels`` = V value
    bands per part. The neighbours are summed in row-major order, the order a single process
    renders them in.
    """
    ys, xs = block.ys, block.xs
    acc = np.zeros((channels, ys.size, xs.size), np.float32)
    wsum = np.zeros((ys.size, xs.size), np.float32)
    valid = np.ones((0, ys.size, xs.size), bool)
    for nb in plan.neighbours(block):
        part = read_part(part_path(folder, nb, "blend"))
        r0, r1 = max(ys.out0, nb.ys.ext0), min(ys.out1, nb.ys.ext1)
        c0, c1 = max(xs.out0, nb.xs.ext0), min(xs.out1, nb.xs.ext1)
        wy = feather(nb.ys, plan.overlap_y)[r0 - nb.ys.ext0:r1 - nb.ys.ext0]
        wx = feather(nb.xs, plan.overlap_x)[c0 - nb.xs.ext0:c1 - nb.xs.ext0]
        w = wy[:, None] * wx[None, :]
        vals = part[:channels, r0 - nb.ys.ext0:r1 - nb.ys.ext0, c0 - nb.xs.ext0:c1 - nb.xs.ext0]
        acc[:, r0 - ys.out0:r1 - ys.out0, c0 - xs.out0:c1 - xs.out0] += vals * w[None]
        wsum[r0 - ys.out0:r1 - ys.out0, c0 - xs.out0:c1 - xs.out0] += w
        if nb.row == block.row and nb.col == block.col:
            own = part[channels:, ys.out0 - nb.ys.ext0:ys.out1 - nb.ys.ext0,
                       xs.out0 - nb.xs.ext0:xs.out1 - nb.xs.ext0]
            valid = own > 0.5
    return acc / np.where(wsum > 0, wsum, 1.0)[None], valid


__all__ = ["UNCERTAINTY_NODATA", "UncertaintyOutput", "blend_block", "part_path", "read_part", "to_output", "write_blend_part",
           "write_final_part"]
