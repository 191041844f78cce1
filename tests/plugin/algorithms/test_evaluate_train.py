"""arbsr:evaluate and arbsr:train: argv, outputs usable in models, progress and cancel."""

from __future__ import annotations

import math

import pytest
from qgis.core import QgsApplication, QgsProcessingContext

from arbsr_qgis.algorithms.evaluate import pick_metrics
from tests.plugin.conftest import needs_engine

EVAL_OUTPUTS = {"OUTPUT_HTML", "PSNR_MODEL", "SSIM_MODEL", "PSNR_CUBIC", "SSIM_CUBIC",
                "PSNR_LANCZOS", "SSIM_LANCZOS"}


def test_pick_metrics_layouts():
    nested = {"model": {"psnr": 30.0, "ssim": 0.9}, "cubic": {"psnr": 28.0, "ssim": 0.8}}
    assert pick_metrics(nested, {}) == {"psnr_model": 30.0, "ssim_model": 0.9,
                                        "psnr_cubic": 28.0, "ssim_cubic": 0.8}
    by_metric = {"psnr": {"arbsr": 31.0, "lanczos": 29.0}, "ssim": {"sr": 0.95}}
    assert pick_metrics(by_metric, {}) == {"psnr_model": 31.0, "psnr_lanczos": 29.0,
                                           "ssim_model": 0.95}
    assert pick_metrics({}, {"psnr/model": 33.0}) == {"psnr_model": 33.0}
    engine = {"model": "lmlte-default", "scale": [2, 2],
              "methods": {"lmlte-default": {"psnr": 35.0, "ssim": 0.97},
                          "gdal-cubic": {"psnr": 33.0, "ssim": 0.95},
                          "gdal-lanczos": {"psnr": 33.5, "ssim": 0.955}}}
    assert pick_metrics(engine, {}) == {"psnr_model": 35.0, "ssim_model": 0.97,
                                        "psnr_cubic": 33.0, "ssim_cubic": 0.95,
                                        "psnr_lanczos": 33.5, "ssim_lanczos": 0.955}


def test_evaluate_outputs_and_argv(arbsr_provider, small_tif):
    alg = QgsApplication.processingRegistry().createAlgorithmById("arbsr:evaluate")
    assert {o.name() for o in alg.outputDefinitions()} == EVAL_OUTPUTS
    argv = alg.build_argv({"INPUT": str(small_tif), "SCALE": 3.0, "DEVICE": "cpu",
                           "OUTPUT_HTML": "r.html"}, QgsProcessingContext(), executing=False)
    assert argv[3:7] == ["evaluate", str(small_tif), "--scale", "3.0"]


def test_evaluate_fake_engine(arbsr_provider, fake_engine, small_tif, tmp_path):
    import processing

    res = processing.run("arbsr:evaluate", {"INPUT": str(small_tif), "SCALE": 2.0,
                                            "OUTPUT_HTML": str(tmp_path / "r.html")})
    assert res["PSNR_MODEL"] == 31.5 and res["SSIM_LANCZOS"] == 0.86
    html = (tmp_path / "r.html").read_text()
    assert "31.50" in html and "lanczos" in html


def test_train_argv_follows_engine_flags(arbsr_provider, small_tif, tmp_path):
    alg = QgsApplication.processingRegistry().createAlgorithmById("arbsr:train")
    argv = alg.build_argv({"INPUTS": [str(small_tif)], "MODEL": "none (train from scratch)",
                           "FAMILY": "lmlte", "EPOCHS": 2, "ITERS_PER_EPOCH": 3,
                           "SCALE_MIN": 1.0, "SCALE_MAX": 3.0, "DEVICE": "cpu",
                           "OUTPUT": str(tmp_path / "ckpt")}, QgsProcessingContext(),
                          executing=False)
    assert argv[3] == "train"
    for flags in (["--data", str(small_tif)], ["--out", str(tmp_path / "ckpt")],
                  ["--family", "lmlte"], ["--epochs", "2"], ["--iters-per-epoch", "3"],
                  ["--scale-max", "3.0"], ["--device", "cpu"]):
        i = argv.index(flags[0])
        assert argv[i:i + 2] == flags
    assert "--init" not in argv
    # the engine's own parser accepts every flag the plugin builds
    from engine.cli import build_parser

    parsed = build_parser().parse_args(argv[3:])
    assert parsed.data == [str(small_tif)] and parsed.scale_max == 3.0


def test_train_fake_engine_reports_loss(arbsr_provider, fake_engine, small_tif, tmp_path,
                                        monkeypatch):
    import processing

    monkeypatch.setenv("FAKE_ENGINE_SLEEP", "0")
    res = processing.run("arbsr:train", {"INPUTS": [str(small_tif)],
                                         "MODEL": "none (train from scratch)",
                                         "EPOCHS": 1, "ITERS_PER_EPOCH": 4,
                                         "OUTPUT": str(tmp_path / "ckpt")})
    assert res["CHECKPOINT_FILE"].endswith(".pth")
    assert math.isclose(res["FINAL_LOSS"], 0.25)


@needs_engine
def test_evaluate_real_engine(arbsr_provider, wv2_mul_crop, tmp_path):
    import processing

    res = processing.run("arbsr:evaluate", {"INPUT": str(wv2_mul_crop), "SCALE": 2.0,
                                            "DEVICE": "cpu",
                                            "OUTPUT_HTML": str(tmp_path / "r.html")})
    for key in ("PSNR_MODEL", "PSNR_CUBIC", "PSNR_LANCZOS"):
        assert 10 < res[key] < 80, key
    for key in ("SSIM_MODEL", "SSIM_CUBIC", "SSIM_LANCZOS"):
        assert 0 < res[key] <= 1, key
    assert (tmp_path / "r.html").is_file()


@pytest.mark.slow
def test_train_real_engine_fine_tunes_default_model(arbsr_provider, tmp_path):
    import processing

    from rasters import smooth_image, write_geotiff

    alg = QgsApplication.processingRegistry().algorithmById("arbsr:train")
    registered = [n for n in alg.parameterDefinition("MODEL").options() if n == "lmlte-default"]
    if not registered:
        pytest.skip("the default LMLTE model is not registered")
    src = write_geotiff(tmp_path / "hr.tif",
                        (smooth_image(48, 48, bands=1, seed=4) * 255).round().astype("uint8"))
    res = processing.run("arbsr:train", {"INPUTS": [str(src)], "MODEL": registered[0],
                                         "EPOCHS": 1, "ITERS_PER_EPOCH": 1, "BATCH_SIZE": 1,
                                         "PATCH_SIZE": 8, "SCALE_MAX": 2.0, "DEVICE": "cpu",
                                         "OUTPUT": str(tmp_path / "run")})
    assert res["CHECKPOINT_FILE"].endswith(".pth")
    assert (tmp_path / "run" / res["CHECKPOINT_FILE"].split("/")[-1]).is_file()
    assert math.isfinite(res["FINAL_LOSS"])
