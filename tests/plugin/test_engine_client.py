"""engine_client: locating engine + interpreter, argv, JSON events -> feedback, errors, cancel."""

from __future__ import annotations

import os
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


def test_model_list_from_engine_is_cached(fake_engine, monkeypatch):
    ec.clear_model_cache()
    calls = []
    real_run = ec.subprocess.run
    monkeypatch.setattr(ec.subprocess, "run", lambda *a, **k: calls.append(a) or real_run(*a, **k))
    monkeypatch.setattr(ec, "_disk_cache_path", lambda key: Path("/nonexistent/cache.json"))
    python = os.environ["ARBSR_PYTHON"]
    assert [m["name"] for m in ec.list_models(python)] == ["fake-small"]
    assert [m["name"] for m in ec.list_models(python)] == ["fake-small"]
    assert len(calls) == 1


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
