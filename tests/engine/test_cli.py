"""``python -m engine upscale | models`` as users run it: bad inputs, progress JSON, signals.

Error cases run the real CLI entry point in-process (fast); progress, signals and the default
model run as child processes, the way the QGIS plugin drives the engine.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from osgeo import gdal

from rasters import ROOT, smooth_image, write_geotiff
from engine import cli
from engine.io import gdal_raster as gr
from tests.engine.io.toys import write_torchscript_model

gdal.UseExceptions()
PY = sys.executable


@pytest.fixture
def models_dir(tmp_path_factory, monkeypatch) -> Path:
    folder = tmp_path_factory.mktemp("models")
    write_torchscript_model(folder, "toy-bicubic")
    monkeypatch.setenv("ARBSR_MODELS_DIR", str(folder))
    return folder


@pytest.fixture
def raster(tmp_path) -> Path:
    data = (smooth_image(48, 40, 2) * 3000 + 10).astype(np.uint16)
    return write_geotiff(tmp_path / "in.tif", data, nodata=0)


def sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def only(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_upscale_in_process_json(run_cli, raster, models_dir, tmp_path):
    code, out, err = run_cli("upscale", raster, tmp_path / "o.tif", "--scale", "2.5",
                             "--model", "toy-bicubic", "--progress", "json", "--tile", "16")
    assert code == 0, err
    events = [json.loads(line) for line in out.splitlines()]
    assert events[-1]["event"] == "done"
    res = events[-1]["results"]
    assert res["size"] == [100, 120] and res["model"] == "toy-bicubic"
    assert res["scale"] == [2.5, 2.5] and res["pixel_size"] == [0.8, 0.8]
    blocks = [e for e in events if e["event"] == "progress" and e["message"].startswith("block")]
    assert len(blocks) == 9 and blocks[-1]["fraction"] > blocks[0]["fraction"]


def test_scale_x_y_and_bands(run_cli, raster, models_dir, tmp_path):
    code, _, err = run_cli("upscale", raster, tmp_path / "o.tif", "--scale-x", "2",
                           "--scale-y", "1.5", "--bands", "2", "--model", "toy-bicubic")
    assert code == 0, err
    ds = gdal.Open(str(tmp_path / "o.tif"))
    assert (ds.RasterXSize, ds.RasterYSize, ds.RasterCount) == (80, 72, 1)


BAD_ARGS = [
    (["--scale", "0"], 2, "below 1"),
    (["--scale", "-2"], 2, "below 1"),
    (["--scale", "nan"], 2, "finite"),
    (["--scale", "abc"], 2, "not a number"),
    (["--scale", "0.5"], 2, "below 1"),
    (["--scale-x", "2"], 2, "--scale-y"),
    (["--resolution", "-1"], 2, "positive"),
    (["--resolution", "9"], 2, "coarser"),
    (["--bands", "3"], 2, "bands 1..2"),
    (["--tile", "x"], 2, "whole number"),
    (["--model", "no-such-model"], 4, "unknown model"),
]


@pytest.mark.parametrize("extra,code,words", BAD_ARGS)
def test_bad_parameters(run_cli, raster, models_dir, tmp_path, extra, code, words):
    before = sha(raster)
    rc, out, err = run_cli("upscale", raster, tmp_path / "o.tif", *extra)
    assert rc == code
    assert err.count("\n") == 1 and words in err
    assert sha(raster) == before and only(tmp_path) == ["in.tif"]


def test_bad_inputs(run_cli, tmp_path, models_dir):
    cases = []
    text = tmp_path / "notes.tif"
    text.write_text("this is not a raster\n")
    empty = tmp_path / "empty.tif"
    empty.write_bytes(b"")
    cases = [(tmp_path / "missing.tif", "does not exist"), (text, "cannot read"),
             (empty, "empty")]
    for src, words in cases:
        before = sha(src) if src.exists() else None
        rc, _, err = run_cli("upscale", src, tmp_path / "o.tif", "--model", "toy-bicubic")
        assert rc == 2 and words in err and err.count("\n") == 1, err
        assert (sha(src) if src.exists() else None) == before
        assert not (tmp_path / "o.tif").exists()


def test_bad_outputs(run_cli, raster, models_dir, tmp_path, monkeypatch):
    before = sha(raster)
    rc, _, err = run_cli("upscale", raster, tmp_path / "nope" / "o.tif")
    assert rc == 3 and "does not exist" in err
    existing = tmp_path / "exists.tif"
    existing.write_bytes(b"old")
    rc, _, err = run_cli("upscale", raster, existing, "--model", "toy-bicubic")
    assert rc == 3 and "--overwrite" in err and existing.read_bytes() == b"old"
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    if os.geteuid() == 0:  # root writes anywhere: simulate the read-only folder
        monkeypatch.setattr(gr, "_writable", lambda _f: False)
    rc, _, err = run_cli("upscale", raster, ro / "o.tif", "--model", "toy-bicubic")
    assert rc == 3 and "not writable" in err and only(ro) == []
    ro.chmod(0o755)
    monkeypatch.undo()
    monkeypatch.setenv("ARBSR_MODELS_DIR", str(models_dir))

    class Usage:
        free = 10_000

    monkeypatch.setattr(gr.shutil, "disk_usage", lambda _p: Usage())
    rc, _, err = run_cli("upscale", raster, tmp_path / "big.tif", "--scale", "8",
                         "--model", "toy-bicubic")
    assert rc == 3 and "GiB" in err and "free" in err
    assert sha(raster) == before
    assert only(tmp_path) == ["exists.tif", "in.tif", "ro"]


def test_corrupt_checkpoint_and_missing_cuda(run_cli, raster, tmp_path):
    bad = tmp_path / "broken.pth"
    bad.write_bytes(b"PK\x03\x04 definitely not a checkpoint" * 10)
    rc, _, err = run_cli("upscale", raster, tmp_path / "o.tif", "--model", bad)
    assert rc == 4 and err.count("\n") == 1
    if not torch.cuda.is_available():
        rc, _, err = run_cli("upscale", raster, tmp_path / "o.tif", "--device", "cuda")
        assert rc == 5 and "--device cpu" in err
    assert only(tmp_path) == ["broken.pth", "in.tif"]


def test_scale_above_model_range_warns(run_cli, raster, models_dir, tmp_path):
    rc, out, _ = run_cli("upscale", raster, tmp_path / "o.tif", "--scale", "5",
                         "--model", "toy-bicubic", "--progress", "json")
    assert rc == 0
    logs = [json.loads(x) for x in out.splitlines() if '"log"' in x]
    assert logs and logs[0]["level"] == "warning" and "above" in logs[0]["message"]


def test_models_lists_cards(run_cli, models_dir):
    (models_dir / "not-a-card.json").write_text("[1, 2, 3]")  # JSON, but not an object
    rc, out, _ = run_cli("models")
    assert rc == 0
    items = json.loads(out)
    names = {m["name"]: m for m in items}
    assert {"name", "family", "bands", "scales", "file"} <= set(names["toy-bicubic"])
    assert "lmlte-default" in names


def test_help_documents_the_band_rule():
    text = cli.build_parser()._subparsers._group_actions[0].choices["upscale"].format_help()
    assert "3-channel" in text and "replicated" in text and "separately" in text


def _child(args: list[str], env_models: Path | None) -> subprocess.Popen:
    env = dict(os.environ)
    if env_models is not None:
        env["ARBSR_MODELS_DIR"] = str(env_models)
    env["OMP_NUM_THREADS"] = "1"
    return subprocess.Popen([PY, "-m", "engine", *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.parametrize("sig,code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_stops_quickly_and_leaves_no_file(tmp_path, models_dir, sig, code):
    data = (smooth_image(1200, 1200, 1) * 3000).astype(np.uint16)  # far more work than the test waits for
    src = write_geotiff(tmp_path / "in.tif", data)
    before = sha(src)
    out = tmp_path / "o.tif"
    p = _child(["upscale", str(src), str(out), "--model", "toy-bicubic", "--tile", "24",
                "--scale", "3", "--progress", "json"], models_dir)
    assert p.stdout is not None
    for line in p.stdout:  # wait until blocks are being processed
        if '"block ' in line:
            break
    t0 = time.monotonic()
    p.send_signal(sig)
    rest, err = p.communicate(timeout=30)
    elapsed = time.monotonic() - t0
    assert p.returncode == code, (p.returncode, err[-500:])
    assert elapsed < 5.0  # about a second; slack for a loaded 2-core test machine
    assert '"event": "error"' in rest and "interrupted" in err
    assert only(tmp_path) == ["in.tif"] and sha(src) == before


def test_default_model_on_16bit_8band_with_nodata(tmp_path, wv2_mul_crop):
    """The bundled LMLTE end to end: same grid and georeferencing as GDAL cubic, nodata kept."""
    src = tmp_path / "mul.tif"
    gdal.Translate(str(src), str(wv2_mul_crop), noData=0, srcWin=[0, 0, 32, 24])
    ds = gdal.Open(str(src), gdal.GA_Update)
    for b in range(1, 9):
        a = ds.GetRasterBand(b).ReadAsArray()
        a[5:9, 10:14] = 0
        ds.GetRasterBand(b).WriteArray(a)
    ds = None
    out = tmp_path / "sr.tif"
    p = _child(["upscale", str(src), str(out), "--scale", "2", "--device", "cpu",
                "--progress", "json"], None)
    stdout, err = p.communicate(timeout=600)
    assert p.returncode == 0, err
    done = json.loads(stdout.splitlines()[-1])
    assert done["event"] == "done" and done["results"]["model"] == "lmlte-default"
    ref = tmp_path / "cubic.tif"
    gdal.Warp(str(ref), str(src), width=64, height=48, resampleAlg="cubic")
    o, g = gdal.Open(str(out)), gdal.Open(str(ref))
    assert (o.RasterXSize, o.RasterYSize, o.RasterCount) == (64, 48, 8)
    assert np.allclose(o.GetGeoTransform(), g.GetGeoTransform(), rtol=0, atol=1e-9)
    assert o.GetProjection() == g.GetProjection()
    assert o.GetRasterBand(1).DataType == gdal.GDT_UInt16
    assert o.GetRasterBand(3).GetNoDataValue() == 0
    sr = o.ReadAsArray().astype(float)
    cu = g.ReadAsArray().astype(float)
    assert (sr[:, 10:18, 20:28] == 0).all()
    valid = (cu > 0).all(0)
    valid[8:20, 18:30] = False
    assert (sr[:, valid] > 0).all()
    assert np.abs(sr[:, valid] - cu[:, valid]).mean() < 0.1 * cu[:, valid].mean()
