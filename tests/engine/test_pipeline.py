"""The raster pipeline on real GeoTIFFs: seamless tiling, data types, nodata, georeferencing,
band rule, out-of-memory back-off, seeds and clean failure."""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

import numpy as np
import pytest
from osgeo import gdal, osr

from rasters import smooth_image, write_geotiff
from engine.errors import Cancelled, OutputError
from engine.io import gdal_raster as gr
from engine.pipeline import Scale, resolve_scale, upscale_raster
from tests.engine.io.toys import CropBicubic, GridBicubic, OomOnce

gdal.UseExceptions()


def read(path: Path) -> np.ndarray:
    ds = gdal.Open(str(path))
    return ds.ReadAsArray().reshape(ds.RasterCount, ds.RasterYSize, ds.RasterXSize)


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("model_cls", [GridBicubic, CropBicubic])
@pytest.mark.parametrize("scale", [(2.0, 2.0), (2.5, 3.0), (1.7, 1.3)])
def test_tiled_equals_single_tile(tmp_path, model_cls, scale):
    img = (smooth_image(70, 84, 2, seed=3) * 900 - 100).astype(np.float32)
    src = write_geotiff(tmp_path / "in.tif", img)
    outs = []
    for tile in (9, 23, 1000):
        out = tmp_path / f"out_{tile}.tif"
        r = upscale_raster(src, out, model_cls(), scale=Scale(*scale), tile=tile)
        outs.append(read(out))
        assert r["tiles"] >= 1
    assert outs[0].shape == (2, round(70 * scale[1]), round(84 * scale[0]))
    # 1.3 / 1.7 have long grid periods: the crop path resamples there (small, bounded error)
    # float32 rendering: 1e-5 of the 1000-unit value range
    tol = 1e-2 if (model_cls is GridBicubic or scale != (1.7, 1.3)) else 5.0
    for o in outs[:2]:
        assert np.abs(o - outs[2]).max() <= tol


def test_grid_model_matches_untiled_rendering(tmp_path):
    img = (smooth_image(40, 50, 1) * 1000).astype(np.float32)
    src = write_geotiff(tmp_path / "in.tif", img)
    upscale_raster(src, tmp_path / "o.tif", GridBicubic(), scale=Scale(3, 3), tile=7)
    model = GridBicubic()
    import torch
    lo, hi = np.percentile(img, (0.1, 99.9))
    ref = model.upscale(torch.from_numpy((img - lo) / (hi - lo))[None].float(), (120, 150),
                        clamp=False)[0].numpy() * (hi - lo) + lo
    assert np.abs(read(tmp_path / "o.tif") - ref).max() < 1e-2


@pytest.mark.parametrize("dtype", ["uint8", "uint16", "int16", "uint32", "int32", "float32",
                                   "float64"])
def test_data_types_round_trip(tmp_path, dtype):
    info = np.iinfo(dtype) if np.dtype(dtype).kind in "iu" else None
    base = smooth_image(24, 20, 1)
    if info is not None:
        lo, hi = max(info.min, -30000), min(info.max, 60000)
        img = (lo + base * (hi - lo)).astype(dtype)
    else:
        img = (base * 1e5 - 3e4).astype(dtype)
    src = write_geotiff(tmp_path / "in.tif", img)
    out = tmp_path / "o.tif"
    upscale_raster(src, out, GridBicubic(), scale=Scale(2, 2))
    ds = gdal.Open(str(out))
    ids = gdal.Open(str(src))
    assert ds.GetRasterBand(1).DataType == ids.GetRasterBand(1).DataType
    res = read(out)
    assert res.dtype == np.dtype(dtype)
    if info is not None:  # integers: rounded, clipped (bicubic overshoot stays in range)
        assert res.min() >= info.min and res.max() <= info.max
    # bicubic x2 keeps the mean closely
    assert abs(float(res.astype(float).mean()) - float(img.astype(float).mean())) < \
        0.02 * (float(img.max()) - float(img.min()))


def test_integer_overshoot_is_clipped(tmp_path):
    img = np.zeros((16, 16), np.uint8)
    img[:, 8:] = 255  # a hard edge: bicubic overshoots beyond 0..255
    src = write_geotiff(tmp_path / "in.tif", img)
    upscale_raster(src, tmp_path / "o.tif", GridBicubic(), scale=Scale(3, 3))
    res = read(tmp_path / "o.tif")
    assert res.min() == 0 and res.max() == 255


