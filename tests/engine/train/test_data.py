"""The shared training-pair pipeline: sizes, scales, normalisation, nodata, determinism."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.errors import InputError, ParameterError
from engine.train.data import PairSampler, degrade, load_sources, validation_pairs
from rasters import smooth_image


def _raster(geotiff, rows=160, cols=150, bands=3, dtype="uint16", **kw):
    img = (smooth_image(rows, cols, bands, seed=3) * 4000 + 100).astype(dtype)
    return geotiff(img, **kw), img


def test_load_sources_normalises_per_band_like_inference(geotiff):
    path, img = _raster(geotiff)
    (src,) = load_sources([path])
    assert src.data.shape == img.shape and src.data.dtype == np.float32
    for b in range(img.shape[0]):
        lo, hi = np.percentile(img[b].astype(np.float64), (0.1, 99.9))
        expected = (img[b] - lo) / (hi - lo)
        np.testing.assert_allclose(src.data[b], expected, atol=1e-5)
    assert src.valid.all() and src.train_rows == img.shape[1]


def test_pairs_have_requested_sizes_and_scales(geotiff):
    path, _ = _raster(geotiff)
    sampler = PairSampler(load_sources([path]), lr_patch=12, scale_range=(1.0, 4.0), seed=0)
    scales = []
    for p in sampler.batch(40):
        c, hh, ww = p.hr.shape
        assert c == 1 and p.lr.shape == (1, 12, 12)
        assert hh == ww == round(12 * p.scale[0]) and p.scale[0] == hh / 12
        assert p.valid.shape == (hh, ww)
        scales.append(p.scale[0])
    assert 1.0 <= min(scales) < 1.8 and 3.2 < max(scales) <= 4.0
    same = sampler.batch(5, same_scale=True)
    assert len({p.hr.shape for p in same}) == 1


def test_lr_is_the_antialiased_bicubic_downsample(geotiff):
    path, _ = _raster(geotiff)
    sampler = PairSampler(load_sources([path]), lr_patch=10, scale_range=(3.0, 3.0),
                          seed=1, augment=False)
    p = sampler.pair()
    ref = torch.nn.functional.interpolate(p.hr[None], size=(10, 10), mode="bicubic",
                                          align_corners=False, antialias=True)[0]
    torch.testing.assert_close(p.lr, ref, atol=1e-5, rtol=0)
    torch.testing.assert_close(degrade(p.hr, (10, 10)), ref, atol=1e-5, rtol=0)


def test_same_seed_same_pairs_and_channels_options(geotiff):
    path, _ = _raster(geotiff, bands=4)
    sources = load_sources([path])
    a = PairSampler(sources, lr_patch=8, seed=7).batch(6)
    b = PairSampler(sources, lr_patch=8, seed=7).batch(6)
    for x, y in zip(a, b):
        assert torch.equal(x.hr, y.hr) and x.bands == y.bands
    c = PairSampler(sources, lr_patch=8, seed=8).batch(6)
    assert any(not torch.equal(x.hr, y.hr) if x.hr.shape == y.hr.shape else True
               for x, y in zip(a, c))
    multi = PairSampler(sources, lr_patch=8, channels=3, seed=0).pair()
    assert multi.hr.shape[0] == 3 and list(multi.bands) == sorted(multi.bands)
    allb = PairSampler(sources, lr_patch=8, channels=None, seed=0).pair()
    assert allb.hr.shape[0] == 4


def test_nodata_crops_are_avoided(geotiff):
    img = (smooth_image(120, 120, 1, seed=1)[0] * 1000 + 10).astype(np.float32)
    img[:, :70] = -9999.0  # left part is nodata
    img[5, 100] = np.nan
    path = geotiff(img, nodata=-9999.0)
    (src,) = load_sources([path])
    assert not src.valid[:, :70].any() and not src.valid[5, 100]
    assert -0.05 < float(src.data[0][src.valid].min()) < 0.01  # stats ignore nodata
    sampler = PairSampler([src], lr_patch=10, scale_range=(1.0, 2.0), seed=0)
    for p in sampler.batch(30):
        assert bool(p.valid.all()) and torch.isfinite(p.hr).all()
    lenient = PairSampler([src], lr_patch=10, scale_range=(2.0, 2.0), seed=0, max_invalid=0.5)
    assert all(torch.isfinite(p.hr).all() for p in lenient.batch(20))


def test_holdout_rows_are_not_used_for_training(geotiff):
    img = np.zeros((1, 200, 64), np.float32)
    img[0, :150] = smooth_image(150, 64, 1, seed=2)[0]
    img[0, 150:] = 5.0  # a marker value only in the hold-out rows
    path = geotiff(img)
    (src,) = load_sources([path], holdout=0.25)
    assert src.train_rows == 150
    marker = src.data[0, 199, 0]
    for p in PairSampler([src], lr_patch=8, scale_range=(1, 4), seed=0).batch(50):
        assert not torch.isclose(p.hr, torch.tensor(marker)).any()
    val = validation_pairs([src], lr_patch=8, scales=(2.0, 4.0), per_source=3)
    assert len(val) == 6
    assert all(torch.isclose(p.hr, torch.tensor(marker)).all() for p in val)
    again = validation_pairs([src], lr_patch=8, scales=(2.0, 4.0), per_source=3)
    assert all(torch.equal(x.hr, y.hr) for x, y in zip(val, again))


def test_errors_are_actionable(geotiff, tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        load_sources([tmp_path / "missing.tif"])
    with pytest.raises(InputError, match="--data"):
        load_sources([])
    path, _ = _raster(geotiff, rows=40, cols=40)
    with pytest.raises(InputError, match="smaller patch"):
        PairSampler(load_sources([path]), lr_patch=48, scale_range=(1.0, 4.0))
    with pytest.raises(ParameterError):
        PairSampler(load_sources([path]), lr_patch=8, scale_range=(0.5, 2.0))
    nod = geotiff(np.full((1, 40, 40), 7, np.uint16), name="all_nodata.tif", nodata=7)
    with pytest.raises(InputError, match="no valid pixel"):
        load_sources([nod])


def test_per_axis_pairs_have_independent_scales_and_per_axis_degradation(geotiff):
    path, _ = _raster(geotiff, rows=200, cols=190)
    sampler = PairSampler(load_sources([path]), lr_patch=12, scale_range=(1.0, 4.0),
                          per_axis=1.0, seed=3)
    ratios = []
    for p in sampler.batch(60):
        hh, ww = p.hr.shape[-2:]
        sy, sx = p.scale
        assert (sy, sx) == (hh / 12, ww / 12) and 1.0 <= sy <= 4.0 and 1.0 <= sx <= 4.0
        # LR side = round(HR / s) on each axis, made by the per-axis antialiased bicubic
        # downsample that `evaluate` applies at --scale-x / --scale-y.
        assert p.lr.shape == (1, round(hh / sy), round(ww / sx)) == (1, 12, 12)
        ref = torch.nn.functional.interpolate(p.hr[None], size=(12, 12), mode="bicubic",
                                              align_corners=False, antialias=True)[0]
        torch.testing.assert_close(p.lr, ref, atol=1e-5, rtol=0)
        assert p.valid.shape == (hh, ww)
        ratios.append(sy / sx)
    assert min(ratios) < 0.6 and max(ratios) > 1.7  # both orientations, far from square
    # A fixed (sy, sx) request is honoured (transposes do not swap a request without augment).
    fixed = PairSampler(load_sources([path]), lr_patch=10, augment=False, seed=0).pair((1.5, 4.0))
    assert fixed.hr.shape[-2:] == (15, 40) and fixed.scale == (1.5, 4.0)


def test_per_axis_fraction_mixes_equal_and_independent_scales(geotiff):
    path, _ = _raster(geotiff, rows=200, cols=190)
    sources = load_sources([path])
    mixed = PairSampler(sources, lr_patch=10, per_axis=0.5, seed=0).batch(80)
    square = sum(p.hr.shape[-2] == p.hr.shape[-1] for p in mixed)
    assert 20 < square < 60
    # Without per-axis pairs a seed gives the same pairs as before the option existed.
    a = PairSampler(sources, lr_patch=10, seed=5).batch(6)
    b = PairSampler(sources, lr_patch=10, per_axis=0.0, seed=5).batch(6)
    assert all(torch.equal(x.hr, y.hr) for x, y in zip(a, b))
    with pytest.raises(ParameterError, match="per_axis"):
        PairSampler(sources, lr_patch=10, per_axis=1.5)


def test_validation_pairs_take_per_axis_scales(geotiff):
    path, _ = _raster(geotiff, rows=200, cols=190)
    pairs = validation_pairs(load_sources([path], holdout=0.4), lr_patch=10,
                             scales=[2.0, (1.5, 4.0)], per_source=2)
    assert sorted(p.scale for p in pairs) == [(1.5, 4.0)] * 2 + [(2.0, 2.0)] * 2
    for p in pairs:
        assert p.lr.shape == (1, 10, 10) and p.hr.shape[-2:] == (round(10 * p.scale[0]),
                                                                 round(10 * p.scale[1]))
