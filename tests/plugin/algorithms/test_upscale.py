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
    QgsProcessingParameterDefinition,
    QgsRasterLayer,
)

from rasters import smooth_image, write_geotiff
from tests.plugin.conftest import engine_calls, needs_engine, wait_for

PARAMS = {"INPUT", "MODEL", "CHECKPOINT", "SCALE", "TARGET_RESOLUTION", "BANDS", "DEVICE",
          "TILE_SIZE", "SEED", "STEPS", "TEMPERATURE", "SAMPLES", "WORKERS", "RAY_ADDRESS",
          "OVERWRITE", "OUTPUT", "UNCERTAINTY"}


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
    assert "--workers" not in tail and "--ray" not in tail
    argv = a.build_argv({"INPUT": str(small_tif), "SCALE": 2.0, "TARGET_RESOLUTION": 0.5,
                         "CHECKPOINT": str(small_tif), "OUTPUT": out}, context, executing=False)
    assert argv[argv.index("--resolution") + 1] == "0.5" and "--scale" not in argv
    assert argv[argv.index("--model") + 1] == str(small_tif)
    assert "engine upscale" in a.command_line({"INPUT": str(small_tif), "OUTPUT": out}, context)


def test_parallel_parameters_are_advanced_with_defaults_from_the_settings(arbsr_provider):
    a = alg()
    workers, ray = a.parameterDefinition("WORKERS"), a.parameterDefinition("RAY_ADDRESS")
    for p in (workers, ray):
        assert p.flags() & QgsProcessingParameterDefinition.FlagAdvanced
    assert workers.defaultValue() == 1 and workers.minimum() == 1
    assert ray.defaultValue() in (None, "")
    assert ray.flags() & QgsProcessingParameterDefinition.FlagOptional
    assert not a.checkParameterValues({"INPUT": "x.tif", "WORKERS": 0, "OUTPUT": "o.tif"},
                                      QgsProcessingContext())[0]
    overwrite = a.parameterDefinition("OVERWRITE")  # the dock's switch, not in the dialogs
    assert overwrite.flags() & QgsProcessingParameterDefinition.FlagHidden
    assert overwrite.defaultValue() is True


def parallel_tail(params, small_tif, tmp_path):
    argv = alg().build_argv({"INPUT": str(small_tif), "OUTPUT": str(tmp_path / "o.tif"),
                             **params}, QgsProcessingContext(), executing=False)
    return argv[argv.index("--device"):]


@pytest.mark.parametrize("params, expected", [
    ({}, []),
    ({"WORKERS": 1, "RAY_ADDRESS": ""}, []),
    ({"RAY_ADDRESS": "   "}, []),
    ({"WORKERS": 4}, ["--workers", "4"]),
    ({"RAY_ADDRESS": "local"}, ["--ray", "local"]),
    ({"WORKERS": 3, "RAY_ADDRESS": "ray://head:10001"},
     ["--workers", "3", "--ray", "ray://head:10001"]),
])
def test_workers_and_ray_reach_the_command_line_only_when_not_default(
        arbsr_provider, small_tif, tmp_path, params, expected):
    tail = parallel_tail(params, small_tif, tmp_path)
    found = []
    for flag in ("--workers", "--ray"):
        if flag in tail:
            found += tail[tail.index(flag):tail.index(flag) + 2]
    assert found == expected


def test_workers_and_ray_defaults_come_from_the_settings(arbsr_provider, small_tif, tmp_path):
    from processing.core.ProcessingConfig import ProcessingConfig

    from arbsr_qgis import settings

    try:
        ProcessingConfig.setSettingValue(settings.WORKERS, 3)
        ProcessingConfig.setSettingValue(settings.RAY_ADDRESS, "auto")
        a = alg()  # a new instance reads the defaults, as each dialog or run does
        assert a.parameterDefinition("WORKERS").defaultValue() == 3
        tail = parallel_tail({}, small_tif, tmp_path)
        assert tail[tail.index("--workers"):][:4] == ["--workers", "3", "--ray", "auto"]
        # an explicit value still wins over the setting
        assert "--workers" not in parallel_tail({"WORKERS": 1, "RAY_ADDRESS": ""}, small_tif,
                                                tmp_path)
    finally:
        ProcessingConfig.setSettingValue(settings.WORKERS, settings.DEFAULT_WORKERS)
        ProcessingConfig.setSettingValue(settings.RAY_ADDRESS, "")
    assert "--workers" not in parallel_tail({}, small_tif, tmp_path)


