"""MoE-DiffSR from QGIS Processing: listed, and seeded sampling at a fractional scale on a real
WorldView-2 crop (reproducible with the same seed, different with another)."""

from __future__ import annotations

import numpy as np
import pytest
from osgeo import gdal
from qgis.core import QgsApplication

from tests.plugin.conftest import needs_engine


def test_moe_model_is_offered(arbsr_provider):
    alg = QgsApplication.processingRegistry().createAlgorithmById("arbsr:upscale")
    assert "moe" in alg.parameterDefinition("MODEL").options()


@needs_engine
@pytest.mark.slow
def test_moe_seeded_through_processing(arbsr_provider, wv2_pan_crop, tmp_path):
    import processing

    src = tmp_path / "wv2_pan.tif"
    gdal.Translate(str(src), str(wv2_pan_crop), srcWin=[40, 60, 24, 20])
    inp = gdal.Open(str(src))
    outs = []
    for i, seed in enumerate((7, 7, 8)):
        out = tmp_path / f"moe_{i}.tif"
        res = processing.run("arbsr:upscale", {"INPUT": str(src), "MODEL": "moe", "SCALE": 1.5,
                                               "DEVICE": "cpu", "SEED": seed, "STEPS": 3,
                                               "OUTPUT": str(out)})
        assert res["OUTPUT"] == str(out)
        ds = gdal.Open(str(out))
        assert (ds.RasterXSize, ds.RasterYSize, ds.RasterCount) == (36, 30, 1)
        assert ds.GetRasterBand(1).DataType == gdal.GDT_UInt16
        gt, gt_in = ds.GetGeoTransform(), inp.GetGeoTransform()
        assert (gt[0], gt[3]) == (gt_in[0], gt_in[3])
        assert np.isclose(gt[1], gt_in[1] / 1.5) and np.isclose(gt[5], gt_in[5] / 1.5)
        outs.append(ds.ReadAsArray())
    assert np.array_equal(outs[0], outs[1])
    assert not np.array_equal(outs[0], outs[2])
