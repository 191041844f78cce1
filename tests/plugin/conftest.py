"""Fixtures for the plugin tests: the provider in the real headless QGIS, small GeoTIFFs, engines.

The end-to-end tests use the real engine (``$ARBSR_PYTHON -m engine``, set by tests/conftest.py)
with the bundled default model; ``fake_engine`` swaps in tests/plugin/fake_engine (same CLI and
JSON events, GDAL nearest resize, no torch) for fast unit tests of the plugin's own logic.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from qgis.core import QgsApplication

from rasters import ROOT, smooth_image, write_geotiff

FAKE_ROOT = Path(__file__).resolve().parent / "fake_engine"
QGIS_PROCESS = shutil.which("qgis_process.bin") or "/usr/bin/qgis_process.bin"


def real_engine_ready() -> bool:
    """True once the engine's upscale command and a default model exist in the checkout."""
    return (ROOT / "engine" / "commands" / "upscale.py").is_file() and any(
        (ROOT / "resources" / "models").glob("*.json"))


needs_engine = pytest.mark.skipif(not real_engine_ready(),
                                  reason="engine upscale command or default model not built yet")


@pytest.fixture(scope="session")
def arbsr_provider(qgis_processing):
    """The ArbSR provider registered in the session's processing registry."""
    from arbsr_qgis.provider import ArbsrProvider

    registry = QgsApplication.processingRegistry()
    existing = registry.providerById("arbsr")
    if existing is not None:
        yield existing
        return
    provider = ArbsrProvider()
    assert registry.addProvider(provider)
    yield provider
    if registry.providerById("arbsr") is provider:
        registry.removeProvider(provider)


@pytest.fixture
def small_tif(tmp_path: Path) -> Path:
    """A 32x24 3-band UInt8 GeoTIFF (EPSG:32613, 2 m pixels)."""
    data = (smooth_image(24, 32, bands=3, seed=1) * 255).round().astype(np.uint8)
    return write_geotiff(tmp_path / "small.tif", data)


@pytest.fixture
def fake_engine(monkeypatch):
    """Run the plugin against the fake engine (fast, no torch)."""
    monkeypatch.setenv("ARBSR_ENGINE_ROOT", str(FAKE_ROOT))
    for knob in ("FAKE_ENGINE_SLEEP", "FAKE_ENGINE_FAIL", "FAKE_ENGINE_NOISE",
                 "FAKE_ENGINE_ARGV"):
        monkeypatch.delenv(knob, raising=False)
    return FAKE_ROOT


def engine_calls(path: Path) -> list[list[str]]:
    """The argument lists the fake engine recorded in ``path`` (FAKE_ENGINE_ARGV)."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


@pytest.fixture
def hanging_python(tmp_path: Path, monkeypatch) -> Path:
    """ARBSR_PYTHON is an "interpreter" that hangs for 60 s whatever it is asked."""
    script = tmp_path / "hanging-python"
    script.write_text("#!/bin/sh\nsleep 60\n")
    script.chmod(0o755)
    monkeypatch.setenv("ARBSR_PYTHON", str(script))
    return script


def plugin_folder(dest: Path) -> Path:
    """A plugins folder holding ``arbsr_qgis`` as in a checkout (symlinks + metadata.txt).

    Links keep ``Path(__file__).resolve()`` inside the checkout, so the plugin finds the
    engine at the repository root exactly as when QGIS loads it from a clone.
    """
    plugins = dest / "plugins"
    pkg = plugins / "arbsr_qgis"
    pkg.mkdir(parents=True)
    for entry in (ROOT / "arbsr_qgis").iterdir():
        if entry.name != "__pycache__":
            (pkg / entry.name).symlink_to(entry)
    (pkg / "metadata.txt").symlink_to(ROOT / "metadata.txt")
    return plugins


def qgis_process_env(tmp: Path, plugins: Path | None) -> dict[str, str]:
    """Environment for qgis_process.bin with a throw-away profile (nothing under $HOME)."""
    env = dict(os.environ)
    for name in ("QGIS_CUSTOM_CONFIG_PATH", "XDG_CONFIG_HOME", "XDG_CACHE_HOME",
                 "XDG_RUNTIME_DIR"):
        path = tmp / name.lower()
        path.mkdir(mode=0o700, exist_ok=True)
        env[name] = str(path)
    env["QT_QPA_PLATFORM"] = "offscreen"
    if plugins is not None:
        env["QGIS_PLUGINPATH"] = str(plugins)
    else:
        env.pop("QGIS_PLUGINPATH", None)
    return env


def qgis_process(args, env, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([QGIS_PROCESS, *args], env=env, capture_output=True, text=True,
                          timeout=timeout, check=False)


def wait_for(predicate, timeout: float = 120.0) -> None:
    """Spin the Qt event loop until ``predicate()`` (task signals arrive through it)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met in time")
        QgsApplication.processEvents()
        time.sleep(0.02)