def test_workers_and_ray_reach_the_engine(arbsr_provider, fake_engine, small_tif, tmp_path,
                                          monkeypatch):
    import processing

    calls = tmp_path / "calls.jsonl"
    monkeypatch.setenv("FAKE_ENGINE_ARGV", str(calls))
    processing.run("arbsr:upscale", {"INPUT": str(small_tif), "SCALE": 2.0,
                                     "OUTPUT": str(tmp_path / "default.tif")})
    processing.run("arbsr:upscale", {"INPUT": str(small_tif), "SCALE": 2.0, "WORKERS": 2,
                                     "RAY_ADDRESS": "local",
                                     "OUTPUT": str(tmp_path / "parallel.tif")})
    default, parallel = engine_calls(calls)
    assert "--workers" not in default and "--ray" not in default
    assert parallel[parallel.index("--workers") + 1] == "2"
    assert parallel[parallel.index("--ray") + 1] == "local"
    assert geometry(tmp_path / "parallel.tif")[:2] == (64, 48)


def test_model3_child_keeps_workers_and_ray(arbsr_provider, fake_engine, small_tif, tmp_path,
                                            monkeypatch):
    """The graphical modeler: a child arbsr:upscale with WORKERS and RAY_ADDRESS, saved to a
    .model3 file, read back and run."""
    import processing
    from qgis.core import (
        QgsProcessingModelAlgorithm,
        QgsProcessingModelChildAlgorithm,
        QgsProcessingModelChildParameterSource,
        QgsProcessingModelOutput,
        QgsProcessingModelParameter,
        QgsProcessingParameterRasterLayer,
    )

    model = QgsProcessingModelAlgorithm("parallel", "ArbSR tests")
    model.addModelParameter(QgsProcessingParameterRasterLayer("raster", "Raster"),
                            QgsProcessingModelParameter("raster"))
    child = QgsProcessingModelChildAlgorithm("arbsr:upscale")
    child.setChildId("upscale")
    child.addParameterSources("INPUT", [
        QgsProcessingModelChildParameterSource.fromModelParameter("raster")])
    static = QgsProcessingModelChildParameterSource.fromStaticValue
    for name, value in (("SCALE", 1.5), ("WORKERS", 3), ("RAY_ADDRESS", "auto")):
        child.addParameterSources(name, [static(value)])
    out = QgsProcessingModelOutput("upscaled", "Upscaled")
    out.setChildOutputName("OUTPUT")
    out.setChildId("upscale")
    child.setModelOutputs({"upscaled": out})
    model.addChildAlgorithm(child)
    path = tmp_path / "parallel.model3"
    assert model.toFile(str(path))
    loaded = QgsProcessingModelAlgorithm()
    assert loaded.fromFile(str(path))
    calls = tmp_path / "calls.jsonl"
    monkeypatch.setenv("FAKE_ENGINE_ARGV", str(calls))
    res = processing.run(loaded, {"raster": str(small_tif),
                                  "upscale:upscaled": str(tmp_path / "m.tif")})
    assert geometry(res["upscale:upscaled"])[:2] == (48, 36)
    (argv,) = engine_calls(calls)
    assert argv[argv.index("--workers"):][:4] == ["--workers", "3", "--ray", "auto"]


def test_overwrite_false_never_replaces_a_file(arbsr_provider, fake_engine, small_tif, tmp_path):
    """What the dock runs: OVERWRITE=False leaves out --overwrite, and an existing file stays."""
    import processing

    out = tmp_path / "taken.tif"
    out.write_bytes(b"someone else's file")
    argv = alg().build_argv({"INPUT": str(small_tif), "OVERWRITE": False, "OUTPUT": str(out)},
                            QgsProcessingContext(), executing=False)
    assert "--overwrite" not in argv
    with pytest.raises(QgsProcessingException, match="exists"):
        processing.run("arbsr:upscale", {"INPUT": str(small_tif), "SCALE": 2.0,
                                         "OVERWRITE": False, "OUTPUT": str(out)})
    assert out.read_bytes() == b"someone else's file"


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
