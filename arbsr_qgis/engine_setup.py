"""Find, check and create the Python environment that runs the engine (no qgis import).

The engine runs as ``<python> -m engine`` in a child process (ARCHITECTURE.md), so the user needs
a Python with PyTorch, numpy and GDAL's ``osgeo``. This module

* lists candidate interpreters (:func:`candidates`): the "Engine Python" setting,
  ``$ARBSR_PYTHON``, the checkout's ``.venv``, the environment this plugin creates, conda
  environments, virtualenvs, and the system/QGIS Pythons that have GDAL;
* checks one in a child process (:func:`check`): Python, torch, CUDA and the GPU name, GDAL,
  numpy, the runtime packages, and whether the bundled engine imports;
* creates a venv from a Python that has GDAL (:func:`create_environment`): on Linux the system
  Python with ``--system-site-packages``, so Debian's GDAL and numpy are used as they are, then
  ``pip install`` of the engine's pinned runtime requirements (``engine_requirements.txt``),
  PyTorch as a CPU or CUDA build, then (optional, needs a C++ compiler) the default model
  compiled for this CPU (:func:`compile_default_model`).

The settings page (:mod:`arbsr_qgis.gui.engine_setup`) runs these in background tasks.
"""

from __future__ import annotations

import glob
import json
import os
import queue
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from arbsr_qgis.engine_client import PLUGIN_DIR, child_env, engine_root

REQUIREMENTS = PLUGIN_DIR / "engine_requirements.txt"
WINDOWS = sys.platform.startswith("win")
MACOS = sys.platform == "darwin"

#: Extra package index for each PyTorch build, per platform. PyPI's Linux torch wheel is the
#: CUDA build and its Windows/macOS wheels are CPU builds; the PyTorch index has the others.
TORCH_INDEX = {
    "cpu": None if MACOS else "https://download.pytorch.org/whl/cpu",
    "cuda": "https://download.pytorch.org/whl/cu126" if WINDOWS else None,
}

#: Run by each candidate with ``-c``: one JSON line describing what it can do.
PROBE = r"""
import json, os, sys
r = {"python": sys.version.split()[0], "executable": sys.executable, "prefix": sys.prefix}
def err(e):
    return (type(e).__name__ + ": " + str(e)).splitlines()[0][:200]
try:
    import numpy
    r["numpy"] = numpy.__version__
except Exception as e:
    r["numpy_error"] = err(e)
try:
    from osgeo import gdal
    r["gdal"] = gdal.__version__
except Exception as e:
    r["gdal_error"] = err(e)
try:
    import torch
    r["torch"] = torch.__version__
    r["cuda"] = bool(torch.cuda.is_available())
    r["cuda_version"] = torch.version.cuda
    if r["cuda"]:
        r["gpu"] = torch.cuda.get_device_name(0)
except Exception as e:
    r["torch_error"] = err(e)
r["missing"] = []
for name in ("yaml", "scipy"):
    try:
        __import__(name)
    except Exception:
        r["missing"].append(name)
root = os.environ.get("ARBSR_ENGINE_ROOT_CHECK")
if root:
    try:
        import engine
        here = os.path.realpath(os.path.dirname(engine.__file__))
        if not here.startswith(os.path.realpath(root)):
            raise ImportError("another package named engine: " + here)
        r["engine"] = getattr(engine, "__version__", "?")
    except Exception as e:
        r["engine_error"] = err(e)
print(json.dumps(r))
"""


@dataclass
class Candidate:
    """An interpreter to check, and where it was found."""

    python: str
    source: str


@dataclass
class CheckResult:
    """What :func:`check` found in one interpreter."""

    python: str
    source: str = ""
    version: str | None = None
    torch: str | None = None
    cuda: bool = False
    cuda_version: str | None = None
    gpu: str | None = None
    gdal: str | None = None
    numpy: str | None = None
    engine: str | None = None
    missing: list[str] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """Usable as the engine Python: torch, numpy, GDAL, the runtime packages, the engine."""
        return bool(self.torch and self.numpy and self.gdal and self.engine and not self.missing)

    @property
    def has_gdal(self) -> bool:
        return bool(self.gdal and self.numpy)

    def summary(self) -> str:
        """One line for logs and tooltips."""
        if self.ok:
            device = f"CUDA {self.gpu}" if self.cuda else "CPU only"
            return f"ready: torch {self.torch} ({device}), GDAL {self.gdal}"
        problems = [f"{k}: {v}" for k, v in self.errors.items()]
        if self.missing:
            problems.append("missing " + ", ".join(self.missing))
        return "not usable: " + ("; ".join(problems) or "unknown")

    def to_dict(self) -> dict:
        return asdict(self)


