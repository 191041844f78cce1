"""``engine.enhance``: NumPy in, NumPy out, same layout and dtype, same code as the raster CLI."""

from __future__ import annotations

import numpy as np
import pytest
from osgeo import gdal

import engine
from engine.api import guess_layout
from engine.errors import ParameterError
from rasters import smooth_image


@pytest.fixture(scope="module")
def model() -> engine.SRModel:
    return engine.load_model("lmlte-default", device="cpu")


@pytest.mark.parametrize("shape,layout", [((20, 30), "hw"), ((3, 20, 30), "chw"),
                                          ((20, 30, 3), "hwc"), ((8, 40, 40), "chw"),
                                          ((40, 40, 4), "hwc"), ((3, 3, 3), "chw")])
def test_guess_layout(shape, layout):
    assert guess_layout(shape) == layout


def test_guess_layout_refuses_ambiguous_and_non_images():
    with pytest.raises(ParameterError):
        guess_layout((40, 50, 60))
    with pytest.raises(ParameterError):
        guess_layout((2, 3, 4, 5))


@pytest.mark.parametrize("dtype,layout,shape", [
    ("uint8", "hwc", (18, 22, 3)),
    ("uint16", "chw", (2, 18, 22)),
    ("float32", "hw", (18, 22)),
    ("int8", "hw", (18, 22)),
    ("float16", "hwc", (18, 22, 1)),
])
def test_enhance_keeps_layout_and_dtype(model, dtype, layout, shape):
    bands = shape[-1] if layout == "hwc" else (shape[0] if layout == "chw" else 1)
    img = smooth_image(18, 22, bands)
    info = np.iinfo(dtype) if np.dtype(dtype).kind in "iu" else None
    lo, hi = (info.min, info.max) if info else (-1.0, 1.0)
    data = lo + img * (hi - lo)
    arr = {"hw": data[0], "chw": data, "hwc": np.moveaxis(data, 0, -1)}[layout].astype(dtype)
    out = engine.enhance(arr, 2.5, model=model)
    assert out.dtype == arr.dtype
    assert arr.shape == shape
    want = {"hw": (45, 55), "chw": (bands, 45, 55), "hwc": (45, 55, bands)}[layout]
    assert out.shape == want
    # The result is the input, sharper: close to the nearest-neighbour enlargement.
    src = {"hw": arr[None], "chw": arr, "hwc": np.moveaxis(arr, -1, 0)}[layout]
    res = {"hw": out[None], "chw": out, "hwc": np.moveaxis(out, -1, 0)}[layout]
    iy = (np.arange(45) * 18 // 45)[:, None]
    ix = (np.arange(55) * 22 // 55)[None, :]
    near = src[:, iy, ix].astype(np.float64)
    assert np.abs(res.astype(np.float64) - near).mean() < 0.1 * (hi - lo)


def test_enhance_is_the_cli_pipeline(model, geotiff, tmp_path):
    """Same numbers as upscale_raster on the same data written as a GeoTIFF."""
    from engine.pipeline import Scale, upscale_raster

    data = (smooth_image(24, 20, 3, seed=4) * 4000 + 100).astype("uint16")
    src = geotiff(data)
    dst = tmp_path / "out.tif"
    upscale_raster(src, dst, model, scale=Scale(x=3.0, y=2.0))
    want = gdal.Open(str(dst)).ReadAsArray()
    got = engine.enhance(data, (2.0, 3.0), model=model, layout="chw")
    assert got.shape == (3, 48, 60)
    np.testing.assert_array_equal(got, want)


def test_enhance_accepts_an_exported_model_path(tmp_path):
    """Through the same loader as --model: an exported TorchScript file of the default model."""
    from engine.export import export_model

    model = engine.load_model("lmlte-default", device="cpu")
    path = export_model(model, tmp_path / "m.pt", fmt="torchscript").path
    img = (smooth_image(16, 16, 1)[0] * 255).astype("uint8")
    eager = engine.enhance(img, 2, model=model)
    exported = engine.enhance(img, 2, model=str(path), device="cpu")
    assert exported.shape == (32, 32)
    assert np.abs(exported.astype(int) - eager.astype(int)).max() <= 1


def test_enhance_rejects_bad_input(model):
    with pytest.raises(ParameterError):
        engine.enhance(np.zeros((4, 4), dtype=complex), 2, model=model)
    with pytest.raises(ParameterError):
        engine.enhance(np.zeros((4, 4), dtype="uint8"), 0.5, model=model)
    with pytest.raises(ParameterError):
        engine.enhance(np.zeros((4, 4), dtype="uint8"), 2, model=model, layout="chw")
