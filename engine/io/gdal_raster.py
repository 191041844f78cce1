"""GDAL raster access for the pipeline: checked opening, windowed reads with validity masks,
per-band statistics from a decimated read, and the output GeoTIFF written to a temporary file
beside the target and renamed into place only when complete.

Arrays: windows are read as (bands, rows, cols) in the raster's own numeric type; validity
masks are (bands, rows, cols) bool (False = nodata / masked / NaN).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from osgeo import gdal

from engine.errors import InputError, OutputError, ParameterError
from engine.io.windows import scaled_geotransform
from engine.normalization import BandStats, compute_band_stats, decimation_step

gdal.UseExceptions()

#: Data types the pipeline reads and writes, with their numpy types.
SUPPORTED_TYPES: dict[int, Any] = {
    gdal.GDT_Byte: np.uint8,
    gdal.GDT_UInt16: np.uint16,
    gdal.GDT_Int16: np.int16,
    gdal.GDT_UInt32: np.uint32,
    gdal.GDT_Int32: np.int32,
    gdal.GDT_Float32: np.float32,
    gdal.GDT_Float64: np.float64,
}


@dataclass
class RasterInfo:
    """What the pipeline needs to know about an input raster.

    ``bands`` are the 1-based indices selected; every per-band list follows that order.
    """

    path: str
    width: int
    height: int
    bands: list[int]
    data_type: int
    geotransform: tuple[float, ...] | None
    projection: str
    nodata: list[float | None]
    has_mask: list[bool]
    descriptions: list[str] = field(default_factory=list)
    color_interp: list[int] = field(default_factory=list)
    scales: list[float | None] = field(default_factory=list)
    offsets: list[float | None] = field(default_factory=list)
    units: list[str] = field(default_factory=list)
    band_metadata: list[dict[str, str]] = field(default_factory=list)
    metadata: dict[str, str] = field(default_factory=dict)
    gcps: tuple[list[Any], str] | None = None

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(SUPPORTED_TYPES[self.data_type])

    @property
    def type_name(self) -> str:
        return gdal.GetDataTypeName(self.data_type)


def open_raster(path: str | os.PathLike[str]) -> gdal.Dataset:
    """Open ``path`` read-only; a missing, unreadable or empty raster is an :class:`InputError`."""
    p = Path(path)
    if not p.exists():
        raise InputError(f"input raster '{p}' does not exist: check the path")
    if p.is_dir():
        raise InputError(f"input '{p}' is a folder: give a raster file")
    if p.is_file() and p.stat().st_size == 0:
        raise InputError(f"input raster '{p}' is an empty file (0 bytes): give a valid raster")
    try:
        ds = gdal.OpenEx(str(p), gdal.OF_RASTER | gdal.OF_READONLY)
    except RuntimeError as exc:
        first = (str(exc).strip().splitlines() or ["unknown error"])[0]
        raise InputError(f"cannot read '{p}' as a raster ({first[:160]}): give a GDAL-readable "
                         "raster such as a GeoTIFF") from exc
    if ds is None:
        raise InputError(f"cannot read '{p}' as a raster: give a GDAL-readable raster")
    if ds.RasterCount == 0 or ds.RasterXSize == 0 or ds.RasterYSize == 0:
        raise InputError(f"input raster '{p}' has no pixels ({ds.RasterXSize}x{ds.RasterYSize}, "
                         f"{ds.RasterCount} bands): give a raster with data")
    return ds


def parse_bands(spec: str | Sequence[int] | None, count: int) -> list[int]:
    """1-based band list from ``"1,2,3"`` (ranges ``"1-3"`` too) or a sequence; default all."""
    if spec is None or (isinstance(spec, str) and not spec.strip()):
        return list(range(1, count + 1))
    items: list[int] = []
    parts = spec.split(",") if isinstance(spec, str) else list(spec)
    try:
        for part in parts:
            if isinstance(part, str) and "-" in part.strip()[1:]:
                a, b = part.split("-", 1)
                items.extend(range(int(a), int(b) + 1))
            else:
                items.append(int(part))
    except ValueError:
        raise ParameterError(f"--bands '{spec}' is not a list of band numbers: use e.g. 1,2,3"
                             ) from None
    bad = [b for b in items if b < 1 or b > count]
    if bad or not items:
        raise ParameterError(f"--bands {spec}: the raster has bands 1..{count}; choose among them")
    return items


def describe(ds: gdal.Dataset, bands: Sequence[int]) -> RasterInfo:
    """Collect the :class:`RasterInfo` of ``ds`` for the selected 1-based ``bands``."""
    first = ds.GetRasterBand(bands[0])
    dt = first.DataType
    for b in bands:
        if ds.GetRasterBand(b).DataType != dt:
            raise InputError("the selected bands have different data types: select bands of one "
                             "type with --bands")
    if dt not in SUPPORTED_TYPES:
        raise InputError(f"data type {gdal.GetDataTypeName(dt)} is not supported: convert the "
                         "raster to Byte, (U)Int16, (U)Int32 or Float32/64 first (gdal_translate -ot)")
    gt = ds.GetGeoTransform(can_return_null=True)
    info = RasterInfo(path=ds.GetDescription(), width=ds.RasterXSize, height=ds.RasterYSize,
                      bands=list(bands), data_type=dt, geotransform=tuple(gt) if gt else None,
                      projection=ds.GetProjection() or "", nodata=[], has_mask=[],
                      metadata=ds.GetMetadata() or {})
    if ds.GetGCPCount():
        info.gcps = (ds.GetGCPs(), ds.GetGCPProjection())
    for b in bands:
        band = ds.GetRasterBand(b)
        info.nodata.append(band.GetNoDataValue())
        flags = band.GetMaskFlags()
        info.has_mask.append(not (flags & gdal.GMF_ALL_VALID))
        info.descriptions.append(band.GetDescription() or "")
        info.color_interp.append(band.GetColorInterpretation())
        info.scales.append(band.GetScale())
        info.offsets.append(band.GetOffset())
        info.units.append(band.GetUnitType() or "")
        info.band_metadata.append(band.GetMetadata() or {})
    return info


def read_window(ds: gdal.Dataset, info: RasterInfo, x0: int, y0: int, xs: int, ys: int
                ) -> tuple[np.ndarray, np.ndarray]:
    """Read the window (x0, y0, xs, ys): data (C, ys, xs) native type, valid (C, ys, xs) bool."""
    data = np.empty((len(info.bands), ys, xs), dtype=info.dtype)
    valid = np.ones((len(info.bands), ys, xs), dtype=bool)
    for i, b in enumerate(info.bands):
        band = ds.GetRasterBand(b)
        data[i] = band.ReadAsArray(x0, y0, xs, ys)
        if info.has_mask[i]:
            valid[i] = band.GetMaskBand().ReadAsArray(x0, y0, xs, ys) > 0
        if data.dtype.kind == "f":
            valid[i] &= np.isfinite(data[i])
    return data, valid


def band_statistics(ds: gdal.Dataset, info: RasterInfo) -> list[BandStats]:
    """Per-band :class:`BandStats` of the whole raster from one decimated read (<= ~4 Mpixel)."""
    step = decimation_step(info.width, info.height)
    bx, by = -(-info.width // step), -(-info.height // step)
    stats = []
    for i, b in enumerate(info.bands):
        band = ds.GetRasterBand(b)
        # Nearest-neighbour decimation keeps values real (no averaging across nodata).
        values = band.ReadAsArray(0, 0, info.width, info.height, buf_xsize=bx, buf_ysize=by,
                                  resample_alg=gdal.GRIORA_NearestNeighbour)
        valid = np.ones(values.shape, bool)
        if info.has_mask[i]:
            valid = band.GetMaskBand().ReadAsArray(0, 0, info.width, info.height, buf_xsize=bx,
                                                   buf_ysize=by) > 0
        stats.extend(compute_band_stats(values, valid))
    return stats


def check_output_path(output: str | os.PathLike[str], *, overwrite: bool,
                      input_path: str | os.PathLike[str] | None = None) -> Path:
    """Refuse an output we must not or cannot write, before any work starts."""
    out = Path(output).expanduser()
    folder = out.parent if str(out.parent) else Path(".")
    if not folder.is_dir():
        raise OutputError(f"output folder '{folder}' does not exist: create it or choose another")
    if not _writable(folder):
        raise OutputError(f"output folder '{folder}' is not writable: choose a folder you can "
                          "write to")
    if input_path is not None and out.exists() and os.path.samefile(out, input_path):
        raise OutputError("the output is the input file: choose another output path")
    if out.is_dir():
        raise OutputError(f"output '{out}' is a folder: give a file name ending in .tif")
    if out.exists() and not overwrite:
        raise OutputError(f"output '{out}' already exists: add --overwrite or choose another name")
    return out


def _writable(folder: Path) -> bool:
    """True when a file can really be created in ``folder`` (catches read-only mounts too)."""
    if not os.access(folder, os.W_OK | os.X_OK):
        return False
    try:
        fd, probe = tempfile.mkstemp(prefix=".arbsr-probe-", dir=folder)
    except OSError:
        return False
    os.close(fd)
    os.unlink(probe)
    return True


def estimated_bytes(width: int, height: int, bands: int, dtype: np.dtype,
                    mask: bool = False) -> int:
    """Uncompressed size of an output raster (the worst case of a compressed GeoTIFF)."""
    n = width * height * bands * np.dtype(dtype).itemsize
    return int(n + (width * height if mask else 0))


def check_disk_space(output: Path, needed: int) -> None:
    """Refuse to start when the output folder has less free space than ``needed`` bytes."""
    free = shutil.disk_usage(output.parent if str(output.parent) else ".").free
    if needed > free:
        raise OutputError(f"the output needs up to {needed / 2**30:.2f} GiB but only "
                          f"{free / 2**30:.2f} GiB are free in '{output.parent}': free space, "
                          "choose another folder or a smaller scale")


def temp_path(output: Path) -> Path:
    """Hidden temporary file beside ``output`` (same file system, so the rename is atomic)."""
    return output.with_name(f".{output.name}.{uuid.uuid4().hex[:8]}.part.tif")


def creation_options(info: RasterInfo, out_w: int, out_h: int) -> list[str]:
    """Tiled, compressed GeoTIFF options; BIGTIFF when the result may pass 4 GiB."""
    predictor = "3" if info.dtype.kind == "f" else "2"
    size = estimated_bytes(out_w, out_h, len(info.bands), info.dtype)
    return ["TILED=YES", "BLOCKXSIZE=256", "BLOCKYSIZE=256", "COMPRESS=DEFLATE",
            f"PREDICTOR={predictor}", "BIGTIFF=" + ("YES" if size > 3_500_000_000 else "IF_SAFER"),
            "NUM_THREADS=2"]


def create_output(path: Path, info: RasterInfo, out_w: int, out_h: int,
                  *, write_mask: bool) -> gdal.Dataset:
    """Create the output GeoTIFF at ``path`` with the input's georeferencing scaled to the new grid.

    Copies CRS, the scaled geotransform (or scaled GCPs), dataset and band metadata, band
    descriptions, colour interpretation, scale/offset, units and nodata.
    """
    driver = gdal.GetDriverByName("GTiff")
    try:
        ds = driver.Create(str(path), out_w, out_h, len(info.bands), info.data_type,
                           creation_options(info, out_w, out_h))
    except RuntimeError as exc:
        raise OutputError(f"cannot create '{path}' ({str(exc).strip()[:160]}): check the folder "
                          "and free space") from exc
    if info.geotransform is not None:
        ds.SetGeoTransform(scaled_geotransform(info.geotransform, info.width, info.height,
                                               out_w, out_h))
    if info.projection:
        ds.SetProjection(info.projection)
    if info.gcps is not None and info.geotransform is None:
        fx, fy = out_w / info.width, out_h / info.height
        gcps = [gdal.GCP(g.GCPX, g.GCPY, g.GCPZ, g.GCPPixel * fx, g.GCPLine * fy, g.Info, g.Id)
                for g in info.gcps[0]]
        ds.SetGCPs(gcps, info.gcps[1])
    if info.metadata:
        ds.SetMetadata(info.metadata)
    for i in range(len(info.bands)):
        band = ds.GetRasterBand(i + 1)
        if info.descriptions[i]:
            band.SetDescription(info.descriptions[i])
        band.SetColorInterpretation(info.color_interp[i])
        if info.scales[i] is not None and info.scales[i] != 1.0:
            band.SetScale(info.scales[i])
        if info.offsets[i] is not None and info.offsets[i] != 0.0:
            band.SetOffset(info.offsets[i])
        if info.units[i]:
            band.SetUnitType(info.units[i])
        if info.band_metadata[i]:
            band.SetMetadata(info.band_metadata[i])
        if info.nodata[i] is not None:
            band.SetNoDataValue(info.nodata[i])
    if write_mask:
        # Internal mask: an external .msk side-car would not follow the final rename.
        old = gdal.GetConfigOption("GDAL_TIFF_INTERNAL_MASK")
        gdal.SetConfigOption("GDAL_TIFF_INTERNAL_MASK", "YES")
        try:
            ds.CreateMaskBand(gdal.GMF_PER_DATASET)
        finally:
            gdal.SetConfigOption("GDAL_TIFF_INTERNAL_MASK", old)
    return ds


def write_window(ds: gdal.Dataset, x0: int, y0: int, data: np.ndarray,
                 mask: np.ndarray | None = None) -> None:
    """Write ``data`` (C, rows, cols) at (x0, y0); ``mask`` (rows, cols) bool into the mask band."""
    for i in range(data.shape[0]):
        ds.GetRasterBand(i + 1).WriteArray(data[i], x0, y0)
    if mask is not None:
        ds.GetRasterBand(1).GetMaskBand().WriteArray(mask.astype(np.uint8) * 255, x0, y0)


def to_dtype(values: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Cast float values to ``dtype``: integers rounded half away from zero and clipped."""
    dtype = np.dtype(dtype)
    if dtype.kind == "f":
        return values.astype(dtype)
    info = np.iinfo(dtype)
    v = np.nan_to_num(values, nan=0.0)
    return np.clip(np.round(v), info.min, info.max).astype(dtype)


