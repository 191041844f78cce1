"""engine_client: locating engine + interpreter, argv, JSON events -> feedback, errors, cancel."""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from pathlib import Path

import pytest

from arbsr_qgis import engine_client as ec
from rasters import ROOT
from tests.plugin.conftest import FAKE_ROOT


class Feedback:
    """Records what a QgsProcessingFeedback would show."""

    def __init__(self, cancel_after: float | None = None):
        self.progress: list[float] = []
        self.texts: list[str] = []
        self.info: list[str] = []
        self.warnings: list[str] = []
        self._cancel_at = None if cancel_after is None else time.monotonic() + cancel_after
        self.cancelled = False

    def isCanceled(self):  # noqa: N802
        if self._cancel_at is not None and time.monotonic() >= self._cancel_at:
            self.cancelled = True
        return self.cancelled

    def setProgress(self, value):  # noqa: N802
        self.progress.append(value)

    def setProgressText(self, text):  # noqa: N802
        self.texts.append(text)

    def pushInfo(self, text):  # noqa: N802
        self.info.append(text)

    def pushWarning(self, text):  # noqa: N802
        self.warnings.append(text)


def test_engine_root_checkout_and_installed_layouts(tmp_path, monkeypatch):
    monkeypatch.delenv("ARBSR_ENGINE_ROOT", raising=False)
    assert ec.engine_root() == ROOT  # checkout: engine/ beside arbsr_qgis/
    installed = tmp_path / "arbsr_qgis"
    (installed / "engine").mkdir(parents=True)
    (installed / "engine" / "__main__.py").write_text("")
    assert ec.engine_root(installed) == installed  # zip: arbsr_qgis/engine
    with pytest.raises(ec.EngineFailure, match="reinstall"):
        ec.engine_root(tmp_path / "nowhere" / "arbsr_qgis")
    monkeypatch.setenv("ARBSR_ENGINE_ROOT", str(FAKE_ROOT))
    assert ec.engine_root() == FAKE_ROOT


def test_interpreter_order(monkeypatch, tmp_path):
    monkeypatch.setenv("ARBSR_PYTHON", "/env/python")
    assert ec.find_interpreter("/setting/python") == "/env/python"
    monkeypatch.delenv("ARBSR_PYTHON")
    assert ec.find_interpreter("/setting/python") == "/setting/python"
    assert ec.find_interpreter(None) == str(ROOT / ".venv" / "bin" / "python")
    bare = tmp_path / "plugins" / "arbsr_qgis"
    bare.mkdir(parents=True)
    assert Path(ec.find_interpreter(None, bare)).name.startswith("python")


def test_build_argv_is_a_list_with_json_progress():
    argv = ec.build_argv("/py", "upscale", ["in put.tif", "out.tif", "--scale", 2.5])
    assert argv == ["/py", "-m", "engine", "upscale", "in put.tif", "out.tif", "--scale", "2.5",
                    "--progress", "json"]


def test_parse_event_accepts_protocol_and_ignores_noise():
    assert ec.parse_event('{"event": "progress", "fraction": 1.5}') == {
        "event": "progress", "fraction": 1.0, "message": ""}
    assert ec.parse_event("Downloading nothing") is None
    assert ec.parse_event('{"not": "an event"}') is None
    assert ec.parse_event('{"event": "log", "message": "m"}')["level"] == "info"
    with pytest.raises(ValueError, match="lacks"):
        ec.parse_event('{"event": "done"}')


def test_run_forwards_progress_and_returns_done(fake_engine, small_tif, tmp_path, monkeypatch):
    monkeypatch.setenv("FAKE_ENGINE_SLEEP", "0.3")
    monkeypatch.setenv("FAKE_ENGINE_NOISE", "1")
    out = tmp_path / "o.tif"
    fb = Feedback()
    argv = ec.build_argv(os.environ["ARBSR_PYTHON"], "upscale",
                         [str(small_tif), str(out), "--scale", "1.5"])
    result = ec.run_engine(argv, fb)
    assert result.done["output"] == str(out) and out.is_file()
    assert fb.progress and fb.progress == sorted(fb.progress) and fb.texts[0].startswith("tile 1/")
    assert "warming up" in fb.info  # stray stdout is shown, not lost


