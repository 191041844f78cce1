"""Large-raster execution as users run it, through the CLI with the real default model: local
worker processes, a private Ray cluster, killed workers and drivers, ``--resume``, VRT output.

Every run must give the pixels of a single-process run, keep the georeferencing, nodata and band
metadata through the per-block files, and leave nothing behind: no OUTPUT after a failure, no
parts folder after success, no process of a local Ray cluster after the job.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from osgeo import gdal

from rasters import ROOT, write_geotiff

gdal.UseExceptions()
PY = sys.executable
pytestmark = pytest.mark.slow


def cli(*args: object, check: bool = True, timeout: float = 300) -> tuple[int, list[dict], str]:
    """Run ``python -m engine`` to completion; (exit code, JSON events, stderr)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    p = subprocess.run([PY, "-m", "engine", *map(str, args), "--progress", "json"], cwd=ROOT,
                       env=env, capture_output=True, text=True, timeout=timeout)
    events = [json.loads(line) for line in p.stdout.splitlines() if line.startswith("{")]
    if check:
        assert p.returncode == 0, p.stderr[-2000:]
    return p.returncode, events, p.stderr


def start(*args: object) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([PY, "-m", "engine", *map(str, args), "--progress", "json"],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def read(path: Path) -> np.ndarray:
    ds = gdal.Open(str(path))
    return ds.ReadAsArray().reshape(ds.RasterCount, ds.RasterYSize, ds.RasterXSize)


def children(pid: int) -> list[int]:
    """All descendants of ``pid`` (from /proc)."""
    parents: dict[int, list[int]] = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                ppid = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            parents.setdefault(ppid, []).append(int(d.name))
    out, todo = [], [pid]
    while todo:
        for c in parents.get(todo.pop(), []):
            out.append(c)
            todo.append(c)
    return out


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def alive(pids: list[int]) -> list[int]:
    return [p for p in pids if Path(f"/proc/{p}").exists() and
            "Z" not in (Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()[:1])]


def kill_all(pids: list[int]) -> None:
    for p in pids:
        try:
            os.kill(p, signal.SIGKILL)
        except ProcessLookupError:
            pass


@pytest.fixture(scope="module")
def multiband(tmp_path_factory, wv2_mul_crop) -> Path:
    """4 WorldView-2 bands, 96x72, UInt16 with nodata 0, a hole, descriptions, metadata."""
    ds = gdal.Open(str(wv2_mul_crop))
    data = ds.ReadAsArray()[[1, 2, 4, 6], :72, :96].astype(np.uint16)
    data = np.maximum(data, 1)
    data[:, 10:20, 30:45] = 0
    out = tmp_path_factory.mktemp("mb") / "mb.tif"
    write_geotiff(out, data, geotransform=ds.GetGeoTransform(), nodata=0,
                  descriptions=["blue", "green", "red", "nir"],
                  metadata={"SENSOR": "WV02"})
    return out


@pytest.fixture(scope="module")
def reference(tmp_path_factory, multiband) -> Path:
    out = tmp_path_factory.mktemp("ref") / "ref.tif"
    cli("upscale", multiband, out, "--scale", "2", "--tile", "24", "--threads", "1")
    return out


def assert_same_raster(a: Path, b: Path) -> None:
    da, db = gdal.Open(str(a)), gdal.Open(str(b))
    assert np.array_equal(read(a), read(b))
    assert da.GetGeoTransform() == db.GetGeoTransform()
    assert da.GetProjection() == db.GetProjection()
    assert db.GetMetadataItem("SENSOR") == "WV02"
    for i in range(1, da.RasterCount + 1):
        ba, bb = da.GetRasterBand(i), db.GetRasterBand(i)
        assert ba.GetNoDataValue() == bb.GetNoDataValue() == 0
        assert ba.GetDescription() == bb.GetDescription()
        assert ba.DataType == bb.DataType == gdal.GDT_UInt16


def test_reference_keeps_nodata_and_grid(reference, multiband):
    src, out = gdal.Open(str(multiband)), gdal.Open(str(reference))
    assert (out.RasterXSize, out.RasterYSize, out.RasterCount) == (192, 144, 4)
    gt, gt0 = out.GetGeoTransform(), src.GetGeoTransform()
    assert gt[0] == gt0[0] and gt[3] == gt0[3] and gt[1] == gt0[1] / 2
    arr = read(reference)
    assert (arr[:, 20:40, 60:90] == 0).all()          # the hole stays nodata
    assert ((arr == 0).sum(0) % 4 == 0).all()          # no valid pixel became nodata


@pytest.mark.parametrize("workers", [2, 3])
def test_local_workers_give_identical_pixels(tmp_path, multiband, reference, workers):
    out = tmp_path / "o.tif"
    _, events, _ = cli("upscale", multiband, out, "--scale", "2", "--tile", "24",
                       "--workers", workers)
    done = events[-1]
    assert done["event"] == "done" and done["results"]["blocks"] == 12
    assert done["results"]["reused_blocks"] == 0
    assert len([e for e in events if e.get("message", "").startswith("block ")]) == 12
    assert_same_raster(reference, out)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o.tif"]


def test_ray_local_cluster_gives_identical_pixels_and_stops(tmp_path, multiband, reference):
    out = tmp_path / "o.tif"
    p = start("upscale", multiband, out, "--scale", "2", "--tile", "24", "--workers", "2",
              "--ray", "local")
    seen: set[int] = set()
    while p.poll() is None:
        seen.update(children(p.pid))
        time.sleep(0.2)
    rest, err = p.communicate()
    try:
        assert p.returncode == 0, err[-2000:]
        assert any("raylet" in cmdline(c) or "ray::" in cmdline(c) for c in seen) or seen
        done = json.loads(rest.strip().splitlines()[-1])
        assert done["event"] == "done" and done["results"]["blocks"] == 12
        assert_same_raster(reference, out)
        assert sorted(q.name for q in tmp_path.iterdir()) == ["o.tif"]
        time.sleep(1.0)
        assert alive(sorted(seen)) == [], "the local Ray cluster left processes"
    finally:
        kill_all(alive(sorted(seen)))


@pytest.fixture(scope="module")
def pan(tmp_path_factory, wv2_pan_crop) -> tuple[Path, Path]:
    """A 256x256 WorldView-2 PAN crop and its single-process x4 result in 256 blocks."""
    out = tmp_path_factory.mktemp("pan") / "ref.tif"
    cli("upscale", wv2_pan_crop, out, "--scale", "4", "--tile", "16", "--threads", "1")
    return wv2_pan_crop, out


def test_killed_ray_worker_is_retried(tmp_path, pan):
    src, ref = pan
    out = tmp_path / "o.tif"
    p = start("upscale", src, out, "--scale", "4", "--tile", "16", "--workers", "2",
              "--ray", "local")
    seen: set[int] = set()
    killed = None
    assert p.stdout is not None
    try:
        for line in p.stdout:
            seen.update(children(p.pid))
            if killed is None and '"block ' in line:
                actors = [c for c in children(p.pid) if cmdline(c).startswith("ray::BlockActor")]
                assert actors, [cmdline(c) for c in children(p.pid)]
                killed = actors[0]
                os.kill(killed, signal.SIGKILL)
            if '"event": "done"' in line or '"event": "error"' in line:
                last = line
        p.wait(timeout=120)
        err = p.stderr.read() if p.stderr else ""
        assert killed is not None
        assert p.returncode == 0, err[-2000:]
        done = json.loads(last)
        assert done["results"]["blocks"] == 256
        assert np.array_equal(read(ref), read(out))
        time.sleep(1.0)
        assert alive(sorted(seen)) == []
    finally:
        p.kill()
        kill_all(alive(sorted(seen)))


def test_killed_driver_then_resume_reuses_blocks(tmp_path, pan):
    src, ref = pan
    out = tmp_path / "o.tif"
    args = ["upscale", src, out, "--scale", "4", "--tile", "16", "--workers", "2"]
    p = start(*args)
    seen: set[int] = set()
    assert p.stdout is not None
    for line in p.stdout:
        seen.update(children(p.pid))
        if '"block 20/' in line:
            p.kill()  # SIGKILL: no clean-up code runs in the driver
            break
    p.wait(timeout=30)
    time.sleep(1.0)
    try:
        assert alive(sorted(seen)) == [], "workers outlived their driver"
        assert not out.exists()
        parts = out.with_name("o.tif.parts")
        assert parts.is_dir() and len(list(parts.glob("r*_c*.tif"))) >= 20

        # A different command refuses the parts instead of mixing them.
        code, _, err = cli(*args, "--seed", "3", "--resume", check=False)
        assert code == 2 and "were made with another seed" in err and len(err.splitlines()) == 1

        _, events, _ = cli(*args, "--resume")
        done = events[-1]["results"]
        assert done["blocks"] == 256 and done["reused_blocks"] >= 20
        assert np.array_equal(read(ref), read(out))
        assert sorted(q.name for q in tmp_path.iterdir()) == ["o.tif"]
    finally:
        kill_all(alive(sorted(seen)))


def test_vrt_output_keeps_the_parts(tmp_path, multiband, reference):
    out = tmp_path / "mosaic.vrt"
    cli("upscale", multiband, out, "--scale", "2", "--tile", "24", "--workers", "2")
    assert (tmp_path / "mosaic.vrt.parts").is_dir()
    assert_same_raster(reference, out)
    # The VRT refers to its parts relatively: the folder can be moved as a whole.
    moved = tmp_path / "moved"
    moved.mkdir()
    for q in (out, tmp_path / "mosaic.vrt.parts"):
        q.rename(moved / q.name)
    assert np.array_equal(read(reference), read(moved / "mosaic.vrt"))


def test_diffusion_model_blocks_are_identical_across_workers(tmp_path, wv2_pan_crop):
    src = tmp_path / "small.tif"
    gdal.Translate(str(src), str(wv2_pan_crop), srcWin=[0, 0, 40, 36])
    outs = []
    for workers in (1, 2):
        out = tmp_path / f"moe{workers}.tif"
        cli("upscale", src, out, "--model", "moe", "--steps", "2", "--scale", "2", "--tile",
            "16", "--workers", workers, "--threads", "1")
        outs.append(read(out))
    assert outs[0].shape == (1, 72, 80)
    assert np.array_equal(outs[0], outs[1])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["moe1.tif", "moe2.tif", "small.tif"]


def test_sigterm_with_workers_stops_them_and_leaves_no_output(tmp_path, pan):
    src, _ = pan
    out = tmp_path / "o.tif"
    p = start("upscale", src, out, "--scale", "4", "--tile", "16", "--workers", "2")
    seen: set[int] = set()
    assert p.stdout is not None
    try:
        for line in p.stdout:
            seen.update(children(p.pid))
            if '"block 2/' in line:
                break
        t0 = time.monotonic()
        p.send_signal(signal.SIGTERM)
        _, err = p.communicate(timeout=30)
        assert p.returncode == 143, err[-1000:]
        assert time.monotonic() - t0 < 5.0  # about a second; slack for a loaded machine
        assert "interrupted" in err and not out.exists()
        time.sleep(0.5)
        assert alive(sorted(seen)) == []
    finally:
        p.kill()
        kill_all(alive(sorted(seen)))