def finalize(tmp: Path, output: Path, *, cog: bool = False) -> None:
    """Move the finished temporary file to ``output`` (optionally as a Cloud Optimised GeoTIFF)."""
    if cog:
        cog_tmp = output.with_name(f".{output.name}.{uuid.uuid4().hex[:8]}.cog.tif")
        try:
            gdal.Translate(str(cog_tmp), str(tmp), format="COG",
                           creationOptions=["COMPRESS=DEFLATE", "BIGTIFF=IF_SAFER"])
            os.replace(cog_tmp, output)
        finally:
            remove_quietly(cog_tmp)
            remove_quietly(tmp)
        return
    os.replace(tmp, output)


def remove_quietly(path: Path) -> None:
    """Delete ``path`` and any GDAL side-car (.aux.xml, .msk) if they exist."""
    for p in (path, Path(str(path) + ".aux.xml"), Path(str(path) + ".msk")):
        try:
            p.unlink()
        except FileNotFoundError:
            pass
        except OSError:
            pass



__all__ = ["RasterInfo", "SUPPORTED_TYPES", "band_statistics", "check_disk_space",
           "check_output_path", "create_output", "creation_options", "describe",
           "estimated_bytes", "finalize", "open_raster", "parse_bands", "read_window",
           "remove_quietly", "temp_path", "to_dtype", "write_window"]
