"""Exported models (TorchScript .pt, ONNX .onnx) as custom models in the algorithms and the dock."""

from __future__ import annotations

import os
import subprocess

import pytest
from osgeo import gdal
from qgis.core import QgsApplication, QgsProcessingContext

from rasters import ROOT
from tests.plugin.conftest import needs_engine

CUSTOM = "custom checkpoint file"


def _alg():
    return QgsApplication.processingRegistry().createAlgorithmById("arbsr:upscale")


@pytest.mark.parametrize("suffix", [".pt", ".onnx"])
def test_exported_file_is_passed_as_model(arbsr_provider, small_tif, tmp_path, suffix):
    model = tmp_path / f"exported{suffix}"
    model.write_bytes(b"placeholder: only the argv is built here")
    argv = _alg().build_argv({"INPUT": str(small_tif), "MODEL": CUSTOM, "CHECKPOINT": str(model),
                              "SCALE": 2.0, "OUTPUT": str(tmp_path / "o.tif")},
                             QgsProcessingContext(), executing=False)
    assert argv[argv.index("--model") + 1] == str(model)


def test_file_filter_offers_exported_suffixes(arbsr_provider):
    alg = _alg()  # keep the algorithm alive while its parameter is read
    flt = alg.parameterDefinition("CHECKPOINT").fileFilter()
    assert "*.pt" in flt and "*.onnx" in flt


@pytest.mark.parametrize("suffix", [".pt", ".onnx"])
def test_dock_state_passes_exported_file(suffix):
    from arbsr_qgis.gui.dock_state import DockState

    state = DockState(layer_ids=["l1"], model=CUSTOM, checkpoint=f"/models/sr{suffix}")
    params = state.parameters("l1", "layer")
    assert params["MODEL"] == CUSTOM and params["CHECKPOINT"] == f"/models/sr{suffix}"


@needs_engine
@pytest.mark.slow
def test_exported_model_upscales_through_processing(arbsr_provider, small_tif, tmp_path):
    """Export the default model with the engine CLI, then run arbsr:upscale with that file.

    TorchScript here; the engine's own CLI test runs an ONNX export through ``upscale``.
    """
    import processing

    fmt, suffix = "torchscript", ".pt"
    model = tmp_path / f"default{suffix}"
    python = os.environ["ARBSR_PYTHON"]
    res = subprocess.run([python, "-m", "engine", "export", "lmlte-default", str(model),
                          "--format", fmt], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    out = tmp_path / f"sr_{fmt}.tif"
    result = processing.run("arbsr:upscale", {"INPUT": str(small_tif), "MODEL": CUSTOM,
                                              "CHECKPOINT": str(model), "SCALE": 2.0,
                                              "DEVICE": "cpu", "OUTPUT": str(out)})
    assert result["OUTPUT"] == str(out)
    ds = gdal.Open(str(out))
    assert (ds.RasterXSize, ds.RasterYSize, ds.RasterCount) == (64, 48, 3)
