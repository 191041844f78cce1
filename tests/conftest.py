"""Shared fixtures: real GeoTIFFs written with GDAL, and real WorldView crops cut at run time.

The WorldView imagery comes from the ``dgsamples`` package (installed by ``make setup``); its
terms restrict redistribution, so tests cut what they need into tmp dirs and nothing is committed.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest
from osgeo import gdal

from rasters import WriteTiff, dgsamples_file, write_geotiff

gdal.UseExceptions()

# Interpreter for engine child processes: explicit, never QGIS's sys.executable.
os.environ.setdefault("ARBSR_PYTHON", str(Path(sys.executable).parent / "python"))


def _throwaway_folder(name: str, factory: pytest.TempPathFactory):
    """Points the environment variable ``name`` at a fresh folder for the session, then puts
    back what was there."""
    saved = os.environ.get(name)
    os.environ[name] = str(factory.mktemp(name.lower()))
    yield Path(os.environ[name])
    if saved is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = saved


@pytest.fixture(scope="session", autouse=True)
def user_data_home(tmp_path_factory: pytest.TempPathFactory):
    """A throw-away $XDG_DATA_HOME: ``engine models add`` (and the plugin's model lists) use
    ``$XDG_DATA_HOME/arbsr/models``, and tests must never read or write the user's own."""
    yield from _throwaway_folder("XDG_DATA_HOME", tmp_path_factory)


@pytest.fixture(scope="session", autouse=True)
def user_cache(tmp_path_factory: pytest.TempPathFactory):
    """A throw-away ``$ARBSR_CACHE_DIR``: compiled models (``engine compile``) live there, and
    tests must neither use nor write the user's own (every test runs the eager path unless it
    compiles a model into this folder)."""
    yield from _throwaway_folder("ARBSR_CACHE_DIR", tmp_path_factory)


@pytest.fixture
def geotiff(tmp_path: Path) -> WriteTiff:
    """Factory: ``geotiff(data, name="in.tif", **write_geotiff_kwargs)`` -> path."""

    def make(data: np.ndarray, name: str = "in.tif", **kwargs: object) -> Path:
        return write_geotiff(tmp_path / name, data, **kwargs)  # type: ignore[arg-type]

    return make


@pytest.fixture(scope="session")
def wv2_pan_crop(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 256x256 crop of the WorldView-2 panchromatic file (UInt16, georeferenced)."""
    out = tmp_path_factory.mktemp("wv2") / "wv2_pan_256.tif"
    gdal.Translate(str(out), str(dgsamples_file("wv2", "PAN")), srcWin=[600, 700, 256, 256])
    return out


@pytest.fixture(scope="session")
def wv2_mul_crop(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 96x96 crop of the WorldView-2 8-band multispectral file (UInt16, georeferenced)."""
    out = tmp_path_factory.mktemp("wv2") / "wv2_mul_96.tif"
    gdal.Translate(str(out), str(dgsamples_file("wv2", "MUL")), srcWin=[150, 170, 96, 96])
    return out