def test_engine_error_message_is_raised(fake_engine, small_tif, tmp_path, monkeypatch):
    monkeypatch.setenv("FAKE_ENGINE_FAIL", "scale must be positive: pass --scale 2")
    argv = ec.build_argv(os.environ["ARBSR_PYTHON"], "upscale",
                         [str(small_tif), str(tmp_path / "o.tif"), "--scale", "2"])
    with pytest.raises(ec.EngineFailure) as info:
        ec.run_engine(argv, Feedback())
    assert str(info.value) == "scale must be positive: pass --scale 2"
    assert info.value.returncode == 2


def test_cancel_ends_child_and_leaves_no_file(fake_engine, small_tif, tmp_path, monkeypatch):
    monkeypatch.setenv("FAKE_ENGINE_SLEEP", "30")
    out = tmp_path / "o.tif"
    procs = []
    argv = ec.build_argv(os.environ["ARBSR_PYTHON"], "upscale",
                         [str(small_tif), str(out), "--scale", "2"])
    start = time.monotonic()
    with pytest.raises(ec.EngineCancelled):
        ec.run_engine(argv, Feedback(cancel_after=1.5), on_start=procs.append)
    assert time.monotonic() - start < 10
    assert procs[0].poll() is not None  # the child is gone
    assert not out.exists() and not list(tmp_path.glob("o.tif*"))


def test_missing_interpreter_says_what_to_do(fake_engine, tmp_path):
    with pytest.raises(ec.EngineFailure, match="Engine Python"):
        ec.run_engine(["/nonexistent/python3", "-m", "engine", "models"], Feedback())


def test_interpreter_without_torch_says_how_to_fix():
    msg = ec.diagnose("exit 1", "ModuleNotFoundError: No module named 'torch'", "/usr/bin/python3")
    assert "has no PyTorch" in msg and "/usr/bin/python3 -m pip install torch" in msg
    assert "Processing options > Providers > ArbSR" in msg