# --------------------------------------------------------------------------------------------
# Candidates


def python_in(env_dir: Path) -> Path | None:
    """The interpreter of a venv or conda environment folder, if there is one."""
    for rel in ("bin/python3", "bin/python", "python.exe", "Scripts/python.exe"):
        if (env_dir / rel).is_file():
            return env_dir / rel
    return None


def managed_venv(data_dir: Path) -> Path:
    """The environment the settings page creates: ``<QGIS profile>/arbsr/engine-venv``.

    Outside the plugin folder, so reinstalling or updating the plugin keeps it.
    """
    return Path(data_dir) / "arbsr" / "engine-venv"


def _conda_envs(env: dict[str, str], home: Path) -> Iterable[Path]:
    if env.get("CONDA_PREFIX"):
        yield Path(env["CONDA_PREFIX"])
    listed = home / ".conda" / "environments.txt"  # every env conda has created for this user
    if listed.is_file():
        for line in listed.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.strip():
                yield Path(line.strip())
    roots = [home / name for name in ("miniconda3", "anaconda3", "miniforge3", "mambaforge",
                                      "micromamba", ".conda")]
    roots += [Path(p) for p in ("/opt/conda", "/opt/miniconda3", "/opt/miniforge3",
                                "C:/ProgramData/miniconda3", "C:/ProgramData/anaconda3",
                                "C:/ProgramData/miniforge3")]
    for root in roots:
        yield root
        yield from sorted((root / "envs").glob("*"))


def _virtualenvs(env: dict[str, str], home: Path) -> Iterable[tuple[Path, str]]:
    if env.get("VIRTUAL_ENV"):
        yield Path(env["VIRTUAL_ENV"]), "virtualenv"
    folders = [Path(env["WORKON_HOME"])] if env.get("WORKON_HOME") else []
    folders += [home / ".virtualenvs", home / ".venvs", home / "venvs",
                home / ".local" / "share" / "virtualenvs"]  # virtualenvwrapper, pipenv, habits
    for folder in folders:
        yield from ((p, "virtualenv") for p in sorted(folder.glob("*")))
    yield from ((p, "pyenv") for p in sorted((home / ".pyenv" / "versions").glob("*")))


def _system_pythons(env: dict[str, str]) -> Iterable[Path]:
    """Pythons that usually have GDAL: the distribution's, OSGeo4W's, the QGIS app bundle's."""
    if WINDOWS:
        for root in (env.get("OSGEO4W_ROOT"), "C:/OSGeo4W", "C:/OSGeo4W64"):
            if root:
                yield from (Path(p) for p in sorted(glob.glob(f"{root}/apps/Python3*/python.exe")))
        yield from (Path(p) for p in sorted(glob.glob("C:/Program Files/QGIS*/apps/Python3*/python.exe")))
    elif MACOS:
        yield from (Path(p) for p in sorted(glob.glob("/Applications/QGIS*.app/Contents/MacOS/bin/python3")))
        yield Path("/opt/homebrew/bin/python3")
        yield Path("/usr/local/bin/python3")
    else:
        yield Path("/usr/bin/python3")
    found = shutil.which("python3", path=env.get("PATH"))
    if found:
        yield Path(found)


def candidates(setting: str | None = None, data_dir: Path | None = None,
               env: dict[str, str] | None = None, home: Path | None = None,
               plugin_dir: Path | None = None) -> list[Candidate]:
    """Interpreters worth checking, most specific first, each once (existing files only)."""
    env = dict(os.environ) if env is None else env
    home = Path.home() if home is None else home
    here = plugin_dir or PLUGIN_DIR
    found: list[Candidate] = []
    seen: set[str] = set()

    def add(path: Path | str | None, source: str) -> None:
        if not path:
            return
        path = Path(path).expanduser()
        key = os.path.normcase(os.path.abspath(path))  # not resolved: venvs link to one base
        if key in seen or not path.is_file():
            return
        seen.add(key)
        found.append(Candidate(str(path), source))

    add(setting, "Engine Python setting")
    add(env.get("ARBSR_PYTHON"), "ARBSR_PYTHON")
    for venv in (here.parent / ".venv", here / ".venv"):
        add(python_in(venv), "checkout .venv")
    if data_dir is not None:
        add(python_in(managed_venv(data_dir)), "ArbSR environment")
    for env_dir in _conda_envs(env, home):
        add(python_in(env_dir), "conda")
    for env_dir, kind in _virtualenvs(env, home):
        add(python_in(env_dir), kind)
    for python in _system_pythons(env):
        add(python, "system")
    return found


