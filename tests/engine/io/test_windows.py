"""Property tests of the pure tile / halo / crop arithmetic."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.io.windows import (alignment, centres, crop_for, feather, nearest_input, output_size,
                               pixel_size, scaled_geotransform, split_axis)

sizes = st.integers(1, 400)
scales = st.floats(1.0, 8.0, allow_nan=False)


@settings(max_examples=200, deadline=None)
@given(n=sizes, s=scales, tile=st.integers(1, 300), halo=st.integers(0, 20),
       ov=st.integers(0, 12))
def test_tiles_partition_the_output_and_crops_hold_their_centres(n, s, tile, halo, ov):
    out_n = output_size(n, s)
    spans = split_axis(n, out_n, tile, halo=halo, overlap=ov)
    owned = np.concatenate([np.arange(sp.out0, sp.out1) for sp in spans])
    assert np.array_equal(owned, np.arange(out_n))  # exact partition, in order
    for sp in spans:
        assert sp.ext0 <= sp.out0 < sp.out1 <= sp.ext1
        c = centres(sp.ext0, sp.ext1, n, out_n)
        assert sp.crop0 <= np.floor(c).min() and np.floor(c).max() < sp.crop1
        # halo pixels of context wherever the raster has them
        assert sp.crop0 == 0 or sp.crop0 <= np.floor(c.min()) - halo
        assert sp.crop1 == n or sp.crop1 >= np.floor(c.max()) + 1 + halo
        assert 0 <= sp.crop0 < sp.crop1 <= n


@settings(max_examples=200, deadline=None)
@given(n=sizes, s=scales, tile=st.integers(1, 100), ov=st.integers(1, 10))
def test_feather_weights_cover_and_sum_to_one(n, s, tile, ov):
    out_n = output_size(n, s)
    spans = split_axis(n, out_n, tile, overlap=ov)
    total = np.zeros(out_n)
    for sp in spans:
        w = feather(sp, ov)
        assert (w >= 0).all() and (w <= 1).all()
        assert (w[sp.out0 - sp.ext0:sp.out1 - sp.ext0] > 0).all()  # owned pixels always count
        total[sp.ext0:sp.ext1] += w
    # The accumulator divides by the weight sum; with tiles of at least 2 * overlap pixels the
    # ramps of neighbours never meet and the sum is already exactly 1.
    assert (total > 0).all()
    if all(sp.size >= 2 * ov for sp in spans):
        assert np.allclose(total, 1.0, atol=1e-6)


@settings(max_examples=100, deadline=None)
@given(n=sizes, s=scales, halo=st.integers(0, 8))
def test_aligned_crops_map_to_whole_output_pixels(n, s, halo):
    out_n = output_size(n, s)
    q = alignment(n, out_n)
    if q == 1 and n // np.gcd(n, out_n) != 1:
        return  # period too long: the pipeline falls back to resampling
    j0 = out_n // 3
    c0, c1 = crop_for(j0, max(j0 + 1, out_n // 2), n, out_n, halo, q)
    assert (c0 * out_n) % n == 0 and (c1 * out_n) % n == 0


@settings(max_examples=100, deadline=None)
@given(n=sizes, s=scales)
def test_nearest_input_contains_the_centre(n, s):
    out_n = output_size(n, s)
    idx = nearest_input(0, out_n, n, out_n)
    c = centres(0, out_n, n, out_n)
    assert (idx <= c).all() and (c < idx + 1).all() and idx.max() < n


@given(st.floats(-1e6, 1e6), st.floats(0.01, 100), st.floats(-1, 1), st.integers(1, 500),
       st.integers(1, 500), scales, scales)
def test_scaled_geotransform_keeps_the_extent(x0, px, rot, w, h, sx, sy):
    gt = (x0, px, rot, 5e6, rot * 0.5, -px * 1.3)
    ow, oh = output_size(w, sx), output_size(h, sy)
    g2 = scaled_geotransform(gt, w, h, ow, oh)

    def corner(g, col, row):
        return g[0] + col * g[1] + row * g[2], g[3] + col * g[4] + row * g[5]

    assert np.allclose(corner(gt, w, h), corner(g2, ow, oh), rtol=1e-12, atol=1e-6)
    assert g2[0] == gt[0] and g2[3] == gt[3]
    assert np.isclose(pixel_size(g2)[0], pixel_size(gt)[0] * w / ow)


def test_output_size_rounds():
    assert output_size(100, 2.5) == 250
    assert output_size(3, 1.5) == 4  # round(4.5) -> banker's rounding gives 4
    assert output_size(1, 1.0) == 1
