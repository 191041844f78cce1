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


def test_detail_and_uncertainty_parameters_build_the_engine_flags(arbsr_provider, tmp_path):
    from qgis.core import QgsProcessingContext

    alg = QgsApplication.processingRegistry().createAlgorithmById("arbsr:upscale")
    for pid in ("TEMPERATURE", "SAMPLES", "UNCERTAINTY"):
        assert alg.parameterDefinition(pid) is not None
    src = tmp_path / "in.tif"
    gdal.GetDriverByName("GTiff").Create(str(src), 8, 8, 1, gdal.GDT_UInt16)
    context = QgsProcessingContext()
    base = {"INPUT": str(src), "MODEL": "moe", "OUTPUT": str(tmp_path / "o.tif")}
    argv = alg.build_argv(dict(base), context, executing=False)
    assert "--temperature" not in argv and "--uncertainty" not in argv
    argv = alg.build_argv({**base, "TEMPERATURE": 0.25, "SAMPLES": 3,
                           "UNCERTAINTY": str(tmp_path / "u.tif")}, context, executing=False)
    i, j = argv.index("--temperature"), argv.index("--uncertainty")
    assert argv[i + 1] == "0.25" and argv[j + 1] == str(tmp_path / "u.tif")
    assert argv[argv.index("--samples") + 1] == "3"


@needs_engine
@pytest.mark.slow
def test_uncertainty_layer_through_processing(arbsr_provider, wv2_pan_crop, tmp_path):
    import processing
    from qgis.core import QgsRasterLayer

    from arbsr_qgis.uncertainty_style import style_uncertainty

    src = tmp_path / "wv2_pan.tif"
    gdal.Translate(str(src), str(wv2_pan_crop), srcWin=[40, 60, 24, 20])
    out, unc = tmp_path / "moe.tif", tmp_path / "moe_std.tif"
    res = processing.run("arbsr:upscale", {"INPUT": str(src), "MODEL": "moe", "SCALE": 2,
                                           "DEVICE": "cpu", "STEPS": 2, "TEMPERATURE": 1.0,
                                           "SAMPLES": 3, "UNCERTAINTY": str(unc),
                                           "OUTPUT": str(out)})
    assert res["OUTPUT"] == str(out) and res["UNCERTAINTY"] == str(unc)
    ds = gdal.Open(str(unc))
    assert (ds.RasterXSize, ds.RasterYSize, ds.RasterCount) == (48, 40, 1)
    assert ds.GetRasterBand(1).DataType == gdal.GDT_Float32
    assert ds.GetGeoTransform() == gdal.Open(str(out)).GetGeoTransform()
    assert float(ds.ReadAsArray().max()) > 0
    layer = QgsRasterLayer(str(unc), "std")
    style_uncertainty(layer)
    assert layer.renderer().type() == "singlebandpseudocolor"
    assert layer.renderer().classificationMax() > layer.renderer().classificationMin()
