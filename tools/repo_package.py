"""Package the staged plugin for the QGIS plugin repository with qgis-plugin-ci, then check it.

qgis-plugin-ci archives the plugin folder from git (``git archive``) and wants ``metadata.txt``
inside that folder; the checkout keeps ``metadata.txt`` and ``engine/`` at the top level (design
card). So this script copies the staged plugin folder (``make stage``: the installed layout)
into a throw-away git repository with ``CHANGELOG.md`` and a ``.qgis-plugin-ci`` configuration,
commits it, runs ``qgis-plugin-ci package VERSION`` there, and moves the zip to ``--out``.

The zip is then checked with the rules plugins.qgis.org applies on upload (its
``plugins/validator.py``): size, no caches/compiled files/VCS folders, one PEP 8 top folder,
``__init__.py``, ``metadata.txt`` with the required keys, ``LICENSE``, well-formed URLs, plus
the version asked for and the changelog. The repository also fetches the homepage, tracker and
repository URLs; that needs the network and is not done here.

Usage: ``.venv/bin/python tools/repo_package.py build/pkg/arbsr_qgis --out build``
"""

from __future__ import annotations

import argparse
import configparser
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parents[1]

#: plugins.qgis.org limits (plugins/validator.py).
MAX_SIZE = 25_000_000
REQUIRED = ("name", "description", "version", "qgisMinimumVersion", "author", "email", "about",
            "tracker", "repository")
BOOLEANS = ("experimental", "deprecated", "server")
#: Not required by the upload check, but the repository page and qgis-plugin-ci want them.
RECOMMENDED = ("homepage", "changelog", "tags", "category", "icon", "experimental")

CI_CONFIG = """\
# qgis-plugin-ci configuration of the throw-away packaging repository (tools/repo_package.py)
plugin_path: {plugin}
github_organization_slug: arbsr
project_slug: arbsr
changelog_include: true
changelog_number_of_entries: 3
"""


def read_metadata(text: str) -> dict[str, str]:
    """The [general] section as QGIS and the repository read it (keys keep their case)."""
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(text)
    return dict(parser["general"])


def changelog_lines(value: str) -> list[str]:
    """Changelog entries without indentation and blank lines (for comparisons)."""
    return [line.strip() for line in value.splitlines() if line.strip()]


def collapse_changelog(metadata: Path) -> None:
    """Leave ``changelog=`` on one line: qgis-plugin-ci replaces that line with CHANGELOG.md's
    entries, and continuation lines left behind would repeat them."""
    out, skipping = [], False
    for line in metadata.read_text(encoding="utf-8").splitlines():
        if skipping and line[:1] in (" ", "\t"):
            continue
        skipping = line.startswith("changelog=")
        out.append("changelog=" if skipping else line)
    metadata.write_text("\n".join(out) + "\n", encoding="utf-8")


def git(repo: Path, *args: str) -> None:
    env = dict(os.environ, GIT_AUTHOR_NAME="ArbSR packaging", GIT_AUTHOR_EMAIL="arbsr@example.org",
               GIT_COMMITTER_NAME="ArbSR packaging", GIT_COMMITTER_EMAIL="arbsr@example.org")
    subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True, text=True)