# --------------------------------------------------------------------------------------------
# Checking


def check(python: str, source: str = "", root: Path | None = None,
          timeout: float = 120.0) -> CheckResult:
    """Run :data:`PROBE` in ``python`` (a child process with the engine on its path)."""
    result = CheckResult(python=python, source=source)
    try:
        root = root or engine_root()
    except Exception as exc:  # noqa: BLE001 (no engine next to the plugin: still check torch)
        result.errors["engine"] = str(exc)
        root = None
    env = child_env(root) if root else dict(os.environ)
    if root:
        env["ARBSR_ENGINE_ROOT_CHECK"] = str(root)
    start = time.monotonic()
    try:
        res = subprocess.run([python, "-c", PROBE], capture_output=True, text=True,
                             timeout=timeout, env=env, cwd=str(root) if root else None,
                             check=False)
    except (OSError, subprocess.SubprocessError) as exc:
        result.errors["python"] = f"cannot run: {exc}"
        return result
    finally:
        result.seconds = time.monotonic() - start
    lines = [line for line in res.stdout.splitlines() if line.startswith("{")]
    if res.returncode != 0 or not lines:
        tail = (res.stderr.strip().splitlines() or [f"exit {res.returncode}"])[-1]
        result.errors["python"] = f"probe failed: {tail}"
        return result
    data = json.loads(lines[-1])
    result.version = data.get("python")
    for key in ("torch", "cuda_version", "gpu", "gdal", "numpy", "engine"):
        setattr(result, key, data.get(key))
    result.cuda = bool(data.get("cuda"))
    result.missing = list(data.get("missing", []))
    for key in ("torch", "gdal", "numpy", "engine"):
        if data.get(f"{key}_error"):
            result.errors[key] = data[f"{key}_error"]
    return result


# --------------------------------------------------------------------------------------------
# Creating


def runtime_requirements() -> list[str]:
    """The engine's pinned runtime requirements (``engine_requirements.txt``, one per line)."""
    lines = REQUIREMENTS.read_text(encoding="utf-8").splitlines()
    return [line.split("#")[0].strip() for line in lines if line.split("#")[0].strip()]


def default_base_python(env: dict[str, str] | None = None) -> str | None:
    """The Python a new environment is made from: one that has GDAL (checked by the caller).

    Linux: the distribution's /usr/bin/python3 (QGIS's own, with python3-gdal). Windows: the
    OSGeo4W / QGIS installer Python. macOS: the QGIS app bundle's Python.
    """
    for python in _system_pythons(dict(os.environ) if env is None else env):
        if python.is_file():
            return str(python)
    return None


@dataclass
class Step:
    """One command of the creation, with its share of the progress bar."""

    label: str
    argv: list[str]
    weight: float


def creation_steps(base_python: str, venv_dir: Path, build: str = "cpu",
                   torch_index: str | None = None, numpy_version: str | None = None,
                   ) -> list[Step]:
    """The commands that make the engine environment (shown to the user, then run)."""
    if build not in TORCH_INDEX:
        raise ValueError(f"build must be one of {sorted(TORCH_INDEX)}, not {build!r}")
    venv_dir = Path(venv_dir)
    py = str(python_in_new(venv_dir))
    pins = runtime_requirements()
    torch_pins = [p for p in pins if p.lower().startswith("torch")]
    other = [p for p in pins if p not in torch_pins]
    pip = [py, "-m", "pip", "install", "--disable-pip-version-check"]
    if numpy_version:  # GDAL's bindings are built against the base's numpy: never replace it
        constraints = venv_dir / "arbsr-constraints.txt"
        pip += ["-c", str(constraints)]
    index = ["--extra-index-url", torch_index] if torch_index else []
    return [
        Step("Creating the virtual environment",
             [base_python, "-m", "venv", "--system-site-packages", str(venv_dir)], 0.08),
        Step(f"Installing PyTorch ({build.upper()} build)", pip + index + torch_pins, 0.72),
        Step("Installing the other engine requirements", pip + other, 0.12),
    ]


def python_in_new(venv_dir: Path) -> Path:
    """Where ``python -m venv`` puts the interpreter on this platform."""
    return Path(venv_dir) / ("Scripts/python.exe" if WINDOWS else "bin/python")


class CreationFailed(Exception):
    """A step of :func:`create_environment` failed; the message says which and why."""