def write_cards(folder: Path, cards: dict[str, object]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in cards.items():
        text = data if isinstance(data, str) else json.dumps(data)
        (folder / name).write_text(text, encoding="utf-8")
    return folder


USER_CARDS = {
    # listed, with every extra key kept (the demonstration flag among them); written before
    # "scale_range" became "scales"
    "a-demo.json": {"name": "user-demo", "family": "moe", "file": "w/demo.pth", "bands": 1,
                    "scale_range": [1, 4], "demonstration": True, "license": "MIT",
                    "config": "demo.yaml"},
    # same name as a bundled card: the bundled one wins
    "b-shadow.json": {"name": "lmlte-default", "family": "lmlte", "file": "other.pth"},
    # not model cards: a training config, a broken file, a list
    "c-train.json": {"epochs": 3},
    "d-broken.json": "{not json",
    "f-minimal.json": {"name": "user-min", "family": "lmlte", "file": "/abs/min.pth"},
    # the key another card layout uses for the scale range
    "g-scales.json": {"name": "user-scales", "family": "lmlte", "file": "/abs/s.pth",
                      "scales": [1, 6]},
}


def test_model_list_reads_the_cards_without_starting_anything(tmp_path, monkeypatch):
    def no_process(*_a, **_k):
        raise AssertionError("the model list must not start a process")

    monkeypatch.setattr(ec.subprocess, "Popen", no_process)
    monkeypatch.setattr(ec.subprocess, "run", no_process)
    root = tmp_path / "root"
    write_cards(root / "resources" / "models", {
        "lmlte-default.json": {"name": "lmlte-default", "family": "lmlte",
                               "file": "lmlte-default.pth", "bands": 1, "scales": [1, 8]},
        "README.json": {"title": "not a card"}})
    # a JSON list too (the engine's reader raises TypeError on it: the plugin skips it)
    user = write_cards(tmp_path / "user", {**USER_CARDS, "e-list.json": [1, 2]})
    monkeypatch.setenv("ARBSR_PYTHON", "/nonexistent/python")
    models = ec.list_models(root=root, models_dir=str(user))
    assert [m["name"] for m in models] == ["lmlte-default", "user-demo", "user-min",
                                           "user-scales"]
    default, demo, minimal, scales = models
    assert default["file"] == str((root / "resources" / "models" / "lmlte-default.pth"))
    assert default["scales"] == [1, 8] and "scale_range" not in default
    assert demo["scales"] == [1, 4] and "scale_range" not in demo
    assert demo["demonstration"] is True and demo["license"] == "MIT" and "config" not in demo
    assert demo["file"] == str(user / "w" / "demo.pth")
    assert minimal == {"name": "user-min", "family": "lmlte", "bands": 1, "scales": [1.0, 4.0],
                       "file": "/abs/min.pth", "description": "", "options": {},
                       "demonstration": False}
    assert scales["scales"] == [1, 6] and "scale_range" not in scales
    assert default["demonstration"] is False
    # without the setting, $ARBSR_MODELS_DIR (what the engine child inherits)
    monkeypatch.setenv("ARBSR_MODELS_DIR", str(user))
    assert [m["name"] for m in ec.list_models(root=root)] == [m["name"] for m in models]


def test_model_list_is_what_engine_models_prints(tmp_path, monkeypatch):
    """The cards read by the plugin == ``python -m engine models`` (the real engine), from the
    same folders: bundled, the extra folder, then the folder ``engine models add`` writes."""
    user = write_cards(tmp_path / "user", USER_CARDS)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    added = write_cards(tmp_path / "xdg" / "arbsr" / "models", {
        "added.json": {"name": "added", "family": "lmlte", "file": "/abs/added.pth",
                       "scale_range": [1.0, 8.0], "sha256": "0" * 64}})
    assert ec.user_models_dir() == added and ec.user_models_dir(str(user)) == user
    env = ec.child_env(ROOT, {"ARBSR_MODELS_DIR": str(user)})
    res = subprocess.run([os.environ["ARBSR_PYTHON"], "-m", "engine", "models"], cwd=ROOT,
                         env=env, capture_output=True, text=True, timeout=300, check=False)
    assert res.returncode == 0, res.stderr
    engine = json.loads(res.stdout)
    plugin = json.loads(json.dumps(ec.list_models(root=ROOT, models_dir=str(user))))
    assert plugin == engine
    assert any(m.get("demonstration") is True for m in plugin)
    assert plugin[-1]["name"] == "added"


def test_parse_models_output_layouts():
    assert ec.parse_models_output('[{"name": "a"}]') == [{"name": "a"}]
    assert ec.parse_models_output('{"models": [{"name": "b"}]}') == [{"name": "b"}]
    done = '{"event": "done", "seconds": 0, "results": {"models": [{"name": "c"}]}}'
    assert ec.parse_models_output(done) == [{"name": "c"}]
    with pytest.raises(ValueError):
        ec.parse_models_output("nothing")


def test_run_is_thread_safe(fake_engine, small_tif, tmp_path):
    """Batch runs and tasks call run_engine from several threads at once."""
    errors = []

    def one(i):
        try:
            ec.run_engine(ec.build_argv(os.environ["ARBSR_PYTHON"], "upscale",
                                        [str(small_tif), str(tmp_path / f"{i}.tif"),
                                         "--scale", "2"]), Feedback())
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(list(tmp_path.glob("[0-9].tif"))) == 3
