"""Screenshot of Settings > Options > ArbSR (engine set-up) after a check, under Xvfb.

Installs the staged plugin (``make stage``: the layout of the zip) into a throw-away profile,
puts an existing engine environment where the page creates one (``<profile>/arbsr/engine-venv``,
a link to ``--venv``), opens the options dialog on the ArbSR page, clicks "Check / set up engine"
and saves ``resources/screenshots/settings.png`` once the checks are done.

Usage: ``.venv/bin/python tools/screenshot_settings.py --venv PATH [--out resources/screenshots]``
(needs xvfb-run; PATH: a venv with torch made from /usr/bin/python3 --system-site-packages,
for example by the page's own "Create engine environment").
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CODE = r'''
import os
from qgis.utils import iface
from qgis.PyQt.QtCore import QTimer
from qgis.PyQt.QtWidgets import QApplication, QDialog, QWidget

def page_and_dialog():
    for top in QApplication.topLevelWidgets():
        page = top.findChild(QWidget, "ArbsrEngineSetupPage")
        if page is not None and isinstance(top, QDialog):
            return page, top
    return None, None

def start():
    page, dialog = page_and_dialog()
    if page is None:
        QTimer.singleShot(500, start)
        return
    dialog.resize(1100, 760)
    dialog.move(40, 20)
    page.start_check()
    QTimer.singleShot(1000, lambda: wait(page, dialog, 60))

def wait(page, dialog, left):
    if not page.check_button.isEnabled() and left > 0:
        QTimer.singleShot(1000, lambda: wait(page, dialog, left - 1))
        return
    page.table.selectRow(0)
    QTimer.singleShot(800, lambda: shoot(dialog))

def shoot(dialog):
    dialog.grab().save(os.environ["SHOT_SETTINGS"])
    dialog.reject()
    QApplication.instance().quit()

QTimer.singleShot(int(os.environ.get("SHOT_DELAY_MS", "3000")), start)
QTimer.singleShot(int(os.environ.get("SHOT_DELAY_MS", "3000")) - 500,
                  lambda: iface.showOptionsDialog(iface.mainWindow(), "ArbsrEngineSetupPage"))
'''


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--venv", required=True, type=Path, help="an engine environment")
    parser.add_argument("--out", default=str(ROOT / "resources" / "screenshots"))
    args = parser.parse_args()
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="arbsr-shot-"))
    subprocess.run(["make", "-s", "-C", str(ROOT), "stage", f"BUILD={work / 'build'}"], check=True)
    profile = work / "profile"
    ini = profile / "profiles" / "default" / "QGIS" / "QGIS3.ini"
    ini.parent.mkdir(parents=True)
    ini.write_text("[PythonPlugins]\narbsr_qgis=true\n\n[qgis]\nshowTips=false\n"
                   "checkVersion=false\n", encoding="utf-8")
    managed = profile / "profiles" / "default" / "arbsr" / "engine-venv"
    managed.parent.mkdir(parents=True)
    managed.symlink_to(args.venv.resolve())
    code = work / "shot.py"
    code.write_text(CODE, encoding="utf-8")
    home = work / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items()
           if k not in ("QT_QPA_PLATFORM", "ARBSR_PYTHON", "VIRTUAL_ENV", "CONDA_PREFIX")}
    env.update(HOME=str(home), PATH="/usr/bin:/bin",  # only what a fresh desktop user has
               QGIS_PLUGINPATH=str(work / "build" / "pkg"), QGIS_CUSTOM_CONFIG_PATH=str(profile),
               XDG_CONFIG_HOME=str(work / "xdg-config"), XDG_CACHE_HOME=str(work / "xdg-cache"),
               SHOT_SETTINGS=str(out / "settings.png"))
    xvfb = shutil.which("xvfb-run")
    if xvfb is None:
        raise SystemExit("xvfb-run not found: apt install xvfb")
    res = subprocess.run([xvfb, "-a", "-s", "-screen 0 1280x800x24", "/usr/bin/qgis",
                          "--nologo", "--noversioncheck", "--code", str(code)],
                         env=env, timeout=300, check=False)
    shutil.rmtree(work, ignore_errors=True)
    if not (out / "settings.png").is_file():
        raise SystemExit(f"no settings.png written (QGIS exit {res.returncode})")
    print(out / "settings.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
