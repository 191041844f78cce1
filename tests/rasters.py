"""Test helpers shared by every test folder: GeoTIFF writing, synthetic images, dgsamples paths.

Imported by name (``from rasters import write_geotiff``): ``tests/`` is on pytest's pythonpath.
Fixtures built on these live in ``tests/conftest.py``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

import numpy as np
from osgeo import gdal, osr

gdal.UseExceptions()

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).resolve().parent / "data"

GDAL_TYPES = {
    "uint8": gdal.GDT_Byte, "uint16": gdal.GDT_UInt16, "int16": gdal.GDT_Int16,
    "uint32": gdal.GDT_UInt32, "int32": gdal.GDT_Int32, "float32": gdal.GDT_Float32,
    "float64": gdal.GDT_Float64,
}

WriteTiff = Callable[..., Path]


def write_geotiff(path: Path, data: np.ndarray, *, epsg: int = 32613,
                  geotransform: Sequence[float] = (480000.0, 2.0, 0.0, 4450000.0, 0.0, -2.0),
                  nodata: float | None = None, descriptions: Sequence[str] | None = None,
                  color_interp: Sequence[int] | None = None,
                  metadata: dict[str, str] | None = None) -> Path:
    """Write ``data`` (bands, rows, cols) or (rows, cols) as a GeoTIFF with full georeferencing."""
    arr = data[None] if data.ndim == 2 else data
    bands, rows, cols = arr.shape
    ds = gdal.GetDriverByName("GTiff").Create(str(path), cols, rows, bands,
                                              GDAL_TYPES[str(arr.dtype)])
    ds.SetGeoTransform(list(geotransform))
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(epsg)
    ds.SetProjection(srs.ExportToWkt())
    if metadata:
        ds.SetMetadata(metadata)
    for i in range(bands):
        band = ds.GetRasterBand(i + 1)
        band.WriteArray(arr[i])
        if nodata is not None:
            band.SetNoDataValue(nodata)
        if descriptions:
            band.SetDescription(descriptions[i])
        if color_interp:
            band.SetColorInterpretation(color_interp[i])
    ds.FlushCache()
    ds = None
    return path


def smooth_image(rows: int, cols: int, bands: int = 1, seed: int = 0) -> np.ndarray:
    """A deterministic band-limited test image in [0, 1], shape (bands, rows, cols)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:rows, 0:cols].astype(np.float64)
    out = np.zeros((bands, rows, cols))
    for b in range(bands):
        for _ in range(6):
            fy, fx, ph = rng.uniform(0.01, 0.2), rng.uniform(0.01, 0.2), rng.uniform(0, 6.28)
            out[b] += np.sin(fy * y + fx * x + ph)
    out -= out.min()
    return out / max(out.max(), 1e-9)


def dgsamples_file(sensor: str, product: str) -> Path:
    """Path of a dgsamples GeoTIFF: sensor 'wv2' or 'wv3', product 'PAN', 'MUL' (or 'SWR')."""
    import dgsamples

    base = Path(dgsamples.__file__).parent / f"{sensor}_longmont_1k"
    hits = sorted(base.glob(f"*_{product}/*.TIF"))
    if not hits:
        raise FileNotFoundError(f"no {sensor} {product} file in {base}")
    return hits[0]
