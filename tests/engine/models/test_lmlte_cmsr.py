"""CMSR (controllable multi-scale rendering) against the official fixtures, and table building."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import engine
from engine.errors import ModelError
from engine.models.lmlte import cmsr
from engine.models.lmlte.coords import cell_size
from lmlte_helpers import DATA, TOL, load_case, max_err, write_reference_checkpoint


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory):
    path = write_reference_checkpoint(tmp_path_factory.mktemp("cmsr") / "ref.pth")
    return engine.load_model(path, cmsr=str(DATA / "cmsr_table_fixture.json"))


@pytest.mark.parametrize("name", ["x6", "x12"])
def test_cmsr_reference(model, name: str) -> None:
    d = load_case(name)
    lr = torch.from_numpy(d["inp"])[None]
    hh, ww = (int(v) for v in d["out_size"])
    raw = model.upscale(lr, (hh, ww), clamp=False)[0].numpy()
    assert max_err(raw, d["expected_unclamped"], d["ulp_sensitive"]) <= TOL
    out = model.upscale(lr, (hh, ww))[0].numpy()
    assert max_err(out, d["expected"], d["ulp_sensitive"]) <= TOL
    # The plan and the work: levels, thresholds, rendered queries.
    net = model.module
    factor = float(d["cell_factor"])
    lut, mod = model._prepare(lr, (cell_size(hh, factor), cell_size(ww, factor)))
    assert np.abs(cmsr.mod_mean(net, mod)[0, 0].numpy() - d["mod_mean"]).max() < 1e-6
    stats: dict = {}
    cmsr.render_cmsr(net, lut, mod, torch.zeros(hh), torch.zeros(ww), model.cmsr_tables, stats=stats)
    assert stats["table_target"] == float(d["table_target"])
    assert stats["decode_scales"] == d["decode_scales"].tolist()
    assert stats["thresholds"] == pytest.approx(d["thresholds"].tolist())
    assert [list(s) for s in stats["level_grid_size"]] == d["level_grid_size"].tolist()
    assert stats["rendered_queries"] == int(d["rendered_queries"]) < hh * ww


def test_cmsr_only_above_x4(model) -> None:
    lr = torch.from_numpy(load_case("x4")["inp"])[None]
    with_table = model.upscale(lr, (96, 128))
    without = model.upscale(lr, (96, 128), cmsr=False)
    assert torch.equal(with_table, without)


def test_official_table_formats(tmp_path: Path) -> None:
    js = cmsr.load_table(DATA / "cmsr_table_edsr-b_lm-lte_mse2e-5.json")
    assert list(js) == [6.0, 8.0, 12.0, 18.0]
    assert js[6.0] == {1.0: 0.12, 2.0: 0.15, 4.0: 0.215, 6.0: 1.0}
    yml = tmp_path / "table.yaml"
    yml.write_text("6:\n  1: 0.12\n  2: 0.15\n  4: 0.215\n  6: 1\n12:\n  1: 0.12\n  2: 0.155\n"
                   "  4: 0.215\n  6: 1\n  12: 1\n")
    tables = cmsr.load_table(yml)
    assert tables[12.0][2.0] == 0.155
    assert cmsr.plan(tables, 6.0) == (6.0, [1.0, 2.0, 4.0, 6.0], [0, 0.12, 0.15, 0.215, 1.0])
    assert cmsr.plan(tables, 12.0) == (12.0, [1.0, 2.0, 4.0, 6.0], [0, 0.12, 0.155, 0.215, 1.0])
    saved = cmsr.save_table(tmp_path / "again.yaml", tables)
    assert cmsr.load_table(saved) == tables
    assert "6:\n  1: 0.12" in saved.read_text()
    bad = tmp_path / "bad.yaml"
    bad.write_text("- 1\n- 2\n")
    with pytest.raises(ModelError, match="official layout"):
        cmsr.load_table(bad)
    with pytest.raises(ModelError, match="cannot read"):
        cmsr.load_table(tmp_path / "missing.yaml")


def test_update_table_is_monotone_and_bounded(model) -> None:
    torch.manual_seed(0)
    lr = torch.from_numpy(load_case("x2")["inp"])[None, :, :16, :16]
    inp = (lr - 0.5) / 0.5
    table = cmsr.initial_table(6)
    assert list(table) == [1.0, 1.5, 2.0, 3.0, 4.0, 6.0]
    with torch.no_grad():
        cmsr.update_table(model.module, inp, 6, table, mse_threshold=1e-3)
    values = list(table.values())
    assert all(0 <= v <= 1 for v in values)
    assert values == sorted(values)  # coarser scales never allow more than finer ones
    loose = cmsr.initial_table(6)
    cmsr.update_table(model.module, inp, 6, loose, mse_threshold=10.0)
    strict = cmsr.initial_table(6)
    cmsr.update_table(model.module, inp, 6, strict, mse_threshold=0.0)
    assert loose[1.0] >= strict[1.0]
    assert strict[1.0] == 0.0  # nothing passes: nothing is rendered coarse


def test_cmsr_command_builds_a_usable_table(geotiff, tmp_path: Path) -> None:
    import yaml

    from rasters import smooth_image
    from engine.cli import main

    raster = geotiff((smooth_image(40, 44, bands=2) * 1000).astype("uint16"), name="scene.tif")
    out = tmp_path / "table.yaml"
    code = main(["cmsr", "--model", "lmlte-default", "--data", str(raster), "--out", str(out),
                 "--scales", "6", "--patch", "12", "--crops", "1", "--mse", "1e-4",
                 "--progress", "none", "--device", "cpu"])
    assert code == 0
    data = yaml.safe_load(out.read_text())
    assert list(data) == [6] and set(data[6]) == {1, 1.5, 2, 3, 4, 6}
    assert all(0 <= v <= 1 for v in data[6].values())
    m = engine.load_model("lmlte-default", cmsr=str(out))
    assert m.upscale(torch.rand(1, 1, 8, 9), (48, 54)).shape == (1, 1, 48, 54)
    # Bad parameters fail with exit code 2 and leave nothing behind.
    bad = tmp_path / "bad.yaml"
    assert main(["cmsr", "--data", str(raster), "--out", str(bad), "--scales", "3",
                 "--progress", "none"]) == 2
    assert not bad.exists()
