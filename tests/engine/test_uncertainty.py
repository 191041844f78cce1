"""Diffusion detail control and uncertainty layer through the CLI, on real GeoTIFFs.

``--temperature`` weighs the sampled detail of the ``moe`` model (0 = deterministic);
``--samples K --uncertainty PATH`` writes the per-pixel standard deviation over K samples on the
output's grid, in the output's data units, with nodata where the output is nodata, while the
output stays the ``--seed`` sample.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from osgeo import gdal

from rasters import smooth_image, write_geotiff
from engine.pipeline.sink import UNCERTAINTY_NODATA

gdal.UseExceptions()


@pytest.fixture
def run(run_cli):
    """The CLI in-process with JSON progress: (exit code, events, stderr)."""
    def call(*argv: object) -> tuple[int, list[dict], str]:
        code, out, err = run_cli(*argv, "--progress", "json")
        return code, [json.loads(line) for line in out.splitlines() if line.strip()], err

    return call


def read(path: Path) -> np.ndarray:
    return gdal.Open(str(path)).ReadAsArray()


@pytest.fixture(scope="module")
def src(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two UInt16 bands with a nodata hole; 40 x 36 pixels (one block at x2)."""
    data = (smooth_image(36, 40, bands=2, seed=3) * 3000 + 100).astype("uint16")
    data[:, 5:9, 20:26] = 0
    path = tmp_path_factory.mktemp("unc") / "in.tif"
    write_geotiff(path, data, nodata=0, descriptions=["red", "nir"])
    ds = gdal.Open(str(path), gdal.GA_Update)
    ds.GetRasterBand(2).SetUnitType("DN")
    ds = None
    return path


def test_uncertainty_layer_grid_units_and_nodata(tmp_path: Path, src: Path, run) -> None:
    out, unc, plain = tmp_path / "out.tif", tmp_path / "std.tif", tmp_path / "plain.tif"
    code, events, err = run("upscale", src, out, "--model", "moe", "--scale", "2",
                            "--steps", "2", "--seed", "7", "--samples", "3",
                            "--uncertainty", unc)
    assert code == 0, err
    assert events[-1]["event"] == "done" and events[-1]["results"]["uncertainty"] == str(unc)
    code, _, err = run("upscale", src, plain, "--model", "moe", "--scale", "2", "--steps", "2",
                       "--seed", "7")
    assert code == 0, err
    # The output is the seed's sample, exactly as without an uncertainty layer.
    np.testing.assert_array_equal(read(out), read(plain))
    o, u = gdal.Open(str(out)), gdal.Open(str(unc))
    assert (u.RasterXSize, u.RasterYSize, u.RasterCount) == (80, 72, 2)
    assert u.GetGeoTransform() == o.GetGeoTransform()
    assert u.GetProjection() == o.GetProjection()
    assert u.GetRasterBand(1).DataType == gdal.GDT_Float32
    assert u.GetRasterBand(1).GetNoDataValue() == UNCERTAINTY_NODATA
    assert u.GetRasterBand(1).GetDescription() == "std of red"
    assert u.GetRasterBand(2).GetUnitType() == "DN"
    std, data = u.ReadAsArray(), o.ReadAsArray()
    nodata = data == 0
    assert nodata.any()
    np.testing.assert_array_equal(std == UNCERTAINTY_NODATA, nodata)
    valid = std[~nodata]
    assert (valid >= 0).all() and valid.max() > 0
    # Output data units: a std of a few grey levels for a 100..3100 band, not a fraction of 1.
    assert 0.5 < float(np.median(valid)) < 3000


def test_temperature_zero_is_deterministic_and_its_spread_is_zero(tmp_path: Path, src: Path,
                                                                  run) -> None:
    outs = []
    for seed in (1, 2):
        out, unc = tmp_path / f"t0-{seed}.tif", tmp_path / f"std-{seed}.tif"
        code, _, err = run("upscale", src, out, "--model", "moe", "--scale", "1.5", "--steps",
                           "2", "--seed", seed, "--temperature", "0", "--uncertainty", unc,
                           "--samples", "2")
        assert code == 0, err
        outs.append(read(out))
        std = read(unc)
        assert (std[std != UNCERTAINTY_NODATA] == 0).all()
    np.testing.assert_array_equal(outs[0], outs[1])


@pytest.mark.parametrize("argv, message", [
    (["--model", "lmlte-default", "--uncertainty", "{tmp}/u.tif"], "deterministic"),
    (["--model", "lmlte-default", "--temperature", "0.5"], "detail control"),
    (["--model", "moe", "--temperature", "2"], "between 0 and 1"),
    (["--model", "moe", "--samples", "3"], "--uncertainty"),
    (["--model", "moe", "--uncertainty", "{tmp}/u.tif", "--samples", "1"], "at least 2"),
    (["--model", "moe", "--uncertainty", "{tmp}/out.tif"], "another file"),
    (["--model", "moe", "--uncertainty", "{tmp}/u.png"], "GeoTIFF"),
])
def test_bad_sampling_options_are_refused_in_one_line(tmp_path: Path, src: Path, run,
                                                      argv: list[str], message: str) -> None:
    out = tmp_path / "out.tif"
    code, _, err = run("upscale", src, out, "--scale", "2",
                       *[a.format(tmp=tmp_path) for a in argv])
    assert code != 0 and message in err and len(err.strip().splitlines()) == 1
    assert not out.exists() and not (tmp_path / "u.tif").exists()
