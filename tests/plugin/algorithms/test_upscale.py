"""arbsr:upscale: parameters, the argv it builds, and runs through processing.run / tasks / batch."""

from __future__ import annotations

import os
import time

import pytest
from osgeo import gdal
from qgis.core import (
    QgsApplication,
    QgsProcessingAlgRunnerTask,
    QgsProcessingContext,
    QgsProcessingException,
    QgsProcessingFeedback,
    QgsRasterLayer,
)

from rasters import smooth_image, write_geotiff
from tests.plugin.conftest import needs_engine, wait_for

PARAMS = {"INPUT", "MODEL", "CHECKPOINT", "SCALE", "TARGET_RESOLUTION", "BANDS", "DEVICE",
          "TILE_SIZE", "SEED", "STEPS", "OUTPUT"}


def alg():
    return QgsApplication.processingRegistry().createAlgorithmById("arbsr:upscale")


def geometry(path):
    ds = gdal.Open(str(path))
    try:
        return ds.RasterXSize, ds.RasterYSize, ds.RasterCount, ds.GetGeoTransform()
    finally:
        ds = None


def test_parameters_and_instance(arbsr_provider):
    a = alg()
    assert {p.name() for p in a.parameterDefinitions()} == PARAMS
    assert a.createInstance().name() == "upscale"
    model = a.parameterDefinition("MODEL")
    assert model.options()[0] == "default" and model.options()[-1] == "custom checkpoint file"
    assert a.parameterDefinition("SCALE").dataType() == 1  # Double


def test_argv_from_parameters(arbsr_provider, small_tif, tmp_path):
    a = alg()
    context = QgsProcessingContext()
    out = str(tmp_path / "o.tif")
    argv = a.build_argv({"INPUT": str(small_tif), "SCALE": 2.5, "BANDS": [1, 3],
                         "DEVICE": "cpu", "TILE_SIZE": 64, "SEED": 3, "OUTPUT": out},
                        context, executing=False)
    assert argv[1:4] == ["-m", "engine", "upscale"]
    assert argv[4:6] == [str(small_tif), out]
    tail = argv[6:]
    assert tail[:2] == ["--scale", "2.5"] and "--model" not in tail
    for flags in (["--bands", "1,3"], ["--device", "cpu"], ["--tile", "64"], ["--seed", "3"],
                  ["--progress", "json"]):
        i = tail.index(flags[0])
        assert tail[i:i + 2] == flags
    assert "--overwrite" in tail and "--steps" not in tail
    argv = a.build_argv({"INPUT": str(small_tif), "SCALE": 2.0, "TARGET_RESOLUTION": 0.5,
                         "CHECKPOINT": str(small_tif), "OUTPUT": out}, context, executing=False)
    assert argv[argv.index("--resolution") + 1] == "0.5" and "--scale" not in argv
    assert argv[argv.index("--model") + 1] == str(small_tif)
    assert "engine upscale" in a.command_line({"INPUT": str(small_tif), "OUTPUT": out}, context)


def test_custom_model_without_file_is_refused(arbsr_provider, small_tif, tmp_path):
    with pytest.raises(QgsProcessingException, match="CHECKPOINT"):
        alg().build_argv({"INPUT": str(small_tif), "MODEL": "custom checkpoint file",
                          "OUTPUT": str(tmp_path / "o.tif")}, QgsProcessingContext(),
                         executing=False)


def test_processing_run_fake_engine(arbsr_provider, fake_engine, small_tif, tmp_path):
    import processing

    res = processing.run("arbsr:upscale", {"INPUT": str(small_tif), "SCALE": 1.5,
                                           "OUTPUT": str(tmp_path / "o.tif")})
    w, h, _, gt = geometry(res["OUTPUT"])
    assert (w, h) == (48, 36)


def test_engine_error_becomes_processing_exception(arbsr_provider, fake_engine, small_tif,
                                                   tmp_path, monkeypatch):
    import processing

    monkeypatch.setenv("FAKE_ENGINE_FAIL", "unknown model 'x': run python -m engine models")
    with pytest.raises(QgsProcessingException, match="unknown model 'x'"):
        processing.run("arbsr:upscale", {"INPUT": str(small_tif), "SCALE": 2.0,
                                         "OUTPUT": str(tmp_path / "o.tif")})
    assert not (tmp_path / "o.tif").exists()


def test_non_tif_output_is_refused(arbsr_provider, small_tif, tmp_path):
    import processing

    with pytest.raises(QgsProcessingException, match=".tif"):
        processing.run("arbsr:upscale", {"INPUT": str(small_tif), "SCALE": 2.0,
                                         "OUTPUT": str(tmp_path / "o.png")})


def test_memory_layer_is_exported_first(arbsr_provider, fake_engine, small_tif, tmp_path):
    """A layer that is not a GDAL file (here: a virtual raster provider) is exported."""
    import processing

    calc = QgsRasterLayer("?crs=EPSG:32613&extent=480000,4449952,480064,4450000&width=32"
                          "&height=24&formula=1", "virt", "virtualraster")
    if not calc.isValid():
        pytest.skip("virtual raster provider unavailable")
    from qgis.core import QgsProject

    QgsProject.instance().addMapLayer(calc)
    try:
        res = processing.run("arbsr:upscale", {"INPUT": calc.id(), "SCALE": 2.0,
                                               "OUTPUT": str(tmp_path / "v.tif")})
        assert geometry(res["OUTPUT"])[:2] == (64, 48)
    finally:
        QgsProject.instance().removeMapLayer(calc.id())


