"""Run the ArbSR engine as a child process and turn its JSON lines into Processing feedback.

The plugin never imports ``torch`` or ``engine``. It starts ``<python> -m engine <command> …
--progress json`` with an argv list, reads one JSON event per line on stdout (the protocol of
``engine/progress.py``)::

    {"event": "progress", "fraction": 0.42, "message": "tile 17/40"}
    {"event": "log", "level": "warning", "message": "..."}
    {"event": "metric", "name": "psnr", "value": 31.2, "step": 3}
    {"event": "done", "output": "/data/out.tif", "seconds": 12.3, "results": {...}}
    {"event": "error", "message": "..."}

and forwards them to a feedback object (a ``QgsProcessingFeedback`` or anything with the same
methods). Cancel (``feedback.isCanceled()``) terminates the child promptly; the engine removes
its temporary output on SIGTERM.

This module needs no QGIS (it is unit-tested and used by tools); inside QGIS its messages go
through Qt's translation (context ``EngineClient``), outside they stay in English.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

try:
    from qgis.PyQt.QtCore import QCoreApplication
except ImportError:  # plain Python (tools, scripts): no translation
    class QCoreApplication:  # type: ignore[no-redef]
        """Stand-in with the one method used here."""

        @staticmethod
        def translate(context: str, text: str) -> str:
            return text

PLUGIN_DIR = Path(__file__).resolve().parent

#: Keys each event type must carry (extra keys are accepted and kept).
EVENT_KEYS: dict[str, tuple[str, ...]] = {
    "progress": ("fraction",),
    "log": ("message",),
    "metric": ("name", "value"),
    "done": ("seconds",),
    "error": ("message",),
}

#: Seconds to wait after SIGTERM before SIGKILL (the engine stops within about a second).
TERMINATE_GRACE_S = 5.0


class EngineFailure(Exception):
    """The engine failed; ``str(exc)`` is the engine's one-line message (or a diagnosis)."""

    def __init__(self, message: str, returncode: int | None = None, stderr: str = "") -> None:
        super().__init__(message)
        self.returncode = returncode
        self.stderr = stderr


class EngineCancelled(Exception):
    """The run was cancelled by the user; the child process has been ended."""


@dataclass
class EngineResult:
    """What a successful run produced: the ``done`` event and every event seen."""

    done: dict[str, Any]
    events: list[dict[str, Any]] = field(default_factory=list)
    stderr: str = ""
    seconds: float = 0.0

    @property
    def results(self) -> dict[str, Any]:
        """The ``results`` object of the done event (empty when absent)."""
        return dict(self.done.get("results") or {})

    def metrics(self) -> dict[str, float]:
        """Last value of each ``metric`` event, by name."""
        return {e["name"]: float(e["value"]) for e in self.events if e.get("event") == "metric"}


# --------------------------------------------------------------------------------------------
# Locating the engine and its interpreter


def engine_root(plugin_dir: Path | None = None) -> Path:
    """Folder that contains the ``engine`` package (cwd and PYTHONPATH for the child).

    Installed plugin: ``arbsr_qgis/engine`` next to this file. Checkout: the repository root
    (parent of ``arbsr_qgis/``). ``ARBSR_ENGINE_ROOT`` overrides both (tests, custom installs).
    """
    override = os.environ.get("ARBSR_ENGINE_ROOT")
    if override:
        return Path(override)
    here = plugin_dir or PLUGIN_DIR
    for candidate in (here, here.parent):
        if (candidate / "engine" / "__main__.py").is_file():
            return candidate
    raise EngineFailure(QCoreApplication.translate(
        "EngineClient", "The ArbSR engine was not found next to the plugin ({folder}): "
        "reinstall the plugin from its zip, which contains the engine/ folder.").format(
            folder=here))


def find_interpreter(setting: str | None = None, plugin_dir: Path | None = None) -> str:
    """The Python that runs the engine, in the order fixed by ARCHITECTURE.md.

    ``$ARBSR_PYTHON``, else the "Engine Python" setting, else the checkout's ``.venv/bin/python``
    when running from a checkout, else ``python3`` on PATH. Never ``sys.executable``: inside
    QGIS it is not a usable Python.
    """
    env = os.environ.get("ARBSR_PYTHON")
    if env:
        return env
    if setting:
        return setting
    here = plugin_dir or PLUGIN_DIR
    for venv in (here.parent / ".venv", here / ".venv"):
        for name in ("bin/python", "Scripts/python.exe"):
            if (venv / name).exists():
                return str(venv / name)
    return shutil.which("python3") or shutil.which("python") or "python3"


