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
from contextlib import contextmanager
from typing import Iterator
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
    try:
        for i, b in enumerate(info.bands):
            band = ds.GetRasterBand(b)
            data[i] = band.ReadAsArray(x0, y0, xs, ys)
            if info.has_mask[i]:
                valid[i] = band.GetMaskBand().ReadAsArray(x0, y0, xs, ys) > 0
            if data.dtype.kind == "f":
                valid[i] &= np.isfinite(data[i])
    except (RuntimeError, TypeError) as exc:
        raise _damaged(info.path, exc, f" at pixels x {x0}..{x0 + xs}, y {y0}..{y0 + ys}"
                       ) from None
    return data, valid


def _damaged(path: str, exc: BaseException, where: str = "") -> InputError:
    # A raster can open fine and still be damaged further in (truncated download, bad block).
    return InputError(f"reading '{path}' failed{where} ({_first_line(exc)}): the file is damaged "
                      "or truncated; check it with 'gdalinfo -checksum' and re-export or "
                      "re-download it")


def _first_line(exc: BaseException) -> str:
    return ((str(exc).strip().splitlines() or ["unknown error"])[0])[:160]


def band_statistics(ds: gdal.Dataset, info: RasterInfo) -> list[BandStats]:
    """Per-band :class:`BandStats` of the whole raster from one decimated read (<= ~4 Mpixel)."""
    step = decimation_step(info.width, info.height)
    bx, by = -(-info.width // step), -(-info.height // step)
    stats = []
    try:
        for i, b in enumerate(info.bands):
            band = ds.GetRasterBand(b)
            # Nearest-neighbour decimation keeps values real (no averaging across nodata).
            values = band.ReadAsArray(0, 0, info.width, info.height, buf_xsize=bx,
                                      buf_ysize=by, resample_alg=gdal.GRIORA_NearestNeighbour)
            valid = np.ones(values.shape, bool)
            if info.has_mask[i]:
                valid = band.GetMaskBand().ReadAsArray(0, 0, info.width, info.height,
                                                       buf_xsize=bx, buf_ysize=by) > 0
            stats.extend(compute_band_stats(values, valid))
    except (RuntimeError, TypeError) as exc:
        raise _damaged(info.path, exc) from None
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


#: Temporary files carry the writing process's id so that later runs can tell stale ones.
TEMP_MARK = ".arbsr-"


def temp_path(output: Path, suffix: str = ".tmp.tif") -> Path:
    """Hidden temporary file beside ``output`` (same file system, so the rename is atomic)."""
    return output.with_name(f".{output.name}{TEMP_MARK}{os.getpid()}-{uuid.uuid4().hex[:8]}"
                            f"{suffix}")


def pid_alive(pid: int) -> bool:
    """True when process ``pid`` exists on this machine."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_temporaries(folder: Path) -> list[Path]:
    """Delete temporary files in ``folder`` left by ArbSR runs that are no longer alive (killed
    with SIGKILL, power cut); returns what was removed. Files of live runs are left alone."""
    removed = []
    for p in folder.glob(f".*{TEMP_MARK}*"):
        try:
            pid = int(p.name.split(TEMP_MARK, 1)[1].split("-", 1)[0])
        except (IndexError, ValueError):
            continue
        if pid == os.getpid() or pid_alive(pid):
            continue
        if p.is_dir():
            shutil.rmtree(p, ignore_errors=True)
        else:
            remove_quietly(p)
        removed.append(p)
    return removed


def creation_options(info: RasterInfo, out_w: int, out_h: int) -> list[str]:
    """Tiled, compressed GeoTIFF options; BIGTIFF when the result may pass 4 GiB."""
    predictor = "3" if info.dtype.kind == "f" else "2"
    size = estimated_bytes(out_w, out_h, len(info.bands), info.dtype)
    return ["TILED=YES", "BLOCKXSIZE=256", "BLOCKYSIZE=256", "COMPRESS=DEFLATE",
            f"PREDICTOR={predictor}", "BIGTIFF=" + ("YES" if size > 3_500_000_000 else "IF_SAFER"),
            "NUM_THREADS=2"]


def create_output(path: Path, info: RasterInfo, out_w: int, out_h: int,
                  *, write_mask: bool, window: tuple[int, int, int, int] | None = None
                  ) -> gdal.Dataset:
    """Create the output GeoTIFF at ``path`` with the input's georeferencing scaled to the new grid.

    Copies CRS, the scaled geotransform (or scaled GCPs), dataset and band metadata, band
    descriptions, colour interpretation, scale/offset, units and nodata. ``window`` (x0, y0, w, h)
    creates only that part of the output grid (a per-block part file), georeferenced in place.
    """
    x0, y0, w, h = window if window is not None else (0, 0, out_w, out_h)
    ds = create_geotiff(path, w, h, len(info.bands), info.data_type,
                        creation_options(info, w, h))
    set_georeferencing(ds, info, out_w, out_h, x0, y0)
    copy_metadata(ds, info)
    if write_mask:
        # Internal mask: an external .msk side-car would not follow the final rename.
        old = gdal.GetConfigOption("GDAL_TIFF_INTERNAL_MASK")
        gdal.SetConfigOption("GDAL_TIFF_INTERNAL_MASK", "YES")
        try:
            ds.CreateMaskBand(gdal.GMF_PER_DATASET)
        finally:
            gdal.SetConfigOption("GDAL_TIFF_INTERNAL_MASK", old)
    return ds


def copy_metadata(ds: gdal.Dataset, info: RasterInfo) -> None:
    """Dataset metadata and, per band, description, colour interpretation, scale/offset, units,
    band metadata and nodata of the input onto ``ds`` (an output GeoTIFF or VRT)."""
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


def create_geotiff(path: Path, width: int, height: int, bands: int, data_type: int,
                   options: list[str]) -> gdal.Dataset:
    """A new GeoTIFF; failure is an :class:`OutputError` naming the file."""
    try:
        return gdal.GetDriverByName("GTiff").Create(str(path), width, height, bands, data_type,
                                                    options)
    except RuntimeError as exc:
        raise OutputError(f"cannot create '{path}' ({_first_line(exc)}): check the folder and "
                          "free space") from None


def set_georeferencing(ds: gdal.Dataset, info: RasterInfo, out_w: int, out_h: int,
                       x0: int = 0, y0: int = 0) -> None:
    """CRS and geotransform (or GCPs) of the output grid, for the part starting at (x0, y0)."""
    if info.geotransform is not None:
        gt = scaled_geotransform(info.geotransform, info.width, info.height, out_w, out_h)
        gt = (gt[0] + x0 * gt[1] + y0 * gt[2], gt[1], gt[2],
              gt[3] + x0 * gt[4] + y0 * gt[5], gt[4], gt[5])
        ds.SetGeoTransform(gt)
    if info.projection:
        ds.SetProjection(info.projection)
    if info.gcps is not None and info.geotransform is None:
        fx, fy = out_w / info.width, out_h / info.height
        gcps = [gdal.GCP(g.GCPX, g.GCPY, g.GCPZ, g.GCPPixel * fx - x0, g.GCPLine * fy - y0,
                         g.Info, g.Id)
                for g in info.gcps[0]]
        ds.SetGCPs(gcps, info.gcps[1])


def write_window(ds: gdal.Dataset, x0: int, y0: int, data: np.ndarray,
                 mask: np.ndarray | None = None, flush: bool = False) -> None:
    """Write ``data`` (C, rows, cols) at (x0, y0); ``mask`` (rows, cols) bool into the mask band.

    A failure (disk full, file size limit, I/O error) is an :class:`OutputError`."""
    error = None
    try:
        for i in range(data.shape[0]):
            ds.GetRasterBand(i + 1).WriteArray(data[i], x0, y0)
        if mask is not None:
            ds.GetRasterBand(1).GetMaskBand().WriteArray(mask.astype(np.uint8) * 255, x0, y0)
        if flush:
            # The window covers whole blocks of the output: write them out and drop them from
            # GDAL's cache now, so that the cache never grows with the raster (or band count).
            for i in range(data.shape[0]):
                ds.GetRasterBand(i + 1).FlushCache()
    except RuntimeError as exc:
        error = _first_line(exc)
    if error is not None:
        # Raised outside the except block: GDAL's exception and its traceback (whose band
        # objects keep the dataset open) are gone, so the caller can drop the dataset quietly.
        name = ds.GetDescription()
        del ds
        raise OutputError(f"writing '{name}' failed ({error}): check free space and that the "
                          "folder is writable")


@contextmanager
def quiet_gdal() -> Iterator[None]:
    """GDAL errors neither raised nor printed inside the block: for dropping a dataset after a
    failure, whose close would otherwise report the same write error a second time."""
    gdal.PushErrorHandler("CPLQuietErrorHandler")
    gdal.DontUseExceptions()
    try:
        yield
    finally:
        gdal.UseExceptions()
        gdal.PopErrorHandler()


def close(ds: gdal.Dataset | None) -> None:
    """Flush and close ``ds``; a failure to write the last blocks is an :class:`OutputError`."""
    if ds is None:
        return
    name = ds.GetDescription()
    error = None
    try:
        ds.FlushCache()
    except RuntimeError as exc:
        error = _first_line(exc)
    if error is not None:
        del ds  # as in write_window
        raise OutputError(f"writing '{name}' failed ({error}): check free space and that the "
                          "folder is writable")


def to_dtype(values: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Cast float values to ``dtype``: integers rounded half away from zero and clipped."""
    dtype = np.dtype(dtype)
    if dtype.kind == "f":
        return values.astype(dtype)
    info = np.iinfo(dtype)
    v = np.nan_to_num(values, nan=0.0)
    return np.clip(np.round(v), info.min, info.max).astype(dtype)


def finalize(tmp: Path, output: Path, *, cog: bool = False, overwrite: bool = True) -> None:
    """Move the finished temporary file to ``output`` (optionally as a Cloud Optimised GeoTIFF).

    Without ``overwrite`` the move never replaces a file: when another run created ``output``
    meanwhile (two QGIS windows, batch rows with the same name), this one fails cleanly and the
    other's complete file stays. With ``overwrite`` the last run to finish wins; either way the
    output is always one complete file.
    """
    if cog:
        cog_tmp = temp_path(output, ".cog.tif")
        try:
            gdal.Translate(str(cog_tmp), str(tmp), format="COG",
                           creationOptions=["COMPRESS=DEFLATE", "BIGTIFF=IF_SAFER"])
            _move(cog_tmp, output, overwrite)
        except RuntimeError as exc:
            raise OutputError(f"writing '{output}' failed ({_first_line(exc)}): check free space "
                              "and that the folder is writable") from None
        finally:
            remove_quietly(cog_tmp)
            remove_quietly(tmp)
        return
    _move(tmp, output, overwrite)


def _move(tmp: Path, output: Path, overwrite: bool) -> None:
    if overwrite:
        os.replace(tmp, output)
        return
    try:
        os.link(tmp, output)  # atomic and never clobbers
    except FileExistsError:
        raise OutputError(f"output '{output}' was created by another run while this one worked: "
                          "choose another name, or add --overwrite to replace it") from None
    except OSError:
        # File systems without hard links: the check-then-rename has a tiny race left.
        if output.exists():
            raise OutputError(f"output '{output}' was created by another run while this one "
                              "worked: choose another name, or add --overwrite") from None
        os.replace(tmp, output)
        return
    os.unlink(tmp)


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
           "check_output_path", "close", "create_geotiff", "quiet_gdal", "create_output", "creation_options",
           "copy_metadata", "describe", "estimated_bytes", "finalize", "open_raster", "parse_bands",
           "pid_alive",
           "read_window", "remove_quietly", "remove_stale_temporaries", "set_georeferencing",
           "temp_path", "to_dtype", "write_window"]
