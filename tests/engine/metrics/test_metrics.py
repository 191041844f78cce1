"""PSNR / SSIM against scikit-image, masks and shave; GDAL baselines on known signals."""

from __future__ import annotations

import math

import numpy as np
import pytest
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from rasters import smooth_image
from engine.metrics.baselines import gdal_resample
from engine.metrics.psnr import psnr, shave_mask
from engine.metrics.ssim import ssim


@pytest.fixture
def pair():
    ref = smooth_image(64, 72, 1, seed=2)[0]
    noisy = ref + np.random.default_rng(1).normal(0, 0.03, ref.shape)
    return noisy, ref


def test_psnr_matches_skimage(pair):
    a, b = pair
    assert psnr(a, b) == pytest.approx(peak_signal_noise_ratio(b, a, data_range=1.0), abs=1e-9)
    assert psnr(b, b) == math.inf


def test_ssim_matches_skimage(pair):
    a, b = pair
    ref = structural_similarity(a, b, data_range=1.0, gaussian_weights=True, sigma=1.5,
                                use_sample_covariance=True)
    assert ssim(a, b) == pytest.approx(ref, abs=1e-9)
    assert ssim(b, b) == pytest.approx(1.0)


def test_invalid_pixels_and_shave_are_ignored(pair):
    a, b = pair
    bad = a.copy()
    bad[:3, :] = 1e6  # inside the shave
    bad[30:34, 30:34] = -1e6  # masked out
    valid = np.ones_like(a, bool)
    valid[30:34, 30:34] = False
    clean = psnr(a, b, valid=valid, shave=3)
    assert psnr(bad, b, valid=valid, shave=3) == pytest.approx(clean)
    assert ssim(bad, b, valid=valid, shave=3) == pytest.approx(
        ssim(a, b, valid=valid, shave=3), abs=1e-12)
    assert shave_mask((10, 10), 2).sum() == 36


def test_gdal_baselines_keep_constants_and_grid():
    const = np.full((2, 10, 12), 7.5)
    for alg in ("cubic", "lanczos"):
        out = gdal_resample(const, (25, 30), alg)
        assert out.shape == (2, 25, 30) and np.allclose(out, 7.5)
    ramp = np.tile(np.arange(12, dtype=float), (10, 1))
    up = gdal_resample(ramp, (10, 24), "cubic")
    # pixel-centre convention: output x centres at (j + 0.5) / 2 - 0.5 in input pixels
    j = np.arange(4, 20)
    assert np.allclose(up[5, j], (j + 0.5) / 2 - 0.5, atol=1e-6)
