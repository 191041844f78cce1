"""The shared value scaling and degradation (used by inference, evaluate and training)."""

from __future__ import annotations

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from engine.degradation import downsample, downsample_numpy, scaled_size
from engine.normalization import BandStats, compute_band_stats, denormalize, normalize


@settings(max_examples=50, deadline=None)
@given(arrays(np.float64, (2, 9, 7), elements=st.floats(-1e4, 1e4)))
def test_normalize_round_trips_and_is_unclamped(x):
    stats = compute_band_stats(x)
    y = normalize(x, stats)
    assert y.dtype == np.float32
    assert np.allclose(denormalize(y, stats), x, rtol=1e-5, atol=1e-3 * (1 + np.abs(x).max()))
    for s in stats:
        assert s.hi > s.lo


def test_statistics_use_valid_pixels_only():
    x = np.arange(100, dtype=float).reshape(1, 10, 10)
    valid = np.ones((10, 10), bool)
    valid[0] = False
    s = compute_band_stats(x, valid)[0]
    assert s.lo == np.percentile(np.arange(10, 100), 0.1)
    assert compute_band_stats(np.full((3, 3), 5.0))[0] == BandStats(5.0, 6.0)
    assert compute_band_stats(np.full((3, 3), np.nan))[0] == BandStats(0.0, 1.0)
    y = normalize(np.array([[[-10.0, 200.0]]]), [BandStats(0.0, 100.0)])
    assert np.allclose(y, [[[-0.1, 2.0]]])  # not clamped
    assert normalize(np.zeros((1, 2, 3, 4)), [BandStats(1, 2)] * 2).shape == (1, 2, 3, 4)


def test_downsample_is_antialiased_bicubic():
    x = torch.rand(1, 2, 40, 36)
    ref = torch.nn.functional.interpolate(x, size=(10, 9), mode="bicubic", antialias=True,
                                          align_corners=False)
    assert torch.equal(downsample(x, (10, 9)), ref)
    assert downsample_numpy(x[0, 0].numpy(), (10, 9)).shape == (10, 9)
    assert np.allclose(downsample_numpy(np.full((3, 12, 12), 2.0), (5, 5)), 2.0, atol=1e-5)
    assert scaled_size(100, 90, 3) == (33, 30)