def package(staged: Path, out: Path, version: str | None = None) -> Path:
    """Run ``qgis-plugin-ci package`` on a git copy of ``staged``; returns the zip in ``out``."""
    plugin = staged.name
    meta = read_metadata((staged / "metadata.txt").read_text(encoding="utf-8"))
    version = version or meta["version"]
    with tempfile.TemporaryDirectory(prefix="arbsr-repo-") as tmp:
        repo = Path(tmp)
        shutil.copytree(staged, repo / plugin, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        collapse_changelog(repo / plugin / "metadata.txt")
        shutil.copy(ROOT / "CHANGELOG.md", repo / "CHANGELOG.md")
        (repo / ".qgis-plugin-ci").write_text(CI_CONFIG.format(plugin=plugin), encoding="utf-8")
        git(repo, "init", "-q")
        git(repo, "add", "-A")
        git(repo, "commit", "-q", "-m", f"{plugin} {version}")
        res = subprocess.run([sys.executable, "-m", "qgispluginci", "package", version],
                             cwd=repo, capture_output=True, text=True, check=False)
        made = repo / f"{plugin}.{version}.zip"
        if res.returncode != 0 or not made.is_file():
            raise SystemExit(f"qgis-plugin-ci package failed (exit {res.returncode}):\n"
                             f"{res.stdout}{res.stderr}")
        out.mkdir(parents=True, exist_ok=True)
        target = out / made.name
        shutil.move(str(made), target)
    return target


def check_zip(path: Path, version: str, changelog: str | None = None) -> list[str]:
    """Problems the plugin repository (or a reviewer) would reject; empty when the zip passes."""
    problems: list[str] = []
    if path.stat().st_size > MAX_SIZE:
        problems.append(f"zip is {path.stat().st_size} bytes, over the {MAX_SIZE} limit")
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
        bad = zf.testzip()
        if bad:
            problems.append(f"corrupt member {bad}")
        for name in names:
            parts = name.split("/")
            if ".." in name or name.startswith("/") or "\\" in name or re.match(r"^[A-Za-z]:", name):
                problems.append(f"path information in {name}")
            if ".pyc" in name:
                problems.append(f"compiled file {name}")
            for forbidden in ("__MACOSX", ".git", "__pycache__"):
                if forbidden in parts:
                    problems.append(f"{forbidden} in {name}")
        tops = {n.split("/")[0] for n in names}
        if len(tops) != 1:
            return problems + [f"not one top folder: {sorted(tops)}"]
        top = tops.pop()
        if not top.isidentifier() or not re.match(r"^[A-Za-z][A-Za-z0-9-_]+$", top):
            problems.append(f"top folder {top!r} is not a Python identifier")
        for needed in ("__init__.py", "metadata.txt", "LICENSE"):
            if f"{top}/{needed}" not in names:
                problems.append(f"{top}/{needed} missing")
        if f"{top}/metadata.txt" not in names:
            return problems
        try:
            meta = read_metadata(zf.read(f"{top}/metadata.txt").decode("utf-8"))
        except (configparser.Error, KeyError, UnicodeDecodeError) as exc:
            return problems + [f"metadata.txt unreadable: {exc}"]
        icon = meta.get("icon", "").removeprefix("./")
        if icon and f"{top}/{icon}" not in names:
            problems.append(f"icon {icon} not in the zip")
    for key in REQUIRED + RECOMMENDED:
        if not meta.get(key, "").strip():
            problems.append(f"metadata {key} missing or empty")
    for key in BOOLEANS:
        if key in meta and meta[key].strip().lower() not in ("true", "false", "yes", "no", "1", "0"):
            problems.append(f"metadata {key}={meta[key]!r} is not a boolean")
    for key in ("homepage", "tracker", "repository"):
        url = urlparse(meta.get(key, ""))
        if not (url.scheme in ("http", "https") and url.netloc):
            problems.append(f"metadata {key} is not a web address")
    if "/" in meta.get("author", ""):
        problems.append("author contains a slash")
    if meta.get("version") != version:
        problems.append(f"metadata version {meta.get('version')} is not {version}")
    lines = changelog_lines(meta.get("changelog", ""))
    if not any(version in line for line in lines):
        problems.append(f"changelog has no entry for {version}")
    if changelog is not None and lines != changelog_lines(changelog):
        problems.append("changelog differs from the committed metadata.txt (CHANGELOG.md changed?)")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("staged", type=Path, help="staged plugin folder (make stage)")
    parser.add_argument("--out", type=Path, default=ROOT / "build")
    parser.add_argument("--version", help="release version (default: metadata.txt's)")
    args = parser.parse_args()
    meta = read_metadata((args.staged / "metadata.txt").read_text(encoding="utf-8"))
    version = args.version or meta["version"]
    archive = package(args.staged.resolve(), args.out.resolve(), version)
    problems = check_zip(archive, version, meta.get("changelog"))
    for problem in problems:
        print(f"REJECTED: {problem}", file=sys.stderr)
    if problems:
        return 1
    print(f"Repository zip: {archive} ({archive.stat().st_size / 1e6:.1f} MB), checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
