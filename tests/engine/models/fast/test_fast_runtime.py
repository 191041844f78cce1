"""The ``fast`` model's torch-free CPU runtime: the same pixels as the torch network, the graph
in step with the bundled weights, and a CLI run that never imports torch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from osgeo import gdal

import engine
from engine.errors import DeviceError, ModelError
from engine.models.fast import checkpoint
from engine.models.fast.network import FastSRNet
from engine.models.fast.resample import centres
from engine.models.fast.runtime import FastRuntime, export_graph, load_runtime
from engine.models.registry import RESOURCES, on_cpu
from rasters import ROOT, smooth_image

GRAPH = RESOURCES / "fast.onnx"

pytestmark = pytest.mark.usefixtures("one_thread")

#: (LR h, w) -> (output H, W): integer, fractional, per-axis, x1, downward-odd and square cases
#: (square tiles share their row and column positions: each axis must keep its own gains).
SIZES = [((40, 50), (80, 100)), ((33, 47), (110, 61)), ((64, 64), (211, 211)),
         ((20, 30), (20, 30)), ((17, 9), (136, 72)), ((25, 25), (100, 100))]


def _both(torch_model: object, rt: FastRuntime, lr: np.ndarray, size: tuple[int, int]
          ) -> tuple[np.ndarray, np.ndarray]:
    h, w = lr.shape[-2:]
    rows, cols = centres(size[0], h), centres(size[1], w)
    pixel = (h / size[0], w / size[1])
    a = torch_model.upscale_grid(torch.from_numpy(lr), rows, cols, pixel,  # type: ignore[attr-defined]
                                 clamp=False).numpy()
    b = rt.upscale_grid(lr, rows.numpy(), cols.numpy(), pixel, clamp=False)
    return a, b


def test_runtime_gives_the_torch_networks_pixels() -> None:
    ref = engine.load_model("fast", device="cpu")
    rt = engine.load_model("fast", device="cpu", runtime=True)
    assert isinstance(rt, FastRuntime) and rt.array_api == "numpy"
    assert (rt.halo, rt.in_channels, rt.supports_grid) == (ref.halo, 1, True)
    rng = np.random.default_rng(0)
    for _ in range(2):  # the second round runs from the runtime's cached axes
        for lr_size, size in SIZES:
            lr = rng.random((2, 1, *lr_size)).astype(np.float32)
            a, b = _both(ref, rt, lr, size)
            assert b.shape == a.shape == (2, 1, *size) and b.dtype == np.float32
            np.testing.assert_allclose(b, a, atol=1e-5, rtol=0)


def test_bundled_graph_is_the_bundled_weights(tmp_path: Path) -> None:
    """``fast.onnx`` is exported from ``fast.pth`` as it is (re-exported: the same outputs)."""
    ref = engine.load_model("fast", device="cpu")
    fresh = tmp_path / "fast.onnx"
    export_graph(ref.module, fresh)
    shipped = load_runtime(GRAPH, name="fast")
    again = load_runtime(fresh, name="fast")
    lr = np.random.default_rng(1).random((1, 1, 31, 23)).astype(np.float32)
    rows, cols = centres(77, 31).numpy(), centres(40, 23).numpy()
    a = shipped.upscale_grid(lr, rows, cols, (31 / 77, 23 / 40))
    b = again.upscale_grid(lr, rows, cols, (31 / 77, 23 / 40))
    np.testing.assert_array_equal(a, b)


def test_other_weights_export_and_load(tmp_path: Path) -> None:
    torch.manual_seed(3)
    net = FastSRNet(channels=4, layers=2, features=2, hidden=4)
    model = checkpoint.load(checkpoint.make_checkpoint(net), name="t", device=torch.device("cpu"))
    path = tmp_path / "t.onnx"
    export_graph(model.module, path)
    rt = load_runtime(path, name="t")
    assert (rt.layers, rt.features, rt.halo) == (2, 2, model.halo)
    lr = np.random.default_rng(2).random((1, 1, 19, 21)).astype(np.float32)
    a, b = _both(model, rt, lr, (47, 30))
    np.testing.assert_allclose(b, a, atol=1e-5, rtol=0)


def test_bad_or_missing_graph_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="missing"):
        load_runtime(tmp_path / "none.onnx", name="fast")
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a graph")
    with pytest.raises(ModelError, match="re-export it"):
        load_runtime(bad, name="fast")


def test_registry_chooses_the_runtime_only_for_the_pipeline_on_the_cpu() -> None:
    assert on_cpu("cpu") and not on_cpu("cuda") and not on_cpu("cuda:0")
    # The Python API keeps the torch model (its contract is torch tensors).
    assert engine.load_model("fast", device="cpu").family == "fast"
    assert not isinstance(engine.load_model("fast", device="cpu"), FastRuntime)
    # Other models have no runtime: runtime=True changes nothing for them.
    assert not isinstance(engine.load_model("lmlte-default", device="cpu", runtime=True),
                          FastRuntime)
    if not torch.cuda.is_available():
        with pytest.raises(DeviceError):
            engine.load_model("fast", device="cuda", runtime=True)


def test_cli_runs_without_torch_and_matches_the_torch_pipeline(tmp_path: Path, geotiff) -> None:
    """What users run: ``python -m engine upscale --model fast``; torch is never imported, and the
    raster equals the torch model's through the same pipeline (to rounding, per-axis scale)."""
    from engine.pipeline import Scale, upscale_raster

    data = (smooth_image(90, 70, bands=2, seed=5) * 3000 + 100).astype("uint16")
    src = geotiff(data, nodata=0)
    out = tmp_path / "rt.tif"
    code = ("import sys, json, engine.cli\n"
            f"rc = engine.cli.main(['upscale', {str(src)!r}, {str(out)!r}, '--model', 'fast', "
            "'--scale-x', '2.5', '--scale-y', '1.5', '--tile', '32', '--progress', 'none'])\n"
            "print(json.dumps({'rc': rc, 'torch': 'torch' in sys.modules}))\n")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    p = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True,
                       text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]
    assert json.loads(p.stdout.strip().splitlines()[-1]) == {"rc": 0, "torch": False}
    ref = tmp_path / "torch.tif"
    upscale_raster(str(src), str(ref), engine.load_model("fast", device="cpu"),
                   scale=Scale(2.5, 1.5), tile=32)
    a, b = gdal.Open(str(out)), gdal.Open(str(ref))
    assert (a.RasterXSize, a.RasterYSize, a.RasterCount) == (175, 135, 2)
    assert a.GetGeoTransform() == b.GetGeoTransform() and a.GetProjection() == b.GetProjection()
    assert a.GetRasterBand(1).GetNoDataValue() == 0
    x, y = a.ReadAsArray().astype(int), b.ReadAsArray().astype(int)
    assert np.abs(x - y).max() <= 1 and (x != y).mean() < 1e-3


