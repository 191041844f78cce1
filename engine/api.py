"""``engine.enhance``: super-resolve a NumPy array in a notebook, with the raster pipeline's code.

The array goes through exactly what ``python -m engine upscale`` does (same statistics,
normalisation, band rule, tiling, nodata handling and data-type conversion, see
:mod:`engine.pipeline`): it is written to a temporary GeoTIFF, upscaled by
:func:`engine.pipeline.upscale_raster` and read back. The round trip through a local file costs
little next to the model and keeps a single implementation.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Sequence

import numpy as np

from engine.errors import ParameterError
from engine.models.sr_model import SRModel
from engine.progress import ProgressCallback, ignore

#: dtypes GeoTIFF cannot hold, mapped to the type they travel as (values converted back after).
_CARRIER = {np.dtype(np.bool_): np.dtype(np.uint8), np.dtype(np.int8): np.dtype(np.int16),
            np.dtype(np.float16): np.dtype(np.float32)}
#: What the raster pipeline reads (GDAL's 64-bit integer types are not among them).
_SUPPORTED = {np.dtype(t) for t in (np.uint8, np.uint16, np.int16, np.uint32, np.int32,
                                    np.float32, np.float64)}


def guess_layout(shape: Sequence[int]) -> str:
    """``"hw"``, ``"chw"`` or ``"hwc"`` for an array shape.

    3-D arrays: the axis with at most 16 entries is the band axis (the first one when both
    qualify, unless the last has 3 or 4 entries, the usual RGB(A) image layout).
    """
    if len(shape) == 2:
        return "hw"
    if len(shape) != 3:
        raise ParameterError(f"an array of shape {tuple(shape)} is not an image: give (H, W), "
                             "(C, H, W) or (H, W, C)")
    first, last = shape[0] <= 16, shape[-1] <= 16
    if first and last:
        return "hwc" if shape[-1] in (3, 4) and shape[0] not in (3, 4) else "chw"
    if first:
        return "chw"
    if last:
        return "hwc"
    raise ParameterError(f"cannot tell the band axis of shape {tuple(shape)}: pass layout='chw' "
                         "or layout='hwc'")


def enhance(array: np.ndarray, scale: float | tuple[float, float], *,
            model: str | os.PathLike[str] | SRModel | None = None, layout: str = "auto",
            device: str = "auto", tile: int | None = None, nodata: float | None = None,
            seed: int = 0, steps: int | None = None,
            progress: ProgressCallback = ignore) -> np.ndarray:
    """Super-resolve an image array; returns the same layout and dtype, scaled in size.

    Args:
        array: (H, W), (C, H, W) or (H, W, C), any numeric dtype (integers are rounded and
            clipped on the way back, as for rasters; NaN marks missing float pixels).
        scale: one factor, or (scale_y, scale_x); output size = round(H * sy) x round(W * sx).
        model: registered name, checkpoint or exported file path, or a loaded :class:`SRModel`
            (default: the bundled ``lmlte-default``).
        layout: ``"auto"`` (see :func:`guess_layout`), ``"hw"``, ``"chw"`` or ``"hwc"``.
        device: ``auto``, ``cpu``, ``cuda[:N]`` (ignored when ``model`` is already loaded).
        tile: tile side in input pixels (default: the pipeline's).
        nodata: value marking missing pixels (as a raster's nodata value).
        seed, steps: for the diffusion families.

    Returns:
        np.ndarray of dtype ``array.dtype``, layout as the input, H and W scaled.

    Raises:
        ParameterError: bad layout or scale; ModelError / DeviceError as :func:`load_model`.
    """
    from osgeo import gdal

    from engine.models.registry import load_model
    from engine.pipeline import resolve_scale, upscale_raster

    arr = np.asarray(array)
    layout = guess_layout(arr.shape) if layout == "auto" else layout
    if layout not in ("hw", "chw", "hwc") or len(layout) != arr.ndim:
        raise ParameterError(f"layout '{layout}' does not fit an array of shape {arr.shape}: "
                             "use 'hw' for 2-D, 'chw' or 'hwc' for 3-D arrays")
    bands = {"hw": arr[None], "chw": arr, "hwc": np.moveaxis(arr, -1, 0)}[layout]
    dtype = arr.dtype
    carrier = _CARRIER.get(dtype, dtype)
    if carrier not in _SUPPORTED:
        raise ParameterError(f"arrays of dtype {dtype} are not supported: convert the array to "
                             "float32 or int32 first (e.g. array.astype(numpy.float32))")
    sy, sx = (scale, scale) if np.isscalar(scale) else tuple(scale)  # type: ignore[misc]
    factors = resolve_scale(scale_x=float(sx), scale_y=float(sy))
    sr_model = model if isinstance(model, SRModel) else load_model(model, device=device)

    gdal.UseExceptions()
    with tempfile.TemporaryDirectory(prefix="arbsr-enhance-") as tmp:
        src, dst = Path(tmp) / "in.tif", Path(tmp) / "out.tif"
        _write(src, bands.astype(carrier, copy=False), nodata)
        upscale_raster(src, dst, sr_model, scale=factors, tile=tile, seed=seed, steps=steps,
                       progress=progress)
        ds = gdal.Open(str(dst))
        out = ds.ReadAsArray()
        ds = None
    out = out[None] if out.ndim == 2 else out
    out = _cast_back(out, dtype)
    return {"hw": out[0], "chw": out, "hwc": np.moveaxis(out, 0, -1)}[layout]


def _write(path: Path, bands: np.ndarray, nodata: float | None) -> None:
    from osgeo import gdal, gdal_array

    count, rows, cols = bands.shape
    gtype = gdal_array.NumericTypeCodeToGDALTypeCode(bands.dtype)
    ds = gdal.GetDriverByName("GTiff").Create(str(path), cols, rows, count, gtype,
                                              options=["TILED=YES", "BIGTIFF=IF_SAFER"])
    for i in range(count):
        band = ds.GetRasterBand(i + 1)
        band.WriteArray(bands[i])
        if nodata is not None:
            band.SetNoDataValue(float(nodata))
    ds.FlushCache()
    ds = None


def _cast_back(out: np.ndarray, dtype: np.dtype) -> np.ndarray:
    if out.dtype == dtype:
        return out
    if dtype == np.bool_:
        return out >= 0.5 if out.dtype.kind == "f" else out > 0
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        return np.clip(np.rint(out), info.min, info.max).astype(dtype)
    return out.astype(dtype)


__all__ = ["enhance", "guess_layout"]
