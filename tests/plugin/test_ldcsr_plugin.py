"""The LDCSR models from QGIS Processing: listed, and both modes on a real WorldView-2 crop."""

from __future__ import annotations

import numpy as np
import pytest
from osgeo import gdal
from qgis.core import QgsApplication

from tests.plugin.conftest import needs_engine


def test_ldcsr_demonstration_models_are_offered_when_asked_for(arbsr_provider):
    """Their weights do not beat GDAL cubic: listed only with "Show demonstration models"."""
    from arbsr_qgis import settings

    before = settings.show_demonstration_models()
    try:
        for show in (False, True):
            settings.set_show_demonstration_models(show)
            alg = QgsApplication.processingRegistry().createAlgorithmById("arbsr:upscale")
            options = alg.parameterDefinition("MODEL").options()
            assert ("ldcsr" in options and "ldcsr-fast" in options) is show
    finally:
        settings.set_show_demonstration_models(before)


@needs_engine
@pytest.mark.slow
def test_both_ldcsr_modes_through_processing(arbsr_provider, wv2_mul_crop, tmp_path):
    """By name, as scripts give them, whether the lists show them or not."""
    import processing

    src = tmp_path / "wv2_rgb.tif"
    gdal.Translate(str(src), str(wv2_mul_crop), srcWin=[30, 30, 32, 28], bandList=[5, 3, 2])
    inp = gdal.Open(str(src))
    outs = {}
    for model in ("ldcsr-fast", "ldcsr"):
        out = tmp_path / f"{model}.tif"
        res = processing.run("arbsr:upscale", {"INPUT": str(src), "MODEL": model, "SCALE": 2.5,
                                               "DEVICE": "cpu", "SEED": 7, "OUTPUT": str(out)})
        assert res["OUTPUT"] == str(out)
        ds = gdal.Open(str(out))
        assert (ds.RasterXSize, ds.RasterYSize, ds.RasterCount) == (80, 70, 3)
        gt, gt_in = ds.GetGeoTransform(), inp.GetGeoTransform()
        assert (gt[0], gt[3]) == (gt_in[0], gt_in[3])
        assert np.isclose(gt[1], gt_in[1] / 2.5) and np.isclose(gt[5], gt_in[5] / 2.5)
        assert ds.GetProjection() == inp.GetProjection()
        outs[model] = ds.ReadAsArray()
    assert not np.array_equal(outs["ldcsr"], outs["ldcsr-fast"])