def test_georeferencing_and_metadata_are_copied(tmp_path):
    img = (smooth_image(30, 40, 3) * 5000).astype(np.uint16)
    gt = (481000.5, 1.5, 0.25, 4450001.25, 0.2, -2.0)  # rotated, non-square
    src = write_geotiff(tmp_path / "in.tif", img, geotransform=gt, nodata=0,
                        descriptions=["red", "green", "blue"],
                        color_interp=[gdal.GCI_RedBand, gdal.GCI_GreenBand, gdal.GCI_BlueBand],
                        metadata={"SENSOR": "test", "ACQ": "2020"})
    ds = gdal.Open(str(src), gdal.GA_Update)
    ds.GetRasterBand(2).SetScale(0.01)
    ds.GetRasterBand(2).SetOffset(-5.0)
    ds.GetRasterBand(2).SetMetadata({"WAVELENGTH": "560"})
    ds = None
    out = tmp_path / "o.tif"
    r = upscale_raster(src, out, GridBicubic(), scale=Scale(2.5, 1.5))
    o = gdal.Open(str(out))
    assert (o.RasterXSize, o.RasterYSize) == (100, 45)
    g = o.GetGeoTransform()
    assert np.allclose(g, (gt[0], gt[1] * 40 / 100, gt[2] * 30 / 45, gt[3], gt[4] * 40 / 100,
                           gt[5] * 30 / 45), rtol=0, atol=1e-9)
    s1, s2 = osr.SpatialReference(), osr.SpatialReference()
    s1.ImportFromWkt(gdal.Open(str(src)).GetProjection())
    s2.ImportFromWkt(o.GetProjection())
    assert s1.IsSame(s2)
    assert o.GetMetadata()["SENSOR"] == "test"
    b2 = o.GetRasterBand(2)
    assert b2.GetDescription() == "green" and b2.GetColorInterpretation() == gdal.GCI_GreenBand
    assert b2.GetScale() == 0.01 and b2.GetOffset() == -5.0
    assert b2.GetMetadata()["WAVELENGTH"] == "560" and b2.GetNoDataValue() == 0
    st = gdal.Info(str(out), format="json")
    assert st["metadata"]["IMAGE_STRUCTURE"]["COMPRESSION"] == "DEFLATE"
    assert b2.GetBlockSize() == [256, 256]
    assert r["pixel_size"][0] == pytest.approx(np.hypot(gt[1], gt[4]) * 0.4)


def test_same_grid_as_gdal_cubic_on_worldview_multispectral(tmp_path, wv2_mul_crop):
    """16-bit, 8 bands, with a nodata hole: same grid and values close to GDAL's cubic."""
    src = tmp_path / "mul_nodata.tif"
    gdal.Translate(str(src), str(wv2_mul_crop), noData=0)
    ds = gdal.Open(str(src), gdal.GA_Update)
    for b in range(1, 9):
        band = ds.GetRasterBand(b)
        a = band.ReadAsArray()
        a[30:45, 40:60] = 0
        band.WriteArray(a)
    ds = None
    out = tmp_path / "sr.tif"
    upscale_raster(src, out, GridBicubic(), scale=Scale(3, 3), tile=40)
    ref = tmp_path / "cubic.tif"
    gdal.Warp(str(ref), str(src), width=288, height=288, resampleAlg="cubic")
    o, g = gdal.Open(str(out)), gdal.Open(str(ref))
    assert (o.RasterXSize, o.RasterYSize, o.RasterCount) == (288, 288, 8)
    assert np.allclose(o.GetGeoTransform(), g.GetGeoTransform(), rtol=0, atol=1e-9)
    assert o.GetProjection() == g.GetProjection()
    assert o.GetRasterBand(1).DataType == gdal.GDT_UInt16
    sr, cu = read(out).astype(float), read(ref).astype(float)
    hole = np.zeros((288, 288), bool)
    hole[90:135, 120:180] = True
    assert (sr[:, hole] == 0).all()  # nodata where the nearest input pixel is nodata
    assert (sr[:, ~hole] > 0).all()  # and nowhere else
    # Valid pixels next to the hole are not dragged towards 0 (the hole was filled first).
    ring = np.zeros_like(hole)
    ring[84:141, 114:186] = True
    ring &= ~hole
    both = ring & (cu[0] > 0)
    assert np.abs(sr[:, both] - cu[:, both]).mean() < 0.05 * cu[:, both].mean()
    far = ~np.zeros_like(hole)
    far[80:145, 110:190] = False
    rel = np.abs(sr[:, far] - cu[:, far]).mean() / cu[:, far].mean()
    assert rel < 0.02


def test_nan_holes_in_float_rasters(tmp_path):
    img = smooth_image(30, 30, 1).astype(np.float32)
    img[0, 10:14, 10:14] = np.nan
    src = write_geotiff(tmp_path / "in.tif", img)
    upscale_raster(src, tmp_path / "o.tif", GridBicubic(), scale=Scale(2, 2))
    res = read(tmp_path / "o.tif")[0]
    assert np.isnan(res[20:28, 20:28]).all()
    assert np.isfinite(res).sum() == 60 * 60 - 64


