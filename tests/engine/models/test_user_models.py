"""``python -m engine models add | remove`` with official-layout checkpoints, as users run it.

The checkpoints are the official LMF and LDCSR layouts with the random reference weights of
tests/data (rebuilt by the parity helpers); the cards go to a throw-away user models folder.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from osgeo import gdal

from engine.models import registry
from rasters import ROOT, smooth_image, write_geotiff
from tests.engine.models.ldcsr.ldcsr_helpers import DATA as LDCSR_DATA
from tests.engine.models.ldcsr.ldcsr_helpers import official_checkpoint
from tests.engine.models.lmlte_helpers import write_reference_checkpoint

LDCSR_YAML = LDCSR_DATA / "reduced_second_stage.yaml"


@pytest.fixture
def user_dir(tmp_path, monkeypatch) -> Path:
    """The user models folder of this test: ``$XDG_DATA_HOME/arbsr/models`` (not created)."""
    monkeypatch.delenv("ARBSR_MODELS_DIR", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    return tmp_path / "data" / "arbsr" / "models"


@pytest.fixture(scope="module")
def lmf_file(tmp_path_factory) -> Path:
    """An official LMF .pth (EDSR-baseline LMLTE, RGB, random reference weights)."""
    return write_reference_checkpoint(tmp_path_factory.mktemp("lmf") / "edsr-b_lmlte (x4).pth")


@pytest.fixture(scope="module")
def ldcsr_file(tmp_path_factory) -> Path:
    """An official LDCSR Lightning .ckpt of the reduced model (needs its YAML)."""
    path = tmp_path_factory.mktemp("ldcsr") / "last.ckpt"
    torch.save(official_checkpoint(), path)
    return path


def digest(path: Path) -> tuple[str, int]:
    return hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns


def listed(run_cli) -> dict[str, dict]:
    code, out, err = run_cli("models")
    assert code == 0, err
    return {m["name"]: m for m in json.loads(out)}


def test_add_an_official_lmf_checkpoint_then_upscale_with_its_name(run_cli, user_dir, lmf_file,
                                                                    tmp_path):
    before = digest(lmf_file)
    code, out, err = run_cli("models", "add", lmf_file)
    assert code == 0, err
    card = json.loads(out)  # one JSON line: the card
    assert out.count("\n") == 1
    assert card["name"] == "edsr-b_lmlte-x4"  # from the file name, sanitised
    assert card["family"] == "lmlte" and card["bands"] == 3
    assert card["scales"] == [1.0, 8.0]
    assert card["file"] == str(lmf_file.resolve())
    assert card["sha256"] == before[0] and card["added"]
    assert "config" not in card
    assert json.loads((user_dir / "edsr-b_lmlte-x4.json").read_text()) == card
    assert digest(lmf_file) == before  # referred to, never copied or modified
    assert sorted(p.name for p in lmf_file.parent.iterdir()) == [lmf_file.name]

    entry = listed(run_cli)["edsr-b_lmlte-x4"]
    assert entry["scales"] == [1.0, 8.0] and entry["demonstration"] is False
    assert entry["file"] == str(lmf_file.resolve())

    # --model NAME through the CLI, in a child process as the plugin runs it
    src = write_geotiff(tmp_path / "rgb.tif",
                        (smooth_image(20, 24, bands=3, seed=2) * 255).round().astype(np.uint8))
    out_tif = tmp_path / "rgb_x2.tif"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    run = subprocess.run([sys.executable, "-m", "engine", "upscale", str(src), str(out_tif),
                          "--scale", "2", "--model", "edsr-b_lmlte-x4", "--device", "cpu",
                          "--progress", "json"], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    done = json.loads(run.stdout.splitlines()[-1])
    assert done["event"] == "done" and done["results"]["model"] == "edsr-b_lmlte-x4"
    ds = gdal.Open(str(out_tif))
    assert (ds.RasterXSize, ds.RasterYSize, ds.RasterCount) == (48, 40, 3)
    # the registered name runs the very file it refers to
    direct = registry.load_model(lmf_file)
    named = registry.load_model("edsr-b_lmlte-x4")
    lr = torch.rand(1, 3, 6, 5)
    assert torch.equal(direct.upscale(lr, (12, 10)), named.upscale(lr, (12, 10)))


def test_add_an_official_ldcsr_checkpoint_with_its_config(run_cli, user_dir, ldcsr_file):
    code, _out, err = run_cli("models", "add", ldcsr_file, "--name", "ldcsr-official")
    assert code == 4 and err.count("\n") == 1 and "--config" in err
    assert not user_dir.exists()  # refused: nothing written

    code, out, err = run_cli("models", "add", ldcsr_file, "--name", "ldcsr-official",
                             "--config", LDCSR_YAML, "--progress", "json")
    assert code == 0, err
    done = json.loads(out.splitlines()[-1])
    assert done["event"] == "done" and done["output"] == str(user_dir / "ldcsr-official.json")
    card = done["results"]["card"]
    assert (card["family"], card["bands"], card["scales"]) == ("ldcsr", 3, [1.0, 4.0])
    assert card["config"] == str(LDCSR_YAML.resolve())
    entry = listed(run_cli)["ldcsr-official"]
    assert entry["family"] == "ldcsr" and entry["demonstration"] is False
    model = registry.load_model("ldcsr-official")  # the card's config is used
    assert model.family == "ldcsr" and model.in_channels == 3


@pytest.mark.parametrize("content", [b"", b"not a checkpoint at all", b"PK\x03\x04broken zip"])
def test_a_corrupt_file_is_refused_and_nothing_is_written(run_cli, user_dir, tmp_path, content):
    bad = tmp_path / "downloaded.ckpt"
    bad.write_bytes(content)
    code, out, err = run_cli("models", "add", bad)
    assert code == 4 and out == ""
    assert err.startswith("error: not registered: ") and err.count("\n") == 1
    assert "corrupt" in err and "re-download" in err
    assert not user_dir.exists() and bad.read_bytes() == content


def test_an_unknown_layout_and_a_missing_file_are_refused(run_cli, user_dir, tmp_path):
    other = tmp_path / "classifier.pth"
    torch.save({"fc.weight": torch.zeros(2, 2)}, other)
    code, _out, err = run_cli("models", "add", other)
    assert code == 4 and "not a checkpoint ArbSR can read" in err and err.count("\n") == 1
    code, _out, err = run_cli("models", "add", tmp_path / "missing.pth")
    assert code == 2 and "not found" in err
    assert not user_dir.exists()


def test_names_already_taken_or_invalid_are_refused(run_cli, user_dir, lmf_file):
    assert run_cli("models", "add", lmf_file, "--name", "mine")[0] == 0
    card = (user_dir / "mine.json").read_text()
    code, _out, err = run_cli("models", "add", lmf_file, "--name", "mine")
    assert code == 2 and "already registered" in err and "models remove mine" in err
    code, _out, err = run_cli("models", "add", lmf_file, "--name", "lmlte-default")
    assert code == 2 and "bundled" in err
    for bad in ("default", "a b", "../x", "-x"):
        code, _out, err = run_cli("models", "add", lmf_file, f"--name={bad}")
        assert code == 2 and "cannot be a model name" in err, bad
    assert sorted(p.name for p in user_dir.iterdir()) == ["mine.json"]
    assert (user_dir / "mine.json").read_text() == card


def test_remove_deletes_the_card_only(run_cli, user_dir, lmf_file):
    before = digest(lmf_file)
    assert run_cli("models", "add", lmf_file, "--name", "mine")[0] == 0
    code, out, err = run_cli("models", "remove", "mine", "--progress", "json")
    assert code == 0, err
    assert json.loads(out.splitlines()[-1])["results"]["removed"] == "mine"
    assert not (user_dir / "mine.json").exists() and digest(lmf_file) == before
    assert "mine" not in listed(run_cli)


def test_remove_refuses_bundled_and_unknown_names(run_cli, user_dir):
    bundled = sorted(p.name for p in registry.RESOURCES.iterdir())
    code, _out, err = run_cli("models", "remove", "ldcsr")
    assert code == 2 and "bundled" in err and err.count("\n") == 1
    code, _out, err = run_cli("models", "remove", "no-such-model")
    assert code == 4 and "no model named 'no-such-model'" in err
    assert sorted(p.name for p in registry.RESOURCES.iterdir()) == bundled


def test_demonstration_flag_on_every_model(run_cli, user_dir):
    models = listed(run_cli)
    assert all(isinstance(m["demonstration"], bool) for m in models.values())
    assert models["ldcsr"]["demonstration"] is True
    assert models["ldcsr-fast"]["demonstration"] is True
    assert models["lmlte-default"]["demonstration"] is False


def test_user_folder_and_search_order(tmp_path, monkeypatch):
    monkeypatch.delenv("ARBSR_MODELS_DIR", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    default = tmp_path / "xdg" / "arbsr" / "models"
    assert registry.user_models_dir() == default
    assert registry.model_dirs() == [registry.RESOURCES, default]
    monkeypatch.delenv("XDG_DATA_HOME")
    assert registry.user_models_dir() == Path.home() / ".local" / "share" / "arbsr" / "models"
    extra = os.pathsep.join([str(tmp_path / "a"), str(tmp_path / "b")])
    monkeypatch.setenv("ARBSR_MODELS_DIR", extra)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert registry.user_models_dir() == tmp_path / "a"
    assert registry.model_dirs() == [registry.RESOURCES, tmp_path / "a", tmp_path / "b", default]


def test_cards_with_a_scales_key_are_read(tmp_path, monkeypatch):
    monkeypatch.setenv("ARBSR_MODELS_DIR", str(tmp_path))
    (tmp_path / "s.json").write_text(json.dumps(
        {"name": "s", "family": "lmlte", "file": "/abs/s.pth", "scales": [1, 6]}))
    card = registry.find_card("s")
    assert card is not None and card.scale_range == (1, 6)
    assert card.to_json()["scales"] == [1, 6] and "scale_range" not in card.to_json()
