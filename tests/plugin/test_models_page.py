"""Model lists in QGIS: demonstration models hidden unless asked for, models added from the
settings page (a real engine child registering a real official-layout checkpoint), and hidden
models still run by name from Processing and qgis_process."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from qgis.core import QgsApplication, QgsProcessingException
from qgis.PyQt.QtCore import Qt

from arbsr_qgis import settings
from rasters import ROOT
from tests.plugin.conftest import (
    QGIS_PROCESS,
    engine_calls,
    plugin_folder,
    qgis_process,
    qgis_process_env,
    wait_for,
)

ALGORITHMS = ("arbsr:upscale", "arbsr:evaluate", "arbsr:train")


def options(alg_id: str = "arbsr:upscale") -> list[str]:
    alg = QgsApplication.processingRegistry().createAlgorithmById(alg_id)
    return list(alg.parameterDefinition("MODEL").options())


@pytest.fixture
def demo_setting():
    """Restore "Show demonstration models" (QgsSettings of the test profile) afterwards."""
    before = settings.show_demonstration_models()
    settings.set_show_demonstration_models(False)
    yield
    settings.set_show_demonstration_models(before)


@pytest.fixture
def user_folder(tmp_path, monkeypatch) -> Path:
    """An empty user models folder for this test ($XDG_DATA_HOME/arbsr/models)."""
    monkeypatch.delenv("ARBSR_MODELS_DIR", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    return tmp_path / "data" / "arbsr" / "models"


@pytest.fixture
def dock(qgis_iface, qtbot, arbsr_provider):
    from arbsr_qgis.gui.dock import ArbsrDock

    widget = ArbsrDock(qgis_iface, None)
    qtbot.addWidget(widget)
    yield widget
    widget.close_and_disconnect()


def dock_models(dock) -> list[str]:
    return [dock.model.itemText(i) for i in range(dock.model.count())]


def test_demonstration_models_hidden_by_default_and_shown_with_the_setting(
        qgis_app, qtbot, arbsr_provider, demo_setting, user_folder, dock):
    from arbsr_qgis.gui.engine_setup import EngineSetupPage

    demo = {"ldcsr", "ldcsr-fast"}  # "demonstration": true in their cards
    for alg_id in ALGORITHMS:
        assert "lmlte-default" in options(alg_id) and not demo & set(options(alg_id)), alg_id
    assert "lmlte-default" in dock_models(dock) and not demo & set(dock_models(dock))
    # the train algorithm's default start is a shown model, never a hidden one
    train = QgsApplication.processingRegistry().createAlgorithmById("arbsr:train")
    assert train.parameterDefinition("MODEL").defaultValue() == "lmlte-default"

    page = EngineSetupPage()
    qtbot.addWidget(page)
    assert not page.models_box.show_demo.isChecked()
    page.models_box.show_demo.setChecked(True)
    page.apply()
    assert settings.show_demonstration_models()
    for alg_id in ALGORITHMS:
        assert demo <= set(options(alg_id)), alg_id
    assert demo <= set(dock_models(dock))  # the open dock follows at once

    page.models_box.show_demo.setChecked(False)
    page.apply()
    assert not demo & set(options()) and not demo & set(dock_models(dock))


def test_a_hidden_model_named_in_a_script_runs_that_model(arbsr_provider, fake_engine,
                                                          demo_setting, small_tif, tmp_path,
                                                          monkeypatch):
    """Scripts, saved models and batch files give MODEL by name: a hidden demonstration model
    keeps running as itself, and a name that is not registered is refused, never replaced."""
    import processing

    cards = tmp_path / "cards"
    cards.mkdir()
    (cards / "demo.json").write_text(json.dumps(
        {"name": "demo-model", "family": "lmlte", "file": "demo.pth", "demonstration": True}))
    monkeypatch.setenv("ARBSR_MODELS_DIR", str(cards))
    monkeypatch.setenv("FAKE_ENGINE_ARGV", str(tmp_path / "calls.jsonl"))
    assert "demo-model" not in options()
    out = tmp_path / "o.tif"
    processing.run("arbsr:upscale", {"INPUT": str(small_tif), "MODEL": "demo-model",
                                     "SCALE": 2, "OUTPUT": str(out)})
    (argv,) = engine_calls(tmp_path / "calls.jsonl")
    assert argv[argv.index("--model") + 1] == "demo-model"
    for wrong in ("no-such-model", 1):
        with pytest.raises(QgsProcessingException):
            processing.run("arbsr:upscale", {"INPUT": str(small_tif), "MODEL": wrong,
                                             "SCALE": 2, "OUTPUT": str(tmp_path / "x.tif")})
    assert len(engine_calls(tmp_path / "calls.jsonl")) == 1 and not (tmp_path / "x.tif").exists()


@pytest.mark.skipif(not Path(QGIS_PROCESS).exists(), reason="qgis_process.bin missing")
def test_qgis_process_runs_a_hidden_model_by_name(small_tif, tmp_path):
    env = qgis_process_env(tmp_path, plugin_folder(tmp_path))
    env["ARBSR_ENGINE_ROOT"] = str(ROOT / "tests" / "plugin" / "fake_engine")
    cards = tmp_path / "cards"
    cards.mkdir()
    (cards / "demo.json").write_text(json.dumps(
        {"name": "demo-model", "family": "lmlte", "file": "demo.pth", "demonstration": True}))
    env["ARBSR_MODELS_DIR"] = str(cards)
    env["FAKE_ENGINE_ARGV"] = str(tmp_path / "calls.jsonl")
    assert qgis_process(["plugins", "enable", "arbsr_qgis"], env, timeout=120).returncode == 0
    res = qgis_process(["run", "arbsr:upscale", "--", f"INPUT={small_tif}", "SCALE=2",
                        "MODEL=demo-model", f"OUTPUT={tmp_path / 'o.tif'}"], env)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    (argv,) = engine_calls(tmp_path / "calls.jsonl")
    assert argv[argv.index("--model") + 1] == "demo-model"
    res = qgis_process(["run", "arbsr:upscale", "--", f"INPUT={small_tif}", "SCALE=2",
                        "MODEL=no-such-model", f"OUTPUT={tmp_path / 'x.tif'}"], env)
    assert res.returncode != 0 and "MODEL" in res.stdout + res.stderr
    assert len(engine_calls(tmp_path / "calls.jsonl")) == 1


@pytest.fixture(scope="module")
def lmf_checkpoint(tmp_path_factory) -> Path:
    """An official LMF .pth (random reference weights), written by the engine's Python."""
    path = tmp_path_factory.mktemp("lmf") / "edsr-b_lmlte.pth"
    code = ("import sys; from pathlib import Path; "
            "from tests.engine.models.lmlte_helpers import write_reference_checkpoint; "
            "write_reference_checkpoint(Path(sys.argv[1]))")
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'tests'}",
           "OMP_NUM_THREADS": "1"}
    subprocess.run([os.environ["ARBSR_PYTHON"], "-c", code, str(path)], cwd=ROOT, env=env,
                   check=True, timeout=300)
    return path


