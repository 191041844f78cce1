"""The benches' CLI measurement reports the child's own peak memory, whatever the size of the
process that measures it (engine/bench/child.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from engine.bench.pipeline import make_raster, measure


def test_a_large_parent_does_not_inflate_the_childs_peak(tmp_path: Path) -> None:
    src = make_raster(tmp_path / "pan.tif", "PAN", 96, 96)
    before = measure([src, tmp_path / "out.tif", "--scale", 2])
    # Linux hands a parent's peak to the children it starts (wait4's ru_maxrss): 2 GiB here.
    ballast = np.ones(2 << 30, dtype=np.uint8)
    after = measure([src, tmp_path / "out.tif", "--scale", 2])
    assert ballast[-1] == 1
    assert 50 < after["peak_rss_mib"] < 1500
    assert abs(after["peak_rss_mib"] - before["peak_rss_mib"]) < 0.25 * before["peak_rss_mib"]
    assert (tmp_path / "out.tif").is_file()