def build_argv(python: str, command: str, args: Sequence[str], json_progress: bool = True
               ) -> list[str]:
    """The full argv of one engine call (used for running and for the command preview)."""
    argv = [python, "-m", "engine", command, *[str(a) for a in args]]
    if json_progress:
        argv += ["--progress", "json"]
    return argv


def child_env(root: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    """Environment of the child: ``root`` first on PYTHONPATH so ``-m engine`` resolves there."""
    env = dict(os.environ)
    paths = [str(root)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    env["PYTHONPATH"] = os.pathsep.join(paths)
    env["PYTHONUNBUFFERED"] = "1"  # events must arrive as they happen, not at exit
    env.pop("PYTHONHOME", None)  # QGIS's embedded Python may set it; the child has its own
    if extra:
        env.update(extra)
    return env


# --------------------------------------------------------------------------------------------
# Events


def parse_event(line: str) -> dict[str, Any] | None:
    """One stdout line -> event dict, or None when the line is not a protocol event.

    Raises ValueError for a JSON object that claims to be an event but lacks required keys
    (a protocol mismatch between plugin and engine versions).
    """
    line = line.strip()
    if not line.startswith("{"):
        return None
    try:
        data = json.loads(line)
    except json.JSONDecodeError:
        return None
    if not isinstance(data, dict) or data.get("event") not in EVENT_KEYS:
        return None
    missing = [k for k in EVENT_KEYS[data["event"]] if k not in data]
    if missing:
        raise ValueError(f"engine event {data['event']!r} lacks {', '.join(missing)}: {line}")
    if data["event"] == "progress":
        data["fraction"] = min(max(float(data["fraction"]), 0.0), 1.0)
        data.setdefault("message", "")
    elif data["event"] == "log":
        data.setdefault("level", "info")
    return data


def forward_event(event: dict[str, Any], feedback: Any) -> None:
    """Show one event on a QgsProcessingFeedback-like object."""
    if feedback is None:
        return
    kind = event["event"]
    if kind == "progress":
        feedback.setProgress(100.0 * event["fraction"])
        if event.get("message") and hasattr(feedback, "setProgressText"):
            feedback.setProgressText(event["message"])
    elif kind == "log":
        if event.get("level") == "warning" and hasattr(feedback, "pushWarning"):
            feedback.pushWarning(event["message"])
        else:
            feedback.pushInfo(event["message"])
    elif kind == "metric":
        step = f" (step {event['step']})" if event.get("step") is not None else ""
        feedback.pushInfo(f"{event['name']} = {float(event['value']):.6g}{step}")


def diagnose(message: str, stderr: str, python: str) -> str:
    """A clearer message for failures that are about the environment, not the job."""
    text = f"{message}\n{stderr}"
    if "No module named 'torch'" in text or 'No module named "torch"' in text:
        return QCoreApplication.translate(
            "EngineClient", "The engine Python '{python}' has no PyTorch. Install it with "
            "'{python} -m pip install torch', or set Processing options > Providers > "
            "ArbSR > Engine Python (or $ARBSR_PYTHON) to an interpreter that has torch."
        ).format(python=python)
    if "No module named 'osgeo'" in text:
        return QCoreApplication.translate(
            "EngineClient", "The engine Python '{python}' has no GDAL bindings (osgeo). Install "
            "GDAL for it (Debian: apt install python3-gdal; make its venv with "
            "--system-site-packages), or choose another interpreter in Processing options > "
            "Providers > ArbSR.").format(python=python)
    if "No module named engine" in text or "No module named 'engine'" in text:
        return QCoreApplication.translate(
            "EngineClient", "The ArbSR engine package could not be imported by the child "
            "process: reinstall the plugin from its zip (it contains the engine/ folder).")
    return message


# --------------------------------------------------------------------------------------------
# Running


def _pump(stream: Any, sink: queue.Queue) -> None:
    for line in iter(stream.readline, ""):
        sink.put(line)
    sink.put(None)


def _stop(proc: subprocess.Popen) -> None:
    """End the child: SIGTERM (the engine cleans up and exits 143), then SIGKILL."""
    if proc.poll() is not None:
        return
    try:
        proc.send_signal(signal.SIGTERM)
        proc.wait(TERMINATE_GRACE_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    except ProcessLookupError:
        pass


def run_engine(argv: Sequence[str], feedback: Any = None, *, root: Path | None = None,
               on_event: Callable[[dict[str, Any]], None] | None = None,
               env: dict[str, str] | None = None,
               on_start: Callable[[subprocess.Popen], None] | None = None) -> EngineResult:
    """Run one engine command to completion, forwarding its events to ``feedback``.

    Args:
        argv: from :func:`build_argv` (``argv[0]`` is the interpreter).
        feedback: QgsProcessingFeedback-like (``isCanceled``, ``setProgress``, ``pushInfo``, ...).
        root: folder containing the ``engine`` package (default :func:`engine_root`).
        on_event: called with every parsed event (after forwarding).
        env: extra environment variables for the child.
        on_start: called with the Popen object once the child runs (tests use its pid).

    Returns:
        The :class:`EngineResult` of a run that ended with a ``done`` event and exit code 0.

    Raises:
        EngineCancelled: ``feedback.isCanceled()`` became true; the child has been ended.
        EngineFailure: the child could not start, exited non-zero, or sent an ``error`` event.
    """
    root = root or engine_root()
    python = str(argv[0])
    start = time.monotonic()
    try:
        proc = subprocess.Popen(list(argv), cwd=str(root), env=child_env(root, env),
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, encoding="utf-8",
                                errors="replace", bufsize=1)
    except OSError as exc:
        raise EngineFailure(QCoreApplication.translate(
            "EngineClient", "Cannot start the engine Python '{python}' ({reason}): set "
            "Processing options > Providers > ArbSR > Engine Python (or $ARBSR_PYTHON) to a "
            "Python 3 interpreter with torch and GDAL.").format(
                python=python, reason=exc.strerror or exc)) from exc
    events: list[dict[str, Any]] = []
    done: dict[str, Any] | None = None
    error: str | None = None
    err_lines: list[str] = []
    lines: queue.Queue = queue.Queue()
    with proc:
        if on_start is not None:
            on_start(proc)
        out_thread = threading.Thread(target=_pump, args=(proc.stdout, lines), daemon=True)
        err_thread = threading.Thread(
            target=lambda: err_lines.extend(iter(proc.stderr.readline, "")), daemon=True)
        out_thread.start()
        err_thread.start()
        cancelled = False
        while True:
            if feedback is not None and feedback.isCanceled():
                cancelled = True
                _stop(proc)
                break
            try:
                line = lines.get(timeout=0.1)
            except queue.Empty:
                continue
            if line is None:
                break
            try:
                event = parse_event(line)
            except ValueError as exc:
                _stop(proc)
                raise EngineFailure(QCoreApplication.translate(
                    "EngineClient", "{problem}: the plugin and engine versions do not match; "
                    "reinstall the plugin.").format(problem=exc)) from exc
            if event is None:
                if line.strip() and feedback is not None:
                    feedback.pushInfo(line.rstrip())  # stray output: show, never lose it
                continue
            events.append(event)
            if event["event"] == "done":
                done = event
            elif event["event"] == "error":
                error = event["message"]
            forward_event(event, feedback)
            if on_event is not None:
                on_event(event)
        returncode = proc.wait()
        err_thread.join(2.0)
        out_thread.join(2.0)
    stderr = "".join(err_lines)
    if cancelled:
        raise EngineCancelled("cancelled by the user")
    if error is not None or returncode != 0 or done is None:
        message = error or _last_error_line(stderr) or QCoreApplication.translate(
            "EngineClient", "the engine exited with code {code} without a result").format(
                code=returncode)
        raise EngineFailure(diagnose(message, stderr, python), returncode, stderr)
    return EngineResult(done=done, events=events, stderr=stderr,
                        seconds=time.monotonic() - start)


def _last_error_line(stderr: str) -> str:
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    for ln in reversed(lines):
        if ln.startswith("error:"):
            return ln[len("error:"):].strip()
    return lines[-1] if lines else ""


# --------------------------------------------------------------------------------------------
# Model list: the model cards, read directly (never by starting the engine)

#: Card keys that ``engine models`` renames or drops; every other key is passed through as is.
_CARD_KEYS = {"name", "family", "file", "bands", "scales", "scale_range", "description",
              "options", "config"}


def user_models_dir(models_dir: str | None = None) -> Path:
    """Where ``engine models add`` writes cards (the engine's ``registry.user_models_dir``):
    the first entry of ``models_dir`` (the plugin setting) or ``$ARBSR_MODELS_DIR``, else
    ``$XDG_DATA_HOME/arbsr/models``."""
    return (_env_dirs(models_dir) or [_default_user_dir()])[0]


def _default_user_dir() -> Path:
    data_home = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data_home).expanduser() / "arbsr" / "models"


def _env_dirs(models_dir: str | None) -> list[Path]:
    value = models_dir or os.environ.get("ARBSR_MODELS_DIR", "")
    return [Path(entry).expanduser() for entry in value.split(os.pathsep) if entry]


def model_dirs(root: Path, models_dir: str | None = None) -> list[Path]:
    """Folders the engine reads model cards from: bundled, the user's folder(s), then the
    default user folder (``$XDG_DATA_HOME/arbsr/models``).

    ``models_dir`` is the plugin setting; without it the engine inherits ``$ARBSR_MODELS_DIR``
    (``os.pathsep``-separated), exactly as :func:`run_engine` passes it to the child.
    """
    dirs = [root / "resources" / "models", *_env_dirs(models_dir)]
    if _default_user_dir() not in dirs:
        dirs.append(_default_user_dir())
    return dirs


def card_entry(path: Path) -> dict[str, Any]:
    """One model card file -> the dict ``python -m engine models`` prints for it.

    Mirrors ``ModelCard.to_json(_read_card(path))`` in engine/models/registry.py: ``file`` is
    resolved beside the card, the old key ``scale_range`` is read as ``scales``, ``config`` is
    not listed, ``demonstration`` is false when absent, and every other key (``license``,
    ``card`` ...) is kept. Raises KeyError, ValueError, TypeError or OSError for a file that
    is not a model card.
    """
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{path} is not a JSON object")
    return {
        "name": data["name"],
        "family": data["family"],
        "bands": int(data.get("bands", 1)),
        # "scale_range": the key's name before it became the CLI's "scales" (older user cards).
        "scales": list(data.get("scales", data.get("scale_range", (1.0, 4.0)))),
        "file": str((path.parent / data["file"]).resolve()),
        "description": data.get("description", ""),
        "options": dict(data.get("options", {})),
        "demonstration": False,
        **{k: v for k, v in data.items() if k not in _CARD_KEYS},
    }


def read_cards(dirs: Sequence[Path]) -> list[dict[str, Any]]:
    """Every model card in ``dirs``: folders in order, files sorted by name, first name wins.

    The same list, in the same order, as ``engine.models.registry.list_models`` (a file that is
    not a model card, e.g. a training config or a broken card, is skipped).
    """
    cards: dict[Any, dict[str, Any]] = {}
    for folder in dirs:
        if not folder.is_dir():
            continue
        for path in sorted(folder.glob("*.json")):
            try:
                entry = card_entry(path)
            except (KeyError, ValueError, TypeError, OSError):
                continue
            cards.setdefault(entry["name"], entry)
    return list(cards.values())


def list_models(root: Path | None = None, models_dir: str | None = None
                ) -> list[dict[str, Any]]:
    """Registered models (what ``python -m engine models`` prints), read from the model cards.

    No child process and no engine import: this runs on the GUI thread whenever the provider
    loads or an algorithm is instantiated, so it must take milliseconds whatever the engine
    Python does (a slow torch import, a hang, a missing interpreter). An engine folder that is
    not found gives an empty list.
    """
    try:
        root = root or engine_root()
    except EngineFailure:
        return []
    return read_cards(model_dirs(root, models_dir))


def added_models(root: Path | None = None, models_dir: str | None = None
                 ) -> list[dict[str, Any]]:
    """The registered models that are not bundled: those ``engine models remove`` can remove."""
    try:
        root = root or engine_root()
    except EngineFailure:
        return []
    bundled = {card["name"] for card in read_cards(model_dirs(root, models_dir)[:1])}
    return [card for card in list_models(root, models_dir) if card["name"] not in bundled]


def parse_models_output(stdout: str) -> list[dict[str, Any]]:
    """``python -m engine models`` stdout -> list of model dicts (several layouts accepted)."""
    text = stdout.strip()
    candidates: list[Any] = []
    try:
        candidates.append(json.loads(text))
    except ValueError:
        for line in text.splitlines():
            try:
                candidates.append(json.loads(line))
            except ValueError:
                continue
    for data in candidates:
        if isinstance(data, dict) and data.get("event") == "done":
            data = (data.get("results") or {}).get("models", [])
        elif isinstance(data, dict) and "models" in data:
            data = data["models"]
        if isinstance(data, list) and all(isinstance(m, dict) and "name" in m for m in data):
            return data
    raise ValueError("no model list in the engine output")