def test_mask_band_is_respected(tmp_path):
    img = (smooth_image(20, 20, 1) * 200 + 20).astype(np.uint8)
    src = write_geotiff(tmp_path / "in.tif", img)
    ds = gdal.Open(str(src), gdal.GA_Update)
    ds.CreateMaskBand(gdal.GMF_PER_DATASET)
    m = np.full((20, 20), 255, np.uint8)
    m[:5, :5] = 0
    ds.GetRasterBand(1).GetMaskBand().WriteArray(m)
    ds = None
    upscale_raster(src, tmp_path / "o.tif", GridBicubic(), scale=Scale(2, 2))
    o = gdal.Open(str(tmp_path / "o.tif"))
    mask = o.GetRasterBand(1).GetMaskBand().ReadAsArray()
    assert (mask[:10, :10] == 0).all() and (mask[10:, :] == 255).all()


def test_band_selection_and_rule(tmp_path):
    img = (smooth_image(16, 16, 4) * 1000).astype(np.uint16)
    src = write_geotiff(tmp_path / "in.tif", img)
    # 1-channel model: each band on its own, one image per model call (memory of one band)
    m1 = GridBicubic(1)
    upscale_raster(src, tmp_path / "a.tif", m1, scale=Scale(2, 2), bands="4,2")
    a = read(tmp_path / "a.tif")
    assert a.shape == (2, 32, 32) and [c[:2] for c in m1.calls] == [(1, 1)] * 2
    # 3-channel model on 3 bands: jointly; on 4 bands: replicated per band and averaged
    m3 = GridBicubic(3)
    upscale_raster(src, tmp_path / "b.tif", m3, scale=Scale(2, 2), bands=[1, 2, 3])
    assert [c[:2] for c in m3.calls] == [(1, 3)]
    m3.calls.clear()
    upscale_raster(src, tmp_path / "c.tif", m3, scale=Scale(2, 2))
    assert [c[:2] for c in m3.calls] == [(1, 3)] * 4
    c = read(tmp_path / "c.tif")
    assert np.abs(c[[3, 1]].astype(int) - a.astype(int)).max() <= 1


def test_oom_halves_the_region_and_gives_the_same_result(tmp_path):
    img = (smooth_image(40, 40, 1) * 1000).astype(np.float32)
    src = write_geotiff(tmp_path / "in.tif", img)
    upscale_raster(src, tmp_path / "ref.tif", GridBicubic(), scale=Scale(2, 2), tile=20)
    model = OomOnce(limit=20 * 20)
    upscale_raster(src, tmp_path / "oom.tif", model, scale=Scale(2, 2), tile=20)
    assert model.failures >= 1
    assert np.abs(read(tmp_path / "oom.tif") - read(tmp_path / "ref.tif")).max() < 1e-2


def test_stochastic_models_get_reproducible_per_tile_seeds(tmp_path):
    img = (smooth_image(30, 30, 1) * 1000).astype(np.float32)
    src = write_geotiff(tmp_path / "in.tif", img)
    seeds = []
    for _ in range(2):
        m = CropBicubic(stochastic=True)
        upscale_raster(src, tmp_path / "o.tif", m, scale=Scale(2, 2), tile=10, seed=7,
                       overwrite=True)
        seeds.append(m.seeds)
    assert seeds[0] == seeds[1] and len(set(seeds[0])) == 9
    m = CropBicubic(stochastic=True)
    upscale_raster(src, tmp_path / "o.tif", m, scale=Scale(2, 2), tile=10, seed=8,
                   overwrite=True)
    assert m.seeds != seeds[0]
    assert GridBicubic().stochastic is False  # deterministic models get no seed


def test_failure_and_cancel_leave_nothing(tmp_path):
    img = (smooth_image(40, 40, 1) * 1000).astype(np.uint16)
    src = write_geotiff(tmp_path / "in.tif", img)
    before = sha(src)

    class Boom(GridBicubic):
        def upscale_grid(self, *a, **k):
            if len(self.calls) >= 2:
                raise RuntimeError("model failure")
            return super().upscale_grid(*a, **k)

    with pytest.raises(RuntimeError):
        upscale_raster(src, tmp_path / "o.tif", Boom(), scale=Scale(2, 2), tile=10)
    ev = threading.Event()
    ev.set()
    with pytest.raises(Cancelled):
        upscale_raster(src, tmp_path / "o.tif", GridBicubic(), scale=Scale(2, 2), cancel=ev)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.tif"]
    assert sha(src) == before