def test_add_model_button_registers_a_checkpoint_and_remove_unregisters_it(
        qgis_app, qtbot, arbsr_provider, demo_setting, user_folder, lmf_checkpoint, tmp_path,
        monkeypatch, dock):
    from arbsr_qgis.gui import models_box
    from arbsr_qgis.gui.engine_setup import EngineSetupPage

    page = EngineSetupPage()
    qtbot.addWidget(page)
    box = page.models_box
    assert box.list.count() == 0 and str(user_folder) in box.folder_label.text()
    picked = [str(lmf_checkpoint)]
    monkeypatch.setattr(models_box.QFileDialog, "getOpenFileName",
                        staticmethod(lambda *a, **k: (picked[0], "")))
    box.name_edit.setText("my-lmf")
    box.add_button.click()  # the file dialog (answered above), then the engine in a task
    assert box.task is not None and not box.add_button.isEnabled()
    wait_for(lambda: box.task is None, timeout=300)
    assert "Registered 'my-lmf' (lmlte, 3 band(s))" in box.status.text(), box.status.text()
    card = json.loads((user_folder / "my-lmf.json").read_text())
    assert card["file"] == str(lmf_checkpoint) and card["family"] == "lmlte"
    assert [box.list.item(i).data(Qt.UserRole) for i in range(box.list.count())] == ["my-lmf"]
    for alg_id in ALGORITHMS:
        assert "my-lmf" in options(alg_id), alg_id
    assert "my-lmf" in dock_models(dock)

    # a corrupt file: the engine's one-line message on the page, nothing registered
    bad = tmp_path / "broken.ckpt"
    bad.write_bytes(b"not a checkpoint")
    picked[0] = str(bad)
    box.add_button.click()
    wait_for(lambda: box.task is None, timeout=300)
    assert "not registered" in box.status.text() and "re-download" in box.status.text()
    assert sorted(p.name for p in user_folder.iterdir()) == ["my-lmf.json"]

    box.list.setCurrentRow(0)
    assert box.remove_button.isEnabled()
    box.remove_button.click()
    wait_for(lambda: box.task is None, timeout=300)
    assert not (user_folder / "my-lmf.json").exists() and lmf_checkpoint.is_file()
    assert box.list.count() == 0
    assert "my-lmf" not in options() and "my-lmf" not in dock_models(dock)


def test_model_lists_say_each_models_trade_off(qgis_app, arbsr_provider, demo_setting,
                                               user_folder, dock):
    """The card's one-line note (speed against quality) is in the algorithms' help, on the
    dock's model list and under the dock's output size."""
    from arbsr_qgis.algorithms.base import model_notes

    notes = model_notes()
    assert {"lmlte-default", "lmlte-large", "fast", "moe"} <= set(notes)
    alg = QgsApplication.processingRegistry().createAlgorithmById("arbsr:upscale")
    help_text = alg.shortHelpString()
    assert f"fast: {notes['fast']}" in help_text
    assert f"lmlte-large: {notes['lmlte-large']}" in help_text
    names = dock_models(dock)
    tips = {names[i]: dock.model.itemData(i, Qt.ToolTipRole) for i in range(len(names))}
    assert tips["fast"] == notes["fast"] and tips["default"] == notes["lmlte-default"]
    dock.model.setCurrentText("fast")
    assert dock.card.get("note") == notes["fast"]
