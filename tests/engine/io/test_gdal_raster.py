"""GDAL helpers: band parsing, type casting, statistics, creation options, input checks."""

from __future__ import annotations

import numpy as np
import pytest
from osgeo import gdal, osr

from rasters import smooth_image, write_geotiff
from engine.errors import InputError, ParameterError
from engine.io import gdal_raster as gr
from engine.normalization import MAX_STATS_PIXELS, decimation_step


def test_parse_bands():
    assert gr.parse_bands(None, 4) == [1, 2, 3, 4]
    assert gr.parse_bands("3,1", 4) == [3, 1]
    assert gr.parse_bands("2-4", 4) == [2, 3, 4]
    assert gr.parse_bands([2], 4) == [2]
    for bad in ("0", "5", "a", "1,,2"):
        with pytest.raises(ParameterError):
            gr.parse_bands(bad, 4)


def test_to_dtype_rounds_and_clips():
    v = np.array([-3.6, -0.5, 0.49, 0.5, 254.6, 300.0, np.nan])
    assert gr.to_dtype(v, np.uint8).tolist() == [0, 0, 0, 0, 255, 255, 0]
    assert gr.to_dtype(v, np.int16).tolist() == [-4, 0, 0, 0, 255, 300, 0]
    assert gr.to_dtype(np.array([7e4, -1.0]), np.uint16).tolist() == [65535, 0]
    assert gr.to_dtype(np.array([1.25]), np.float32).dtype == np.float32


def test_statistics_once_per_raster_from_valid_pixels(tmp_path):
    img = (smooth_image(50, 60, 2) * 1000 + 100).astype(np.int16)
    img[:, :10, :] = -9999
    src = write_geotiff(tmp_path / "in.tif", img, nodata=-9999)
    ds = gr.open_raster(src)
    info = gr.describe(ds, [1, 2])
    stats = gr.band_statistics(ds, info)
    valid = img[0][10:].astype(float)
    assert stats[0].lo == pytest.approx(np.percentile(valid, 0.1))
    assert stats[0].hi == pytest.approx(np.percentile(valid, 99.9))
    assert decimation_step(10_000, 10_000) ** 2 >= 1e8 / MAX_STATS_PIXELS


def test_open_errors(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        gr.open_raster(tmp_path / "x.tif")
    (tmp_path / "t.tif").write_text("hello")
    with pytest.raises(InputError, match="cannot read"):
        gr.open_raster(tmp_path / "t.tif")
    with pytest.raises(InputError, match="folder"):
        gr.open_raster(tmp_path)


def test_creation_options_and_temp_path(tmp_path):
    img = np.zeros((4, 4), np.uint16)
    ds = gr.open_raster(write_geotiff(tmp_path / "in.tif", img))
    info = gr.describe(ds, [1])
    assert "BIGTIFF=IF_SAFER" in gr.creation_options(info, 100, 100)
    assert "BIGTIFF=YES" in gr.creation_options(info, 60_000, 60_000)
    t = gr.temp_path(tmp_path / "out.tif")
    assert t.parent == tmp_path and t.name.startswith(".out.tif.")


def test_gcps_are_scaled(tmp_path):
    img = (smooth_image(20, 20, 1) * 100).astype(np.uint8)
    src = tmp_path / "gcp.tif"
    ds = gdal.GetDriverByName("GTiff").Create(str(src), 20, 20, 1, gdal.GDT_Byte)
    ds.GetRasterBand(1).WriteArray(img[0])
    gcps = [gdal.GCP(500000.0 + 10 * i, 4e6 - 10 * i, 0, 10.0 * i, 10.0 * i) for i in range(3)]
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(32613)
    ds.SetGCPs(gcps, srs.ExportToWkt())
    ds = None
    ds = gr.open_raster(src)
    info = gr.describe(ds, [1])
    out = gr.create_output(tmp_path / "o.tif", info, 40, 40, write_mask=False)
    got = out.GetGCPs()
    assert [g.GCPPixel for g in got] == [0.0, 20.0, 40.0] and got[2].GCPX == 500020.0