def test_existing_output_and_disk_space(tmp_path, monkeypatch):
    img = (smooth_image(20, 20, 1) * 1000).astype(np.uint16)
    src = write_geotiff(tmp_path / "in.tif", img)
    (tmp_path / "o.tif").write_bytes(b"keep")
    with pytest.raises(OutputError, match="--overwrite"):
        upscale_raster(src, tmp_path / "o.tif", GridBicubic(), scale=Scale(2, 2))
    assert (tmp_path / "o.tif").read_bytes() == b"keep"

    class Usage:
        free = 1000

    monkeypatch.setattr(gr.shutil, "disk_usage", lambda _p: Usage())
    with pytest.raises(OutputError, match="free"):
        upscale_raster(src, tmp_path / "p.tif", GridBicubic(), scale=Scale(20, 20))
    assert not (tmp_path / "p.tif").exists()


def test_resolution_and_progress(tmp_path):
    img = (smooth_image(20, 30, 1) * 1000).astype(np.uint16)
    src = write_geotiff(tmp_path / "in.tif", img, geotransform=(0, 2.0, 0, 0, 0, -2.0))
    sc = resolve_scale(resolution=0.5, geotransform=(0, 2.0, 0, 0, 0, -2.0))
    assert (sc.x, sc.y) == (4.0, 4.0)
    events = []
    r = upscale_raster(src, tmp_path / "o.tif", GridBicubic(), scale=sc, tile=8,
                       progress=events.append)
    assert r["size"] == [120, 80] and r["pixel_size"] == [0.5, 0.5]
    fr = [e.fraction for e in events if e.event == "progress"]
    assert fr == sorted(fr) and len([e for e in events if "block" in e.message]) == r["blocks"] == 12


def test_cog_output(tmp_path):
    img = (smooth_image(64, 64, 1) * 1000).astype(np.uint16)
    src = write_geotiff(tmp_path / "in.tif", img)
    upscale_raster(src, tmp_path / "o.tif", GridBicubic(), scale=Scale(2, 2), cog=True)
    info = gdal.Info(str(tmp_path / "o.tif"), format="json")
    assert info["metadata"]["IMAGE_STRUCTURE"].get("LAYOUT") == "COG"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.tif", "o.tif"]


def test_half_precision_only_on_cuda():
    from engine.pipeline import TileRenderer

    r = TileRenderer(GridBicubic(), 10, 10, 20, 20, half=True)
    assert r.half is False  # CPU: autocast float16 is a CUDA-only option
    import torch

    m = GridBicubic()
    m.module = torch.nn.Linear(1, 1)
    assert TileRenderer(m, 10, 10, 20, 20, half=True).device.type == "cpu"


def test_bundled_lmlte_is_tile_independent_and_equals_its_whole_image_output(tmp_path,
                                                                              wv2_pan_crop):
    import torch

    from engine.models.registry import load_model
    from engine.normalization import compute_band_stats, denormalize, normalize

    model = load_model("lmlte-default", device="cpu")
    lr = gdal.Open(str(wv2_pan_crop)).ReadAsArray().astype(np.float32)[:30, :36]
    src = write_geotiff(tmp_path / "lr.tif", lr)
    outs = []
    for tile in (16, 1000):
        upscale_raster(src, tmp_path / f"o{tile}.tif", model, scale=Scale(2.5, 2.5), tile=tile)
        outs.append(read(tmp_path / f"o{tile}.tif")[0])
    stats = compute_band_stats(lr[None])
    with torch.inference_mode():
        sr = model.upscale(torch.from_numpy(normalize(lr[None], stats))[None], (75, 90),
                           clamp=False)[0].numpy()
    whole = denormalize(sr, stats)[0]
    span = float(lr.max() - lr.min())
    assert np.abs(outs[0] - outs[1]).max() < 1e-5 * span + 1e-3
    assert np.abs(outs[1] - whole).max() < 1e-5 * span + 1e-3


def test_a_cards_tile_option_sets_the_default_block(tmp_path):
    # The card's "tile" (input pixels) is the default block size; --tile still wins; a
    # point-query model's pixels do not depend on it (up to float rounding: 1 DN).
    src = write_geotiff(tmp_path / "in.tif", (smooth_image(96, 96) * 1000).astype(np.uint16))
    model = GridBicubic()
    base = upscale_raster(src, tmp_path / "a.tif", model, scale=Scale(2, 2))
    model.options["tile"] = 32
    carded = upscale_raster(src, tmp_path / "b.tif", model, scale=Scale(2, 2))
    given = upscale_raster(src, tmp_path / "c.tif", model, scale=Scale(2, 2), tile=48)
    assert (base["tiles"], carded["tiles"], given["tiles"]) == (1, 9, 4)
    a = gdal.Open(str(tmp_path / "a.tif")).ReadAsArray().astype(int)
    assert np.abs(a - gdal.Open(str(tmp_path / "b.tif")).ReadAsArray()).max() <= 1
