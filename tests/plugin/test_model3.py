"""A graphical model (.model3) chaining arbsr:upscale with a core algorithm."""

from __future__ import annotations

from pathlib import Path

import pytest
from osgeo import gdal
from qgis.core import QgsProcessingModelAlgorithm

from tests.plugin.conftest import needs_engine

MODEL = Path(__file__).resolve().parent / "data" / "upscale_then_stats.model3"


def run_model(src: Path, out: Path, scale: float) -> dict:
    import processing

    model = QgsProcessingModelAlgorithm()
    assert model.fromFile(str(MODEL))
    assert {c.algorithmId() for c in model.childAlgorithms().values()} == {
        "arbsr:upscale", "native:rasterlayerstatistics"}
    return processing.run(model, {"raster": str(src), "scale": scale,
                                  "upscale:upscaled": str(out)})


def check(src: Path, res: dict, scale: float) -> None:
    ds_in, ds_out = gdal.Open(str(src)), gdal.Open(res["upscale:upscaled"])
    assert ds_out.RasterXSize == round(ds_in.RasterXSize * scale)
    assert ds_out.RasterYSize == round(ds_in.RasterYSize * scale)
    mean_in = ds_in.GetRasterBand(1).ComputeStatistics(False)[2]
    # the core algorithm's numbers come back as model results and describe the upscaled raster
    stats = res["CHILD_RESULTS"]["stats"]
    assert res["CHILD_INPUTS"]["stats"]["INPUT"] == res["upscale:upscaled"]
    assert stats["MEAN"] == pytest.approx(mean_in, rel=0.1)


def test_model3_fake_engine(arbsr_provider, fake_engine, small_tif, tmp_path):
    res = run_model(small_tif, tmp_path / "m.tif", 2.0)
    check(small_tif, res, 2.0)


@needs_engine
def test_model3_real_engine(arbsr_provider, small_tif, tmp_path):
    res = run_model(small_tif, tmp_path / "m.tif", 1.5)
    check(small_tif, res, 1.5)
