"""Engine set-up: candidate Pythons, their checks in real child processes, the settings page, and
the creation of an engine environment end to end (venv + pip, offline from pip's configuration).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from osgeo import gdal
from qgis.core import QgsApplication

from arbsr_qgis import engine_setup, settings
from rasters import ROOT
from tests.plugin.conftest import wait_for

VENV_PYTHON = str(Path(sys.executable).parent / "python")  # this checkout's engine Python
SYSTEM_PYTHON = "/usr/bin/python3"


def pins(path: Path) -> dict[str, str]:
    out = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.split("#")[0].strip()
        if "==" in line:
            name, version = line.split("==")
            out[name.lower()] = version
    return out


def test_runtime_requirements_are_the_pinned_ones():
    runtime = pins(engine_setup.REQUIREMENTS)
    assert {"torch", "pyyaml"} <= set(runtime)
    project = pins(ROOT / "requirements.txt")
    assert {k: project.get(k) for k in runtime} == runtime
    assert not any(r.startswith("numpy") for r in engine_setup.runtime_requirements())


@pytest.fixture
def saved_setting():
    before = settings.engine_python()
    yield
    settings.set_engine_python(before or "")


def fake_env(folder: Path) -> Path:
    """A venv-like folder whose bin/python is a real interpreter (a link to this venv's)."""
    (folder / "bin").mkdir(parents=True)
    (folder / "bin" / "python").symlink_to(VENV_PYTHON)
    return folder / "bin" / "python"


def test_candidates_in_order_and_deduplicated(tmp_path):
    home = tmp_path / "home"
    conda_env = fake_env(tmp_path / "conda" / "envs" / "sr")
    (home / ".conda").mkdir(parents=True)
    (home / ".conda" / "environments.txt").write_text(f"{conda_env.parents[1]}\n")
    wrapper_env = fake_env(home / ".virtualenvs" / "gis")
    made = fake_env(engine_setup.managed_venv(tmp_path / "profile"))
    setting = fake_env(tmp_path / "chosen")
    env = {"ARBSR_PYTHON": str(conda_env), "PATH": "/usr/bin"}
    found = engine_setup.candidates(str(setting), tmp_path / "profile", env=env, home=home,
                                    plugin_dir=ROOT / "arbsr_qgis")
    pairs = [(c.python, c.source) for c in found]
    assert pairs[0] == (str(setting), "Engine Python setting")
    assert pairs[1] == (str(conda_env), "ARBSR_PYTHON")  # found again as conda: listed once
    assert [p for p, _ in pairs].count(str(conda_env)) == 1
    assert pairs[2][1] == "checkout .venv" and Path(pairs[2][0]).parent == ROOT / ".venv" / "bin"
    assert (str(made), "ArbSR environment") in pairs
    assert (str(wrapper_env), "virtualenv") in pairs
    assert (SYSTEM_PYTHON, "system") in pairs
    assert all(Path(p).is_file() for p, _ in pairs)


def test_check_the_checkout_venv_in_a_child_process():
    result = engine_setup.check(VENV_PYTHON, "checkout .venv")
    assert result.ok, result.summary()
    import torch

    assert result.torch == torch.__version__ and result.gdal == gdal.__version__
    assert result.cuda == torch.cuda.is_available()
    assert (result.gpu == torch.cuda.get_device_name(0)) if result.cuda else result.gpu is None
    assert result.engine == "0.1.0" and result.missing == []
    assert "ready: torch" in result.summary()


def test_check_tells_what_is_missing():
    system = engine_setup.check(SYSTEM_PYTHON, "system")
    assert system.has_gdal and not system.ok
    if system.torch is None:  # Debian's python3 without python3-torch
        assert "torch" in system.errors and "No module named 'torch'" in system.summary()
    absent = engine_setup.check("/nonexistent/bin/python")
    assert not absent.ok and "cannot run" in absent.errors["python"]


def test_settings_page_checks_the_candidates(qgis_app, qtbot, monkeypatch, tmp_path,
                                             saved_setting):
    from arbsr_qgis.gui.engine_setup import EngineSetupPage

    monkeypatch.setenv("HOME", str(tmp_path))  # only this machine's well-known Pythons
    settings.set_engine_python("")
    page = EngineSetupPage()
    qtbot.addWidget(page)
    page.python_edit.setText("")
    task = page.start_check()
    wait_for(lambda: page.check_button.isEnabled(), timeout=240)
    assert page.table.rowCount() == len(task.candidates) == len(page.results) >= 2
    rows = {page.table.item(r, 0).text(): page.table.item(r, 6).text()
            for r in range(page.table.rowCount())}
    assert rows[os.environ["ARBSR_PYTHON"]] == "ready"
    assert rows[SYSTEM_PYTHON] in ("ready", "not usable")
    assert "can run the engine" in page.summary.text()
    assert page.python_edit.text() == os.environ["ARBSR_PYTHON"]  # first ready one, field empty
    page.table.selectRow(list(rows).index(SYSTEM_PYTHON))
    page.use_selected()
    assert page.python_edit.text() == SYSTEM_PYTHON
    page.apply()
    assert settings.engine_python() == SYSTEM_PYTHON


def test_settings_page_offers_cpu_and_cuda_builds(qgis_app, qtbot):
    from arbsr_qgis.gui.engine_setup import EngineSetupPage

    page = EngineSetupPage()
    qtbot.addWidget(page)
    assert page.build() == "cpu" and page.index_edit.text() == "https://download.pytorch.org/whl/cpu"
    page.cuda_radio.setChecked(True)
    assert page.build() == "cuda" and page.index_edit.text() == ""  # PyPI's Linux torch is CUDA
    assert page.venv_edit.text().endswith(os.path.join("arbsr", "engine-venv"))
    assert page.base_edit.text() == SYSTEM_PYTHON
    steps = engine_setup.creation_steps(SYSTEM_PYTHON, Path("/x/venv"), "cpu",
                                        "https://download.pytorch.org/whl/cpu", "1.24.2")
    assert steps[0].argv == [SYSTEM_PYTHON, "-m", "venv", "--system-site-packages", "/x/venv"]
    assert "--extra-index-url" in steps[1].argv and "torch==2.13.0" in steps[1].argv
    assert "-c" in steps[2].argv and "pyyaml==6.0.1" in steps[2].argv


def test_compiling_the_default_model_is_optional(tmp_path, monkeypatch):
    """Without a C++ compiler on PATH the last creation step says why it skipped and the
    environment is kept (the real engine command, in a child process)."""
    monkeypatch.setenv("PATH", str(tmp_path))  # no g++ nor c++ there
    lines: list[str] = []
    fractions: list[float] = []
    built = engine_setup.compile_default_model(VENV_PYTHON, lambda f, m: fractions.append(f),
                                               lines.append, lambda: False, 0.9)
    assert built is False and fractions == [0.9]
    assert lines[0].endswith("-m engine compile --progress text")
    assert lines[-1].startswith("Skipped compiling") and "C++ compiler" in lines[-1]


def test_creation_refuses_a_base_without_gdal(tmp_path):
    with pytest.raises(engine_setup.CreationFailed, match="no GDAL"):
        engine_setup.create_environment("/nonexistent/bin/python", tmp_path / "venv")
    assert not (tmp_path / "venv").exists()


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_create_engine_environment_from_the_settings_page(qgis_app, qtbot, tmp_path,
                                                          saved_setting, small_tif, user_cache):
    """The Linux path a new user takes: system Python + pip, then the engine runs from it.

    Installs offline from what pip's configuration reaches here (the local torch wheel), then
    compiles the default model; about 2-3 minutes on 2 cores.
    """
    from arbsr_qgis.gui import engine_setup as page_module

    page = page_module.EngineSetupPage()
    qtbot.addWidget(page)
    venv = tmp_path / "engine-venv"
    page.venv_edit.setText(str(venv))
    page.base_edit.setText(SYSTEM_PYTHON)
    page.cpu_radio.setChecked(True)
    page.index_edit.setText("")  # pip's own configuration (the PyTorch index is not reachable)
    seen: list[int] = []
    task = page.start_create()
    assert task is not None and not page.create_button.isEnabled()
    task.progressChanged.connect(lambda v: seen.append(int(v)))
    wait_for(lambda: page.create_button.isEnabled(), timeout=840)
    assert task.error == "", task.error + "\n" + page.log.toPlainText()[-3000:]
    python = str(venv / "bin" / "python")
    assert settings.engine_python() == python == page.python_edit.text()
    assert page.progress.value() == 100 and len(set(seen)) >= 4 and seen == sorted(seen)
    log = page.log.toPlainText()
    assert "Successfully installed" in log or "already" in log
    # The optional last step: the default model compiled for this CPU (g++ is installed here),
    # into the session's test cache, unless a test before built it there.
    assert "engine compile" in log
    assert "lmlte-default: compiled in" in log or "lmlte-default: up to date" in log, log[-2000:]
    built = {p.suffix for p in (user_cache / "compiled").iterdir()}
    assert {".so", ".sha256"} <= built, built
    assert page_module._creation is None
    result = engine_setup.check(python)
    assert result.ok and result.numpy == engine_setup.check(SYSTEM_PYTHON).numpy  # Debian's
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    out = tmp_path / "up.tif"
    res = subprocess.run([python, "-m", "engine", "upscale", str(small_tif), str(out),
                          "--scale", "2"], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=300, check=False)
    assert res.returncode == 0, res.stderr
    assert gdal.Open(str(out)).RasterXSize == 64
    QgsApplication.processEvents()
