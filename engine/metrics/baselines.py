"""Classical resampling baselines through GDAL (what a GIS analyst would otherwise use).

``gdal_resample`` resizes an array with GDAL's warper (cubic, lanczos, bilinear, ...), on the
same pixel-centre convention as the SR pipeline (output extent = input extent).
"""

from __future__ import annotations

import numpy as np
from osgeo import gdal

gdal.UseExceptions()

ALGORITHMS = ("cubic", "lanczos", "bilinear", "near", "cubicspline")


def gdal_resample(data: np.ndarray, size: tuple[int, int], algorithm: str = "cubic") -> np.ndarray:
    """Resize ``data`` (C, h, w) or (h, w), float, to ``size`` = (H, W) with GDAL; float64 out."""
    if algorithm not in ALGORITHMS:
        raise ValueError(f"unknown algorithm '{algorithm}': use one of {ALGORITHMS}")
    arr = np.asarray(data, np.float64)
    squeeze = arr.ndim == 2
    if squeeze:
        arr = arr[None]
    c, h, w = arr.shape
    mem = gdal.GetDriverByName("MEM")
    src = mem.Create("", w, h, c, gdal.GDT_Float64)
    src.SetGeoTransform((0.0, 1.0, 0.0, 0.0, 0.0, -1.0))
    for i in range(c):
        src.GetRasterBand(i + 1).WriteArray(arr[i])
    H, W = int(size[0]), int(size[1])
    dst = gdal.Warp("", src, format="MEM", width=W, height=H, resampleAlg=algorithm,
                    outputBounds=(0.0, -float(h), float(w), 0.0), outputType=gdal.GDT_Float64)
    out = dst.ReadAsArray().reshape(c, H, W)
    return out[0] if squeeze else out


__all__ = ["ALGORITHMS", "gdal_resample"]
