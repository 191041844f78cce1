"""Nothing the user had is lost: nodata never swallows valid pixels, damaged inputs, a full disk,
killed runs and two runs on one output all end cleanly (one line, no partial file)."""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from osgeo import gdal

from rasters import ROOT, smooth_image, write_geotiff
from engine.errors import OutputError
from engine.io import gdal_raster as gr
from engine.pipeline import Scale, upscale_raster
from tests.engine.io.toys import GridBicubic, write_torchscript_model

gdal.UseExceptions()
PY = sys.executable


@pytest.fixture
def models_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("models")
    write_torchscript_model(folder, "toy-bicubic")
    return folder


def run(args: list[object], models: Path, **kw) -> subprocess.CompletedProcess:
    env = {**os.environ, "ARBSR_MODELS_DIR": str(models), "OMP_NUM_THREADS": "1"}
    return subprocess.run([PY, "-m", "engine", *map(str, args)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300, **kw)


def names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_valid_pixels_never_take_the_nodata_value(tmp_path):
    # Dark pixels (1) beside bright ones: bicubic undershoots below 0 there, which rounds to 0,
    # the nodata value. Those pixels are valid and must stay valid.
    img = np.ones((24, 24), np.uint8)
    img[:, 12:] = 250
    img[5:8, 3:6] = 0  # a real nodata hole
    src = write_geotiff(tmp_path / "in.tif", img, nodata=0)
    upscale_raster(src, tmp_path / "o.tif", GridBicubic(), scale=Scale(3, 3))
    out = gdal.Open(str(tmp_path / "o.tif")).ReadAsArray()
    ix = np.minimum(((np.arange(72) + 0.5) / 3).astype(int), 23)
    invalid = (img == 0)[ix][:, ix]
    assert invalid.any() and (out[invalid] == 0).all()
    assert (out[~invalid] != 0).all()
    assert out[~invalid].min() == 1  # moved to the nearest value inside the valid range


def test_valid_pixels_next_to_a_maximum_nodata_move_down(tmp_path):
    img = np.full((20, 20), 65000, np.uint16)
    img[:, 10:] = 1000
    src = write_geotiff(tmp_path / "in.tif", img, nodata=65535)
    upscale_raster(src, tmp_path / "o.tif", GridBicubic(), scale=Scale(2, 2))
    out = gdal.Open(str(tmp_path / "o.tif")).ReadAsArray()
    assert (out != 65535).all() and out.max() == 65534


def _damage_last_block(path: Path) -> None:
    """Overwrite the compressed bytes of the raster's last block with garbage: the file opens,
    the first blocks read, the last one fails."""
    ds = gdal.Open(str(path))
    band = ds.GetRasterBand(1)
    bx, by = band.GetBlockSize()
    nx, ny = -(-ds.RasterXSize // bx), -(-ds.RasterYSize // by)
    off = int(band.GetMetadataItem(f"BLOCK_OFFSET_{nx - 1}_{ny - 1}", "TIFF"))
    size = int(band.GetMetadataItem(f"BLOCK_SIZE_{nx - 1}_{ny - 1}", "TIFF"))
    ds = None
    with open(path, "r+b") as f:
        f.seek(off)
        f.write(bytes(np.random.default_rng(0).integers(0, 256, size, dtype=np.uint8)))


def test_damaged_raster_mid_run_is_one_line_and_no_output(tmp_path, models_dir):
    data = (smooth_image(128, 128, 1) * 3000).astype(np.uint16)
    src = tmp_path / "in.tif"
    raw = gdal.Open(str(write_geotiff(tmp_path / "raw.tif", data)))
    gdal.Translate(str(src), raw,
                   creationOptions=["TILED=YES", "BLOCKXSIZE=64", "BLOCKYSIZE=64",
                                    "COMPRESS=DEFLATE"])
    raw = None
    _damage_last_block(src)
    ds = gdal.Open(str(src))
    ds.GetRasterBand(1).ReadAsArray(0, 0, 64, 64)  # still opens and reads its first block
    ds = None
    before = src.read_bytes()
    p = run(["upscale", src, tmp_path / "o.tif", "--model", "toy-bicubic", "--tile", "32",
             "--progress", "json"], models_dir)
    assert p.returncode == 2, p.stderr
    err = p.stderr.strip().splitlines()
    assert len(err) == 1 and "in.tif" in err[0] and "damaged or truncated" in err[0]
    assert "Traceback" not in p.stderr
    assert json.loads(p.stdout.strip().splitlines()[-1])["event"] == "error"
    assert names(tmp_path) == ["in.tif", "raw.tif"] and src.read_bytes() == before


def _dead_pid() -> int:
    pid = 4_000_000
    while gr.pid_alive(pid):
        pid += 1
    return pid


def test_stale_temporaries_of_killed_runs_are_removed(tmp_path, models_dir):
    src = write_geotiff(tmp_path / "in.tif", (smooth_image(20, 20, 1) * 100).astype(np.uint8))
    dead = _dead_pid()
    stale = [tmp_path / f".o.tif.arbsr-{dead}-0123abcd.tmp.tif",
             tmp_path / f".other.tif.arbsr-{dead}-89abcdef.tmp.tif"]
    (tmp_path / f".o.tif.arbsr-{dead}-feedbeef.parts").mkdir()
    for s in stale:
        s.write_bytes(b"half a file")
    live = tmp_path / f".x.tif.arbsr-{os.getpid()}-00000000.tmp.tif"  # a run still working
    live.write_bytes(b"in progress")
    p = run(["upscale", src, tmp_path / "o.tif", "--model", "toy-bicubic"], models_dir)
    assert p.returncode == 0, p.stderr
    assert names(tmp_path) == [live.name, "in.tif", "o.tif"]


def _limit_file_size() -> None:
    # The process may create files of at most 64 KiB, as on a full disk: writes fail with
    # EFBIG instead of killing the process.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, 64 * 1024))


def test_disk_full_while_writing_is_one_line_and_no_output(tmp_path, models_dir):
    rng = np.random.default_rng(0)
    src = write_geotiff(tmp_path / "in.tif", rng.integers(0, 60000, (200, 200), dtype=np.uint16))
    p = run(["upscale", src, tmp_path / "o.tif", "--model", "toy-bicubic", "--scale", "3",
             "--progress", "json"], models_dir, preexec_fn=_limit_file_size)
    assert p.returncode == 3, p.stderr
    err = p.stderr.strip().splitlines()
    assert len(err) == 1 and "free space" in err[0] and "Traceback" not in p.stderr
    assert names(tmp_path) == ["in.tif"]


def test_finishing_never_clobbers_an_output_another_run_created(tmp_path):
    tmp = tmp_path / ".o.tif.tmp"
    tmp.write_bytes(b"mine")
    out = tmp_path / "o.tif"
    out.write_bytes(b"theirs")
    with pytest.raises(OutputError, match="another run"):
        gr.finalize(tmp, out, overwrite=False)
    assert out.read_bytes() == b"theirs"
    gr.finalize(tmp, out, overwrite=True)
    assert out.read_bytes() == b"mine" and not tmp.exists()


def test_two_runs_on_one_output_leave_one_complete_file(tmp_path, models_dir):
    src = write_geotiff(tmp_path / "in.tif", (smooth_image(150, 150, 1) * 3000).astype(np.uint16))
    out = tmp_path / "o.tif"
    env = {**os.environ, "ARBSR_MODELS_DIR": str(models_dir), "OMP_NUM_THREADS": "1"}
    cmd = [PY, "-m", "engine", "upscale", str(src), str(out), "--model", "toy-bicubic",
           "--scale", "2", "--progress", "json"]
    procs = [subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [(p.wait(timeout=300), p.stderr.read()) for p in procs]
    codes = sorted(c for c, _ in results)
    assert codes[0] == 0, results
    if codes[1] != 0:  # the loser says why, in one line
        err = [e for c, e in results if c != 0][0].strip().splitlines()
        assert len(err) == 1 and ("already exists" in err[0] or "another run" in err[0])
    ds = gdal.Open(str(out))
    assert (ds.RasterXSize, ds.RasterYSize) == (300, 300)
    assert ds.GetRasterBand(1).Checksum() >= 0
    assert names(tmp_path) == ["in.tif", "o.tif"]
