"""Screenshot of QGIS with the ArbSR dock, under a virtual X display (Xvfb).

Loads a scikit-image sample photo as a georeferenced layer (never WorldView pixels: those may not
be redistributed), enables the plugin in a throw-away profile, opens the dock with the layer
ticked and the scale at 2.5, and saves ``resources/screenshots/dock.png`` (QGIS window) and
``resources/screenshots/dock_widget.png`` (the dock alone).

Usage: ``.venv/bin/python tools/screenshot.py [--out resources/screenshots]`` (needs xvfb-run).
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
from qgis.utils import iface, plugins
from qgis.PyQt.QtCore import QTimer
from qgis.PyQt.QtWidgets import QApplication

win = iface.mainWindow()
win.setGeometry(QApplication.primaryScreen().availableGeometry())
layer = iface.addRasterLayer(os.environ["SHOT_LAYER"], "coffee (scikit-image sample)")
plugin = plugins["arbsr_qgis"]
plugin.action.trigger()
dock = plugin.dock
dock.set_checked_layers([layer.id()])
dock.spin.setValue(2.5)
dock.device.setCurrentText("cpu")
dock.temporary.setChecked(True)

def reveal():
    # QGIS restores the saved window state after startup code: show the dock once that is done
    dock.setUserVisible(True)
    dock.raise_()
    layer_ids = [layer.id()]
    dock.set_checked_layers(layer_ids)
    QTimer.singleShot(2000, shoot)

def shoot():
    win.grab().save(os.environ["SHOT_WINDOW"])
    dock.grab().save(os.environ["SHOT_DOCK"])
    QApplication.instance().quit()

QTimer.singleShot(int(os.environ.get("SHOT_DELAY_MS", "3000")), reveal)
'''


def sample_layer(path: Path) -> Path:
    """skimage's 'coffee' photo as an RGB GeoTIFF with 0.5 m pixels in UTM 13N."""
    from osgeo import gdal, osr
    from skimage import data

    img = data.coffee()  # (400, 600, 3) uint8
    ds = gdal.GetDriverByName("GTiff").Create(str(path), img.shape[1], img.shape[0], 3,
                                              gdal.GDT_Byte)
    ds.SetGeoTransform([487548.0, 0.5, 0.0, 4443554.0, 0.0, -0.5])
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(32613)
    ds.SetProjection(srs.ExportToWkt())
    for b in range(3):
        ds.GetRasterBand(b + 1).WriteArray(img[:, :, b])
    ds = None
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "resources" / "screenshots"))
    args = parser.parse_args()
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="arbsr-shot-"))
    pkg = work / "plugins" / "arbsr_qgis"
    pkg.mkdir(parents=True)
    for entry in (ROOT / "arbsr_qgis").iterdir():
        if entry.name != "__pycache__":
            (pkg / entry.name).symlink_to(entry)
    (pkg / "metadata.txt").symlink_to(ROOT / "metadata.txt")
    profile = work / "profile"
    ini = profile / "profiles" / "default" / "QGIS" / "QGIS3.ini"
    ini.parent.mkdir(parents=True)
    ini.write_text("[PythonPlugins]\narbsr_qgis=true\n\n[qgis]\nshowTips=false\n"
                   "checkVersion=false\n", encoding="utf-8")
    code = work / "shot.py"
    code.write_text(CODE, encoding="utf-8")
    env = dict(os.environ)
    env.pop("QT_QPA_PLATFORM", None)  # the desktop app needs the (virtual) X server
    env.update(QGIS_PLUGINPATH=str(work / "plugins"), QGIS_CUSTOM_CONFIG_PATH=str(profile),
               XDG_CONFIG_HOME=str(work / "xdg-config"), XDG_CACHE_HOME=str(work / "xdg-cache"),
               SHOT_LAYER=str(sample_layer(work / "coffee.tif")),
               SHOT_WINDOW=str(out / "dock.png"), SHOT_DOCK=str(out / "dock_widget.png"))
    env.setdefault("ARBSR_PYTHON", str(Path(sys.executable).parent / "python"))
    xvfb = shutil.which("xvfb-run")
    if xvfb is None:
        raise SystemExit("xvfb-run not found: apt install xvfb")
    res = subprocess.run([xvfb, "-a", "-s", "-screen 0 1280x800x24", "/usr/bin/qgis",
                          "--nologo", "--noversioncheck", "--code", str(code)],
                         env=env, timeout=300, check=False)
    shutil.rmtree(work, ignore_errors=True)
    for name in ("dock.png", "dock_widget.png"):
        if not (out / name).is_file():
            raise SystemExit(f"no {name} written (QGIS exit {res.returncode})")
        print(out / name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