def run_streaming(argv: list[str], on_line: Callable[[str], None],
                  is_cancelled: Callable[[], bool], env: dict[str, str] | None = None
                  ) -> tuple[int, str]:
    """Run ``argv``, passing each output line to ``on_line``; ends the child on cancel.
    Returns the exit code and the last non-empty output line (what a failure message quotes)."""
    with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          env=env, bufsize=1) as proc:
        lines: queue.Queue = queue.Queue()

        def read() -> None:
            assert proc.stdout is not None
            for line in proc.stdout:
                lines.put(line.rstrip())
            lines.put(None)

        threading.Thread(target=read, daemon=True).start()
        last = ""
        while True:
            if is_cancelled():
                proc.terminate()
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                raise CreationFailed("cancelled")
            try:
                line = lines.get(timeout=0.2)
            except queue.Empty:
                continue
            if line is None:
                break
            on_line(line)
            last = line or last
        return proc.wait(), last


def create_environment(base_python: str, venv_dir: Path, build: str = "cpu",
                       torch_index: str | None = None,
                       on_progress: Callable[[float, str], None] = lambda f, m: None,
                       on_line: Callable[[str], None] = lambda line: None,
                       is_cancelled: Callable[[], bool] = lambda: False) -> CheckResult:
    """Make (or repair) the engine environment in ``venv_dir`` and check it.

    ``base_python`` must have GDAL and numpy (the new venv sees them through
    ``--system-site-packages``). Raises :class:`CreationFailed` with the failing step's last
    output line; returns the check of the new interpreter.
    """
    on_progress(0.0, "Checking the base Python")
    base = check(base_python, "base")
    if not base.has_gdal:
        raise CreationFailed(
            f"{base_python} has no GDAL Python bindings (osgeo) and numpy: choose a Python that "
            "has them (on Linux the system python3 with python3-gdal, on Windows the OSGeo4W "
            "Python, or a conda environment with gdal).")
    venv_dir = Path(venv_dir)
    steps = creation_steps(base_python, venv_dir, build, torch_index, base.numpy)
    total = sum(s.weight for s in steps) + 0.08 + COMPILE_WEIGHT
    done = 0.0
    env = dict(os.environ)
    env.pop("PYTHONHOME", None)
    env.pop("PYTHONPATH", None)
    env["PIP_PROGRESS_BAR"] = "off"
    for step in steps:
        on_progress(done / total, step.label)
        on_line("$ " + " ".join(step.argv))
        seen = 0

        def line_cb(line: str, step: Step = step) -> None:
            nonlocal seen
            on_line(line)
            if line.startswith(("Collecting", "Downloading", "Processing", "Installing",
                                "Successfully", "Requirement already")):
                seen += 1  # pip does not announce totals: approach the step's end smoothly
                on_progress((done + step.weight * (1 - 0.85 ** seen)) / total, step.label)

        if step.argv[1:3] == ["-m", "pip"] and base.numpy:
            (venv_dir / "arbsr-constraints.txt").write_text(f"numpy=={base.numpy}\n",
                                                            encoding="utf-8")
        code, last = run_streaming(step.argv, line_cb, is_cancelled, env)
        if code != 0:
            raise CreationFailed(f"{step.label} failed (exit {code}): {last}")
        done += step.weight
    on_progress(done / total, "Checking the new environment")
    python = str(python_in_new(venv_dir))
    result = check(python, "ArbSR environment")
    if not result.ok:
        raise CreationFailed(f"the new environment does not work: {result.summary()}")
    compile_default_model(python, on_progress, on_line, is_cancelled, (done + 0.08) / total)
    on_progress(1.0, result.summary())
    return result


#: Share of the progress bar of :func:`compile_default_model` (a few seconds).
COMPILE_WEIGHT = 0.02


def compile_default_model(python: str, on_progress: Callable[[float, str], None],
                          on_line: Callable[[str], None], is_cancelled: Callable[[], bool],
                          start: float) -> bool:
    """Build the default model's compiled decoder for this CPU with the new environment
    (``python -m engine compile``, into the user's cache): later CPU jobs render 1.2 to 2
    times faster, with the same pixels. Optional: without a C++ compiler (or on any failure)
    the log says so and the environment is used as it is. True when built."""
    label = "Compiling the default model for this CPU (optional)"
    on_progress(start, label)
    argv = [python, "-m", "engine", "compile", "--progress", "text"]
    on_line("$ " + " ".join(argv))
    code, last = run_streaming(argv, on_line, is_cancelled, child_env(engine_root()))
    if code != 0:
        on_line(f"Skipped compiling ({last}): models run without it, more slowly.")
    return code == 0
