"""``python -m engine evaluate``: protocol, table and JSON on a real WorldView-2 crop."""

from __future__ import annotations

import json
import signal

import numpy as np
import pytest
from osgeo import gdal

from rasters import smooth_image, write_geotiff
from engine import cli
from engine.commands.evaluate import evaluate, format_table
from engine.pipeline import Scale
from tests.engine.io.toys import GridBicubic, write_torchscript_model


@pytest.fixture
def restore_signals():
    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    yield
    for s, h in saved.items():
        signal.signal(s, h)


def test_evaluate_on_worldview2(wv2_pan_crop):
    res = evaluate(str(wv2_pan_crop), GridBicubic(), scale=Scale(3, 3), tile=32)
    assert res["lr_size"] == [85, 85] and res["shave"] == 3
    m = res["methods"]
    assert set(m) == {"toy-grid", "gdal-cubic", "gdal-lanczos"}
    for v in m.values():
        assert 20 < v["psnr"] < 50 and 0.5 < v["ssim"] <= 1
    # the toy model is bicubic interpolation: it sits close to GDAL's cubic
    assert abs(m["toy-grid"]["psnr"] - m["gdal-cubic"]["psnr"]) < 1.0
    table = format_table(res)
    assert "PSNR" in table and "gdal-lanczos" in table


def test_evaluate_ignores_nodata(tmp_path):
    img = (smooth_image(96, 96, 1) * 3000 + 100).astype(np.uint16)
    src = write_geotiff(tmp_path / "hr.tif", img, nodata=0)
    base = evaluate(str(src), GridBicubic(), scale=Scale(2, 2))
    img[0, 40:50, 40:50] = 0
    holed = write_geotiff(tmp_path / "hr2.tif", img, nodata=0)
    res = evaluate(str(holed), GridBicubic(), scale=Scale(2, 2))
    # the hole is excluded, so the scores stay in the same place (no collapse from 0 values)
    assert abs(res["methods"]["toy-grid"]["psnr"] - base["methods"]["toy-grid"]["psnr"]) < 1.5


def test_evaluate_cli_table_and_json(tmp_path, monkeypatch, capsys, restore_signals):
    write_torchscript_model(tmp_path / "models", "toy-bicubic")
    monkeypatch.setenv("ARBSR_MODELS_DIR", str(tmp_path / "models"))
    src = write_geotiff(tmp_path / "hr.tif", (smooth_image(64, 64, 2) * 200).astype(np.uint8))
    out = tmp_path / "m.json"
    rc = cli.main(["evaluate", str(src), "--scale", "2", "--model", "toy-bicubic",
                   "--json", str(out), "--progress", "none"])
    text = capsys.readouterr().out
    assert rc == 0
    assert "gdal-cubic" in text and "toy-bicubic" in text
    data = json.loads(out.read_text())
    assert data["degradation"] == "antialiased bicubic" and data["bands"] == [1, 2]
    rc = cli.main(["evaluate", str(tmp_path / "missing.tif"), "--scale", "2"])
    assert rc == 2
    rc = cli.main(["evaluate", str(src), "--scale", "abc"])
    assert rc == 2
    gdal.Unlink(str(out))


@pytest.mark.slow
@pytest.mark.parametrize("scale", [2.0, 3.0])
def test_default_model_beats_gdal_on_held_out_imagery(tmp_path, wv2_pan_crop, scale):
    """The shipped lmlte-default beats GDAL lanczos (and so cubic) on imagery it never saw.

    A regression guard for the bundled weights: a WorldView-2 crop (training used WorldView-3
    only) and a natural photo (scikit-image ``camera``), through the same ``evaluate`` protocol
    the model card uses.
    """
    import engine
    from skimage import data

    photo = write_geotiff(tmp_path / "camera.tif", data.camera()[128:384, 128:384])
    model = engine.load_model("lmlte-default", device="cpu")
    for path in (wv2_pan_crop, photo):
        m = evaluate(str(path), model, scale=Scale(scale, scale))["methods"]
        ours = m[next(k for k in m if not k.startswith("gdal-"))]["psnr"]
        assert ours > m["gdal-lanczos"]["psnr"] > m["gdal-cubic"]["psnr"], (path, m)


@pytest.mark.slow
@pytest.mark.parametrize("sx, sy", [(4.0, 1.5), (1.5, 4.0)])
def test_default_model_beats_gdal_cubic_at_per_axis_scales(wv2_pan_crop, sx, sy):
    """The shipped lmlte-default stays above GDAL cubic at per-axis scales on a held-out crop
    (before its per-axis training stage it fell about 6 dB below cubic at 4 x 1.5)."""
    import engine

    model = engine.load_model("lmlte-default", device="cpu")
    m = evaluate(str(wv2_pan_crop), model, scale=Scale(sx, sy))["methods"]
    ours = m[next(k for k in m if not k.startswith("gdal-"))]["psnr"]
    assert ours > m["gdal-cubic"]["psnr"] + 0.3, m


@pytest.mark.slow
def test_per_axis_routes_agree_with_the_shipped_weights(tmp_path, wv2_pan_crop):
    """At --scale-x != --scale-y the result does not depend on the axis order: upscaling the
    transposed crop at the swapped scales scores what the crop itself scores (within 0.2 dB;
    the network's direct route alone differed by 0.4 dB at 1 x 3 on WorldView-2), and both
    stay above GDAL cubic."""
    import engine

    arr = gdal.Open(str(wv2_pan_crop)).ReadAsArray()
    transposed = write_geotiff(tmp_path / "t.tif", np.ascontiguousarray(arr.T))
    model = engine.load_model("lmlte-default", device="cpu")
    scores = []
    for path, sx, sy in ((wv2_pan_crop, 1.0, 3.0), (transposed, 3.0, 1.0)):
        m = evaluate(str(path), model, scale=Scale(sx, sy))["methods"]
        ours = m[next(k for k in m if not k.startswith("gdal-"))]["psnr"]
        assert ours > m["gdal-cubic"]["psnr"], m
        scores.append(ours)
    assert abs(scores[0] - scores[1]) <= 0.2, scores


@pytest.mark.slow
@pytest.mark.parametrize("scale", [2.0, 4.0])
def test_large_model_beats_the_default_on_held_out_imagery(wv2_pan_crop, scale):
    """The shipped lmlte-large (card options: 4 geometric views) stays above lmlte-default on a
    WorldView-2 crop it never saw (measured: +0.4 dB at x2, +0.2 dB at x4 on the card's crop)."""
    import engine

    scores = {}
    for name in ("lmlte-default", "lmlte-large"):
        m = evaluate(str(wv2_pan_crop), engine.load_model(name, device="cpu"),
                     scale=Scale(scale, scale))["methods"]
        scores[name] = m[next(k for k in m if not k.startswith("gdal-"))]["psnr"]
    assert scores["lmlte-large"] > scores["lmlte-default"] + 0.1, scores
