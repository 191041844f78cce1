"""The sharpness measure of the LDCSR bench (gradient-magnitude ratio)."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from engine.bench.ldcsr import gradient_ratio


def test_gradient_ratio_orders_blur_and_noise():
    rng = np.random.default_rng(0)
    hr = ndimage.gaussian_filter(rng.random((64, 64)), 1.0)
    assert abs(gradient_ratio(hr, hr) - 1.0) < 1e-12
    assert gradient_ratio(ndimage.gaussian_filter(hr, 1.5), hr) < 0.8
    assert gradient_ratio(hr + 0.05 * rng.standard_normal(hr.shape), hr) > 1.1
