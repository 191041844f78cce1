"""Packaging: pb_tool (Plugin Builder 3's tool) and qgis-plugin-ci build the same plugin as `make zip`.

Each test runs the real Makefile targets into a temporary BUILD folder.
"""

from __future__ import annotations

import configparser
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from rasters import ROOT

sys.path.insert(0, str(ROOT / "tools"))
import repo_package  # noqa: E402  (tools/ is not a package)


def make(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    res = subprocess.run(["make", "-s", "-C", str(ROOT), *args], capture_output=True, text=True,
                         timeout=timeout, check=False)
    assert res.returncode == 0, res.stdout + res.stderr
    return res


def files_in_zip(path: Path) -> set[str]:
    with zipfile.ZipFile(path) as zf:
        return {n for n in zf.namelist() if not n.endswith("/")}


def files_in_folder(folder: Path) -> set[str]:
    return {f"{folder.name}/{p.relative_to(folder).as_posix()}" for p in folder.rglob("*")
            if p.is_file() and "__pycache__" not in p.parts}


@pytest.fixture(scope="module")
def make_zip_path(tmp_path_factory) -> Path:
    build = tmp_path_factory.mktemp("make-zip")
    make("zip", f"BUILD={build}")
    return build / "arbsr_qgis.zip"


@pytest.fixture(scope="module")
def make_zip_files(make_zip_path) -> set[str]:
    return files_in_zip(make_zip_path)


def test_the_installed_engine_has_no_bench_code_and_runs_without_it(make_zip_path,
                                                                    make_zip_files, tmp_path):
    assert "arbsr_qgis/engine/commands/upscale.py" in make_zip_files
    bench = [n for n in make_zip_files
             if n.startswith("arbsr_qgis/engine/bench/") or n.endswith("commands/bench.py")]
    assert bench == []
    with zipfile.ZipFile(make_zip_path) as zf:
        zf.extractall(tmp_path)
    res = subprocess.run([sys.executable, "-m", "engine", "--help"], cwd=tmp_path / "arbsr_qgis",
                         capture_output=True, text=True, timeout=120, check=False)
    assert res.returncode == 0, res.stderr
    assert "upscale" in res.stdout and "bench" not in res.stdout


def test_pb_tool_validate(tmp_path):
    res = make("pb-validate", f"BUILD={tmp_path}")
    assert "is valid and contains all mandatory items" in res.stdout


def test_pb_tool_zip_and_deploy_equal_make_zip(tmp_path, make_zip_files):
    make("pb-zip", f"BUILD={tmp_path}")
    assert files_in_zip(tmp_path / "pb" / "arbsr_qgis.zip") == make_zip_files
    profile = tmp_path / "profile"
    make("pb-deploy", f"BUILD={tmp_path}", f"PROFILE={profile}")
    assert files_in_folder(profile / "python" / "plugins" / "arbsr_qgis") == make_zip_files


def test_pb_tool_cfg_lists_every_top_level_module():
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "pb_tool.cfg")
    listed = set(cfg["files"]["python_files"].split())
    assert listed == {p.name for p in (ROOT / "arbsr_qgis").glob("*.py")}
    extra = set(cfg["files"]["extra_dirs"].split())
    packages = {p.name for p in (ROOT / "arbsr_qgis").iterdir()
                if p.is_dir() and p.name != "__pycache__"}
    assert packages <= extra


def test_repository_zip_passes_the_repository_checks(tmp_path, make_zip_files):
    res = make("repo-zip", f"BUILD={tmp_path}")
    meta = repo_package.read_metadata((ROOT / "metadata.txt").read_text(encoding="utf-8"))
    archive = tmp_path / f"arbsr_qgis.{meta['version']}.zip"
    assert "checks passed" in res.stdout and archive.is_file()
    assert repo_package.check_zip(archive, meta["version"], meta["changelog"]) == []
    assert files_in_zip(archive) == make_zip_files  # same plugin as make zip


def test_repository_checks_reject_what_the_repository_rejects(tmp_path):
    def build(files: dict[str, str]) -> Path:
        path = tmp_path / f"p{len(list(tmp_path.iterdir()))}.zip"
        with zipfile.ZipFile(path, "w") as zf:
            for name, text in files.items():
                zf.writestr(name, text)
        return path

    meta = (ROOT / "metadata.txt").read_text(encoding="utf-8")
    good = {"arbsr_qgis/__init__.py": "", "arbsr_qgis/metadata.txt": meta,
            "arbsr_qgis/LICENSE": "MIT", "arbsr_qgis/resources/icons/arbsr.svg": "<svg/>"}
    version = repo_package.read_metadata(meta)["version"]
    assert repo_package.check_zip(build(good), version) == []
    cache = build({**good, "arbsr_qgis/__pycache__/plugin.cpython-311.pyc": "x"})
    assert any("__pycache__" in p for p in repo_package.check_zip(cache, version))
    no_licence = build({k: v for k, v in good.items() if not k.endswith("LICENSE")})
    assert any("LICENSE" in p for p in repo_package.check_zip(no_licence, version))
    no_tracker = build({**good, "arbsr_qgis/metadata.txt":
                        meta.replace("tracker=", "trackr=")})
    assert any("tracker" in p for p in repo_package.check_zip(no_tracker, version))
    assert any("version" in p for p in repo_package.check_zip(build(good), "9.9.9"))
