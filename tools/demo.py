"""``make demo``: super-resolve a real WorldView-2 sample through QGIS Processing (qgis_process).

1. Cuts the sample raster (a 160x160 RGB crop of the WorldView-2 multispectral scene in the
   ``dgsamples`` package, ~150 KB; its licence forbids redistribution, so it is cut here, at
   demo time, and never committed).
2. Makes a throw-away QGIS profile with the ``arbsr_qgis`` plugin enabled.
3. Runs ``qgis_process.bin run arbsr:upscale`` (the same Processing algorithm as the toolbox,
   batch, models and the dock) with the default model.
4. Writes GDAL cubic for comparison and a side-by-side preview PNG (input upscaled by nearest
   neighbour | GDAL cubic | ArbSR), and prints where everything is.

Usage: ``.venv/bin/python tools/demo.py --out build/demo [--scale 3] [--device auto]``
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from osgeo import gdal

gdal.UseExceptions()
ROOT = Path(__file__).resolve().parents[1]
QGIS_PROCESS = shutil.which("qgis_process.bin") or "/usr/bin/qgis_process.bin"
#: WorldView-2 MUL bands 5, 3, 2 = red, green, blue.
RGB = [5, 3, 2]
CROP = [170, 150, 160, 160]  # xoff, yoff, width, height: fields, roads and buildings


def cut_sample(out: Path) -> Path:
    """The bundled real sample raster, cut from the dgsamples WorldView-2 scene."""
    import dgsamples

    scene = sorted((Path(dgsamples.__file__).parent / "wv2_longmont_1k").glob("*_MUL/*.TIF"))
    if not scene:
        raise SystemExit("dgsamples has no WorldView-2 MUL scene: run `make setup`.")
    path = out / "wv2_sample.tif"
    gdal.Translate(str(path), str(scene[0]), srcWin=CROP, bandList=RGB,
                   creationOptions=["COMPRESS=DEFLATE", "TILED=YES"])
    ds = gdal.Open(str(path), gdal.GA_Update)
    for band, interp in zip(range(1, 4), (gdal.GCI_RedBand, gdal.GCI_GreenBand,
                                          gdal.GCI_BlueBand)):
        ds.GetRasterBand(band).SetColorInterpretation(interp)
    ds = None
    return path


def plugin_profile(work: Path) -> dict[str, str]:
    """Environment for qgis_process with a throw-away profile in which arbsr_qgis is enabled."""
    plugins = work / "plugins"
    pkg = plugins / "arbsr_qgis"
    if plugins.exists():
        shutil.rmtree(plugins)
    pkg.mkdir(parents=True)
    # Links keep the checkout layout, so the plugin finds engine/ at the repository root.
    for entry in (ROOT / "arbsr_qgis").iterdir():
        if entry.name != "__pycache__":
            (pkg / entry.name).symlink_to(entry)
    (pkg / "metadata.txt").symlink_to(ROOT / "metadata.txt")
    env = dict(os.environ)
    profile = work / "profile"
    if profile.exists():
        shutil.rmtree(profile)
    profile.mkdir(parents=True)
    env["QGIS_CUSTOM_CONFIG_PATH"] = str(profile)
    for name in ("XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_RUNTIME_DIR"):
        if not env.get(name):  # make demo sets them; keep QGIS away from $HOME otherwise too
            env[name] = tempfile.mkdtemp(prefix=f"arbsr-{name.lower()}-")
    env["QT_QPA_PLATFORM"] = "offscreen"
    env["QGIS_PLUGINPATH"] = str(plugins)
    env.setdefault("ARBSR_PYTHON", str(Path(sys.executable).parent / "python"))
    res = subprocess.run([QGIS_PROCESS, "plugins", "enable", "arbsr_qgis"], env=env,
                         capture_output=True, text=True, check=False)
    if res.returncode != 0:
        raise SystemExit(f"could not enable the plugin in the demo profile:\n{res.stdout}"
                         f"{res.stderr}")
    return env


def upscale(env: dict[str, str], src: Path, out: Path, scale: float, device: str) -> float:
    """Run arbsr:upscale through qgis_process (progress shown live); returns seconds."""
    argv = [QGIS_PROCESS, "run", "arbsr:upscale", "--", f"INPUT={src}", f"SCALE={scale}",
            f"DEVICE={device}", f"OUTPUT={out}"]
    print("$ " + " ".join(argv), flush=True)
    start = time.perf_counter()
    res = subprocess.run(argv, env=env, check=False)
    if res.returncode != 0 or not out.is_file():
        raise SystemExit(f"qgis_process failed (exit {res.returncode}); see the messages above.")
    return time.perf_counter() - start


def read(path: Path) -> np.ndarray:
    ds = gdal.Open(str(path))
    arr = ds.ReadAsArray().astype(np.float64)
    return arr[None] if arr.ndim == 2 else arr


def to_8bit(arr: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Per-band linear stretch between the input's 2nd and 98th percentiles."""
    scaled = (arr - lo[:, None, None]) / np.maximum(hi - lo, 1e-9)[:, None, None]
    return (np.clip(scaled, 0, 1) * 255).round().astype(np.uint8)