def test_cancel_mid_run_fake_engine(arbsr_provider, fake_engine, small_tif, tmp_path,
                                    monkeypatch):
    monkeypatch.setenv("FAKE_ENGINE_SLEEP", "30")
    out = tmp_path / "c.tif"
    context, feedback = QgsProcessingContext(), QgsProcessingFeedback()
    task = QgsProcessingAlgRunnerTask(alg(), {"INPUT": str(small_tif), "SCALE": 2.0,
                                              "OUTPUT": str(out)}, context, feedback)
    done = {}
    task.executed.connect(lambda ok, results: done.update(ok=ok))
    QgsApplication.taskManager().addTask(task)
    wait_for(lambda: feedback.progress() > 0, 60)
    start = time.monotonic()
    feedback.cancel()
    wait_for(lambda: "ok" in done, 30)
    assert time.monotonic() - start < 10 and done["ok"] is False
    assert not out.exists() and not list(tmp_path.glob("c.tif*"))


# --- the real engine with the default model --------------------------------------------------


@needs_engine
def test_processing_run_real_engine(arbsr_provider, tmp_path):
    import processing

    src = write_geotiff(tmp_path / "in.tif",
                        (smooth_image(20, 30, bands=3, seed=2) * 255).round().astype("uint8"),
                        geotransform=(500000.0, 4.0, 0.0, 4100000.0, 0.0, -4.0))
    res = processing.run("arbsr:upscale", {"INPUT": str(src), "SCALE": 2.5, "DEVICE": "cpu",
                                           "OUTPUT": str(tmp_path / "o.tif")})
    w, h, bands, gt = geometry(res["OUTPUT"])
    assert (w, h, bands) == (75, 50, 3)
    assert gt == pytest.approx((500000.0, 1.6, 0.0, 4100000.0, 0.0, -1.6))
    layer = QgsRasterLayer(res["OUTPUT"], "o")
    assert layer.isValid() and layer.crs().authid() == "EPSG:32613"


@needs_engine
def test_batch_over_several_layers_real_engine(arbsr_provider, tmp_path):
    """What batch processing does: one algorithm instance and context per row, run as tasks."""
    rows = []
    for i, (w, h) in enumerate(((24, 16), (16, 16), (20, 12))):
        src = write_geotiff(tmp_path / f"b{i}.tif",
                            (smooth_image(h, w, seed=i) * 1000).astype("uint16"))
        rows.append((src, {"INPUT": str(src), "SCALE": 1.5 + 0.5 * i, "DEVICE": "cpu",
                           "OUTPUT": str(tmp_path / f"b{i}_sr.tif")}))
    keep, done = [], {}
    for i, (_, params) in enumerate(rows):
        context, feedback = QgsProcessingContext(), QgsProcessingFeedback()
        task = QgsProcessingAlgRunnerTask(alg(), params, context, feedback)
        task.executed.connect(lambda ok, results, i=i: done.update({i: (ok, results)}))
        keep.append((context, feedback, task))
        QgsApplication.taskManager().addTask(task)
    wait_for(lambda: len(done) == len(rows), 300)
    for i, (src, params) in enumerate(rows):
        ok, results = done[i]
        assert ok, i
        w0, h0, _, _ = geometry(src)
        w, h, _, _ = geometry(results["OUTPUT"])
        assert (w, h) == (round(w0 * params["SCALE"]), round(h0 * params["SCALE"]))


@needs_engine
def test_cancel_mid_run_real_engine(arbsr_provider, tmp_path):
    src = write_geotiff(tmp_path / "big.tif",
                        (smooth_image(160, 160, bands=3) * 255).round().astype("uint8"))
    out = tmp_path / "big_sr.tif"
    context, feedback = QgsProcessingContext(), QgsProcessingFeedback()
    task = QgsProcessingAlgRunnerTask(alg(), {"INPUT": str(src), "SCALE": 6.0, "DEVICE": "cpu",
                                              "TILE_SIZE": 32, "OUTPUT": str(out)},
                                      context, feedback)
    done = {}
    task.executed.connect(lambda ok, results: done.update(ok=ok))
    QgsApplication.taskManager().addTask(task)
    wait_for(lambda: feedback.progress() > 0 or "ok" in done, 120)
    if "ok" in done:
        pytest.skip("the engine finished before it could be cancelled")
    start = time.monotonic()
    feedback.cancel()
    wait_for(lambda: "ok" in done, 30)
    assert done["ok"] is False and time.monotonic() - start < 10
    assert not out.exists()
    assert not [p for p in os.listdir(tmp_path) if p.startswith("big_sr")]


def test_interpreter_without_torch_gives_a_fix(arbsr_provider, small_tif, tmp_path, monkeypatch):
    """The real engine started by a Python that lacks torch (Debian's /usr/bin/python3 here)."""
    import subprocess

    import processing

    if subprocess.run(["/usr/bin/python3", "-c", "import torch"], capture_output=True,
                      check=False).returncode == 0:
        pytest.skip("/usr/bin/python3 has torch on this machine")
    monkeypatch.setenv("ARBSR_PYTHON", "/usr/bin/python3")
    with pytest.raises(QgsProcessingException, match="has no PyTorch") as info:
        processing.run("arbsr:upscale", {"INPUT": str(small_tif), "SCALE": 2.0,
                                         "OUTPUT": str(tmp_path / "o.tif")})
    assert "/usr/bin/python3 -m pip install torch" in str(info.value)
    assert "Engine Python" in str(info.value)
    assert not (tmp_path / "o.tif").exists()
