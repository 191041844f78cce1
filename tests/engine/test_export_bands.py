"""An exported ``lmlte-default`` is a model like any other: through ``python -m engine upscale`` it
gives the eager model's pixels on every band count and data type.

The band-wise default model sees a 3-band or 8-band raster as a batch of single-band images: an
exported graph must treat the batch as the eager network does. Real imagery: a crop of the
scikit-image astronaut photo (RGB) and of the WorldView-2 8-band file from ``dgsamples``, cut at
run time into tmp dirs (nothing committed), in integer and float types.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from osgeo import gdal

from engine.errors import ModelError
from engine.export import export_model
from engine.models.registry import load_model
from rasters import dgsamples_file, write_geotiff
from tests.engine.test_export import TinyImplicit, TinySRModel

gdal.UseExceptions()

ROOT = Path(__file__).resolve().parents[2]
_VENV_PY = ROOT / ".venv" / "bin" / "python"
PY = str(_VENV_PY) if _VENV_PY.exists() else sys.executable


def _engine(*args: str) -> None:
    res = subprocess.run([PY, "-m", "engine", *args], cwd=ROOT, capture_output=True, text=True,
                         timeout=300)
    assert res.returncode == 0, res.stderr


def _read(path: Path) -> np.ndarray:
    ds = gdal.Open(str(path))
    return ds.ReadAsArray()


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """``lmlte-default`` exported through the CLI to both formats."""
    folder = tmp_path_factory.mktemp("exported")
    files = {"torchscript": folder / "lmlte.pt", "onnx": folder / "lmlte.onnx"}
    for fmt, path in files.items():
        _engine("export", "lmlte-default", str(path), "--format", fmt)
    return files


@pytest.fixture(scope="module")
def rasters(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, float]]:
    """name -> (GeoTIFF, scale): RGB photo (Byte, Float32), 8-band WorldView-2 (UInt16, Float32)."""
    skimage_data = pytest.importorskip("skimage.data")
    folder = tmp_path_factory.mktemp("bands")
    rgb = skimage_data.astronaut()[60:100, 180:228].transpose(2, 0, 1).copy()  # (3, 40, 48) uint8
    mul = folder / "wv2_mul.tif"
    gdal.Translate(str(mul), str(dgsamples_file("wv2", "MUL")), srcWin=[150, 170, 36, 32])
    mul_f = folder / "wv2_mul_f32.tif"
    gdal.Translate(str(mul_f), str(mul), outputType=gdal.GDT_Float32,
                   scaleParams=[[0, 2047, 0.0, 1.0]])
    return {
        "rgb_byte": (write_geotiff(folder / "rgb.tif", rgb), 3.0),
        "rgb_float32": (write_geotiff(folder / "rgb_f32.tif",
                                      rgb.astype(np.float32) / 255.0), 3.0),
        "wv2_uint16": (mul, 2.5),
        "wv2_float32": (mul_f, 2.5),
    }


@pytest.mark.slow
@pytest.mark.parametrize("name", ["rgb_byte", "rgb_float32", "wv2_uint16", "wv2_float32"])
def test_exported_default_model_gives_the_eager_pixels_through_the_cli(exported, rasters, name,
                                                                       tmp_path):
    src, scale = rasters[name]
    eager = tmp_path / "eager.tif"
    _engine("upscale", str(src), str(eager), "--scale", str(scale))
    want = _read(eager)
    bands = gdal.Open(str(src)).RasterCount
    assert want.shape[0] == bands > 1
    for fmt, model in exported.items():
        out = tmp_path / f"{fmt}.tif"
        _engine("upscale", str(src), str(out), "--scale", str(scale), "--model", str(model))
        got = _read(out)
        assert got.dtype == want.dtype and got.shape == want.shape
        diff = np.abs(got.astype(np.float64) - want.astype(np.float64))
        if want.dtype.kind == "f":
            # float32 graph vs eager network: last-bit differences only
            assert diff.max() <= 1e-4 * max(1.0, float(np.abs(want).max())), (fmt, diff.max())
        else:
            assert diff.max() <= 1, (fmt, diff.max())  # one rounding step at most


class BatchBranch(TinyImplicit):
    """A network whose code branches on the batch size, as LMLTE's table lookup once did: a
    trace of one image keeps only the one-image branch."""

    def forward(self, inp: torch.Tensor, coord: torch.Tensor, cell: torch.Tensor) -> torch.Tensor:
        out = super().forward(inp, coord, cell)
        if inp.shape[0] > 1:
            out = out + inp.mean((1, 2, 3)).view(-1, 1, 1)
        return out


@pytest.mark.parametrize("fmt", ["torchscript", "onnx"])
def test_export_refuses_a_graph_that_froze_the_batch_size(tmp_path, fmt):
    """The self-check runs a batch of different images, so a graph that froze the batch size of
    its trace is refused at export time instead of giving wrong multi-band pictures later."""
    torch.manual_seed(0)
    model = TinySRModel(name="branchy", family="lmlte", module=BatchBranch().eval(),
                        in_channels=3, out_channels=3, scale_range=(1.0, 4.0), halo=4)
    with pytest.raises(ModelError, match="differs from the network"):
        export_model(model, tmp_path / ("m.pt" if fmt == "torchscript" else "m.onnx"), fmt=fmt)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["torchscript", "onnx"])
def test_exported_default_model_renders_a_batch_like_the_eager_model(exported, fmt):
    """Direct check of the cause: several bands as one batch, eager vs exported, same numbers."""
    eager = load_model("lmlte-default")
    model = load_model(str(exported[fmt]))
    lr = torch.rand(4, 1, 18, 21, generator=torch.Generator().manual_seed(3))
    rows = torch.arange(0.2, 18, 0.4, dtype=torch.float64)
    cols = torch.arange(0.2, 21, 0.4, dtype=torch.float64)
    want = eager.upscale_grid(lr, rows, cols, (0.4, 0.4), clamp=False)
    got = model.upscale_grid(lr, rows, cols, (0.4, 0.4), clamp=False)
    assert float((got - want).abs().max()) <= 1e-4
    want = eager.upscale(lr, (45, 50))
    got = model.upscale(lr, (45, 50))
    assert float((got - want).abs().max()) <= 1e-4


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["torchscript", "onnx"])
def test_exported_file_carries_what_the_pipeline_reads(exported, fmt):
    eager = load_model("lmlte-default")
    model = load_model(str(exported[fmt]))
    for attr in ("in_channels", "out_channels", "scale_range", "halo", "stochastic",
                 "supports_grid"):
        assert getattr(model, attr) == getattr(eager, attr), attr
    assert model.meta.norm_mean == model.meta.norm_std == 0.5  # LMLTE's [-1, 1] inputs