def preview(src: Path, cubic: Path, arbsr: Path, out: Path) -> Path:
    """Side-by-side PNG: input (nearest) | GDAL cubic | ArbSR, with captions."""
    lr = read(src)
    panels = [read(cubic), read(arbsr)]
    h, w = panels[0].shape[1:]
    rows = (np.arange(h) * lr.shape[1] // h)
    cols = (np.arange(w) * lr.shape[2] // w)
    panels.insert(0, lr[:, rows][:, :, cols])
    flat = lr.reshape(lr.shape[0], -1)
    lo, hi = np.percentile(flat, 2, axis=1), np.percentile(flat, 98, axis=1)
    images = [to_8bit(p[:3], lo[:3], hi[:3]) for p in panels]
    gap, top = 8, 28
    canvas = np.full((3, h + top, 3 * w + 2 * gap), 255, np.uint8)
    for i, img in enumerate(images):
        canvas[:img.shape[0], top:, i * (w + gap):i * (w + gap) + w] = img
    mem = gdal.GetDriverByName("MEM").Create("", canvas.shape[2], canvas.shape[1], 3)
    for b in range(3):
        mem.GetRasterBand(b + 1).WriteArray(canvas[b])
    gdal.GetDriverByName("PNG").CreateCopy(str(out), mem)
    mem = None
    _captions(out, w, gap, ["Input (nearest)", "GDAL cubic", "ArbSR (default model)"])
    return out


def _captions(png: Path, width: int, gap: int, labels: list[str]) -> None:
    """Write the panel titles with Qt (offscreen); the picture stays useful without them."""
    try:
        from qgis.PyQt.QtGui import QColor, QFont, QGuiApplication, QImage, QPainter
    except ImportError:
        return
    app = QGuiApplication.instance() or QGuiApplication(["demo"])
    img = QImage(str(png))
    painter = QPainter(img)
    painter.setPen(QColor("black"))
    font = QFont()
    font.setPixelSize(16)
    painter.setFont(font)
    for i, label in enumerate(labels):
        painter.drawText(i * (width + gap) + 4, 20, label)
    painter.end()
    img.save(str(png))
    del app


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="build/demo", help="output folder")
    parser.add_argument("--scale", type=float, default=3.0)
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    args = parser.parse_args()
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    if not Path(QGIS_PROCESS).exists():
        raise SystemExit("qgis_process.bin not found: run `make setup` (installs Debian's QGIS).")

    src = cut_sample(out)
    print(f"Sample: {src} ({src.stat().st_size // 1024} KB, WorldView-2, cut from dgsamples)")
    env = plugin_profile(out / ".qgis")
    result = out / f"wv2_sample_arbsr_x{args.scale:g}.tif"
    seconds = upscale(env, src, result, args.scale, args.device)
    ds_in, ds = gdal.Open(str(src)), gdal.Open(str(result))
    size = (ds.RasterXSize, ds.RasterYSize)
    cubic = out / f"wv2_sample_cubic_x{args.scale:g}.tif"
    gdal.Translate(str(cubic), str(src), width=size[0], height=size[1], resampleAlg="cubic")
    png = preview(src, cubic, result, out / "preview.png")
    print()
    print(f"Input      {ds_in.RasterXSize} x {ds_in.RasterYSize} px, "
          f"pixel {ds_in.GetGeoTransform()[1]:g} m")
    print(f"ArbSR      {size[0]} x {size[1]} px, pixel {ds.GetGeoTransform()[1]:g} m, "
          f"{seconds:.1f} s through qgis_process")
    print(f"Result     {result}")
    print(f"GDAL cubic {cubic}")
    print(f"Preview    {png}  (input nearest | GDAL cubic | ArbSR)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
