"""The LMLTE coordinate module against the reference fixtures (tests/data/lmlte/), bit for bit."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.models.lmlte.coords import (cell_factor, grid_query, image_query, make_coord,
                                        make_coord_axis, size_tensor)
from lmlte_helpers import CASES, load_case


@pytest.mark.parametrize("name", CASES)
def test_image_query_is_the_reference_protocol(name: str) -> None:
    d = load_case(name)
    h, w = d["inp"].shape[-2:]
    hh, ww = (int(v) for v in d["out_size"])
    ys, xs, cell = image_query(h, w, hh, ww)
    grid = torch.stack(torch.meshgrid(ys, xs, indexing="ij"), -1).view(-1, 2)
    assert torch.equal(grid, torch.from_numpy(d["coord"]))
    assert np.array_equal(np.float32(cell), d["cell"][0])
    assert cell_factor(hh / h, ww / w) == float(d["cell_factor"])


def test_grid_query_reproduces_the_whole_image_query() -> None:
    # Output pixel centres of an x2.5 upscale of a 20 x 30 image, in LR pixel units.
    h, w, hh, ww = 20, 30, 50, 75
    rows = (torch.arange(hh, dtype=torch.float64) + 0.5) * h / hh
    cols = (torch.arange(ww, dtype=torch.float64) + 0.5) * w / ww
    ys, xs, cell = grid_query(h, w, rows, cols, (h / hh, w / ww))
    ys_ref, xs_ref, cell_ref = image_query(h, w, hh, ww)
    assert float((ys - ys_ref).abs().max()) <= 1e-6 and float((xs - xs_ref).abs().max()) <= 1e-6
    assert cell == pytest.approx(cell_ref, rel=1e-6)


def test_traced_sizes_stay_graph_values() -> None:
    def centres(x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        return make_coord(h, w) * size_tensor(h, w, torch.float32)

    traced = torch.jit.trace(centres, torch.zeros(1, 1, 4, 6), check_trace=False)
    for h, w in ((4, 6), (7, 3)):
        want = make_coord(h, w) * torch.tensor([h, w], dtype=torch.float32)
        assert torch.equal(traced(torch.zeros(1, 1, h, w)), want)
    assert torch.equal(make_coord_axis(5), make_coord(5, 1)[:, 0, 0])