def test_local_workers_run_the_runtime_with_the_same_pixels(tmp_path: Path, geotiff) -> None:
    """``--workers 2``: each worker process loads the runtime itself; blocks equal one process's."""
    data = (smooth_image(64, 80, bands=1, seed=6) * 900).astype("uint16")
    src = geotiff(data)
    outs = []
    for workers in ("1", "2"):
        out = tmp_path / f"w{workers}.tif"
        p = subprocess.run([sys.executable, "-m", "engine", "upscale", str(src), str(out),
                            "--model", "fast", "--scale", "3", "--tile", "24", "--workers",
                            workers, "--progress", "json"], cwd=ROOT, capture_output=True,
                           text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
        assert p.returncode == 0, p.stderr[-2000:]
        done = json.loads(p.stdout.strip().splitlines()[-1])
        assert done["event"] == "done" and done["results"]["device"] == "cpu"
        outs.append(gdal.Open(str(out)).ReadAsArray())
    assert outs[0].shape == (192, 240)
    np.testing.assert_array_equal(outs[0], outs[1])


def test_without_onnxruntime_the_pipeline_runs_the_torch_network(monkeypatch) -> None:
    """onnxruntime is optional: an engine Python without it runs ``fast`` through torch."""
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import raises ImportError
    model = engine.load_model("fast", device="cpu", runtime=True)
    assert not isinstance(model, FastRuntime) and model.family == "fast"
