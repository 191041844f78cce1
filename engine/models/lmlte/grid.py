"""Rendering a whole query grid of an LMLTE without per-query gathers.

The point-query render (:meth:`LMLTE.render`) gathers, for every query and ensemble member, the
render input and the modulations of one layer after the other from per-LR-pixel tables: five
copies of rows that most queries share (at x4, 16 queries read the same LR pixel). Rendering
an output *grid* (rows ``ys`` x columns ``xs``) does not need them:

* the nearest LR pixel of a member is separable: its row depends on the output row only
  (``r(Y)``), its column on the output column only (``c(X)``), and so are the query offsets
  ``rel_y(Y)`` and ``rel_x(X)``;
* at a rational scale p/q (every scale of an image, as sizes are integers) the output rows fall
  into p classes ``Y = y0 + p k`` along which ``r`` steps by exactly q (``r = r0 + q k``), so a
  class x class block of queries reads the tables as a strided *view*
  ``table[r0::q, c0::q']``: no copy;
* the tables carry one replicated pixel around the LR grid, so the clamped neighbours at the
  image edges (``r = -1`` reads row 0) stay on those views.

Each block is then rendered with the same network code as point queries (the render input, the
modulated MLP, the area-weighted ensemble), on views instead of gathered rows, and written into
the output through a strided view. The nearest-pixel choice is taken from the same
``grid_sample`` as the point-query path, so ties break identically; a grid whose rows do not
fall into at most :data:`MAX_PERIOD` classes (a scale like 3.37 on a small tile, or an
irregular set of rows) returns None and the caller falls back to point queries.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from engine.models.core_blocks import balanced_size, run_blocks
from engine.models.lmlte.coords import size_tensor
from engine.models.lmlte.network import (ENSEMBLE_SIGNS, LMLTE, RENDER_TABLES,
                                         map_modulations, opposite_area_weights)

#: Most row (column) classes a grid may have: p of a scale p/q. x1 to x8 and the usual
#: fractions (1.5 = 3/2, 2.5 = 5/2, 1.25 = 5/4, ...) have at most 8.
MAX_PERIOD = 8


@dataclass(frozen=True)
class AxisPlan:
    """One axis of the grid for one ensemble offset.

    rel: offset of every output row from its LR pixel centre, in LR pixels (float32, (n,)).
    period: p, the number of row classes; step: q, LR pixels between a class's rows.
    starts: the LR pixel (-1 .. size) of the first row of each class ``y0`` = 0 .. p-1.
    """

    rel: torch.Tensor
    period: int
    step: int
    starts: tuple[int, ...]


def nearest(lookup: torch.Tensor, centres: torch.Tensor, offset: torch.Tensor, axis: int,
             size: int, width: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(LR pixel index, query offset in LR pixels) of each centre moved by ``offset`` along
    ``axis`` (0 = rows), with the point-query path's clamp and ``grid_sample`` rounding."""
    moved = (centres + offset).clamp_(-1 + 1e-6, 1 - 1e-6)
    other = torch.zeros_like(moved)
    # grid_sample wants (x, y); the other coordinate does not change this axis's rounding.
    pts = torch.stack((other, moved) if axis == 0 else (moved, other), -1).view(1, 1, -1, 2)
    look = F.grid_sample(lookup[:1], pts, mode="nearest", align_corners=False)[0, :, 0, :]
    padded = look[2].long()
    index = padded // width - 1 if axis == 0 else padded % width - 1
    rel = (centres - look[axis]) * size_tensor(size, size, torch.float32, centres.device)[0]
    return index, rel


def _classes(index: np.ndarray, size: int) -> tuple[int, int, tuple[int, ...]] | None:
    """(p, q, starts) such that row ``y0 + p k`` reads LR pixel ``starts[y0] + q k`` (clamped to
    the axis at the edges), or None."""
    n = len(index)
    inner = (index > 0) & (index < size - 1)
    for p in range(1, min(MAX_PERIOD, n) + 1):
        both = inner[p:] & inner[:-p]
        steps = np.unique(index[p:][both] - index[:-p][both]) if both.any() else np.array([1])
        if len(steps) != 1 or steps[0] < 1:
            continue
        q = int(steps[0])
        starts = []
        for y0 in range(p):
            rows = index[y0::p]
            # Anchored on a row away from the edges, where no clamp can have moved it.
            anchors = np.flatnonzero(inner[y0::p])
            first = int(anchors[0]) if len(anchors) else 0
            start = int(rows[first]) - q * first
            want = start + q * np.arange(len(rows))
            if want.min() < -1 or want.max() > size or \
                    not np.array_equal(np.clip(want, 0, size - 1), rows):
                break
            starts.append(start)
        if len(starts) == p:
            return p, q, tuple(starts)
    return None


def axis_plan(lookup: torch.Tensor, centres: torch.Tensor, offset: torch.Tensor, axis: int,
              size: int, width: int) -> AxisPlan | None:
    """The classes of ``centres`` (float32 normalised coordinates along ``axis``) for one
    ensemble ``offset``, or None when they are not regular enough for views."""
    index, rel = nearest(lookup, centres, offset, axis, size, width)
    found = _classes(index.cpu().numpy(), size)
    # Classes of one row each save nothing over point queries and cost a block apiece.
    if found is None or 2 * found[0] > len(index):
        return None
    return AxisPlan(rel, *found)


def _span(plan: AxisPlan, y0: int, lo: int, hi: int) -> tuple[int, int, int] | None:
    """(first row inside [lo, hi) of class y0, its LR pixel, count) or None when empty."""
    k0 = max(0, -((y0 - lo) // plan.period))  # first k with y0 + p k >= lo
    first = y0 + plan.period * k0
    if first >= hi:
        return None
    count = (hi - 1 - first) // plan.period + 1
    return first, plan.starts[y0] + plan.step * k0, count


def _every(first: int, step: int, count: int) -> slice:
    """``count`` indices from ``first``, ``step`` apart."""
    return slice(first, first + step * (count - 1) + 1, step)


def bilinear_skip(inp: torch.Tensor, ys: torch.Tensor, xs: torch.Tensor) -> torch.Tensor:
    """The LR skip of the grid ``ys`` x ``xs``: ``inp`` (B, C, h, w) sampled bilinearly with
    border padding -> (B, C, len(ys), len(xs)) float32."""
    grid = torch.stack(torch.meshgrid(ys, xs, indexing="ij"), -1)
    skip = F.grid_sample(inp, grid.flip(-1).unsqueeze(0).expand(inp.shape[0], -1, -1, -1)
                         .to(inp.dtype), mode="bilinear", padding_mode="border",
                         align_corners=False)
    return skip.float()


def render_grid(net: LMLTE, t: dict[str, Any], ys: torch.Tensor, xs: torch.Tensor,
                cell_yx: tuple[float, float], chunk: int) -> torch.Tensor | None:
    """Render the grid ``ys`` x ``xs`` (float32 normalised coordinates) from the tables ``t``
    of :meth:`LMLTE.tables` -> (B, out_dim, H, W) float32, or None when the grid's rows or
    columns are not regular enough (render point queries instead).

    ``chunk``: the point-query chunk; a block renders about twice as many queries of one
    member (the point path renders ``chunk`` queries of all four members at once): 16384 rows
    per MLP call were the fastest on a 2-core CPU (x4: 0.53 s against 0.68 s at 8192)."""
    if net.imnet is None:
        return None
    # Flipped views (engine.models.lmlte.views) query decreasing coordinates: render them in
    # increasing order and flip the result, which changes no pixel's arithmetic.
    flips = [d for d, v in ((-2, ys), (-1, xs)) if v.numel() > 1 and bool(v[0] > v[-1])]
    if flips:
        out = render_grid(net, t, ys.flip(0) if -2 in flips else ys,
                          xs.flip(0) if -1 in flips else xs, cell_yx, chunk)
        return None if out is None else out.flip(flips)
    h, w, bs = t["h"], t["w"], t["bs"]
    dev = ys.device
    members = ENSEMBLE_SIGNS if net.local_ensemble else ((0.0, 0.0),)
    # One plan per axis and offset sign: members share them (the point path's offsets).
    plans: dict[tuple[int, float], AxisPlan] = {}
    for signs, offset in zip(members, net.ensemble_offsets(h, w, dev)):
        for axis, (centres, size) in enumerate(((ys, h), (xs, w))):
            if (axis, signs[axis]) not in plans:
                plan = axis_plan(t["lookup"], centres, offset[axis], axis, size, w + 2)
                if plan is None:
                    return None
                plans[axis, signs[axis]] = plan

    hw_t = size_tensor(h, w, torch.float32, dev)
    phase = None
    if net.cell_decode:
        # One row (1, 2): an int8-quantised phase layer takes no 1-D input.
        phase = net.cell_phase(torch.tensor([cell_yx], dtype=torch.float32, device=dev) * hw_t)[0]
    # (B, h+2, w+2, C): a block reads them at [:, rows, cols], strided views.
    def on_grid(table: torch.Tensor) -> torch.Tensor:
        return table.view(bs, h + 2, w + 2, -1)

    layer0 = [on_grid(t[name]) for name in RENDER_TABLES]
    mods = map_modulations(t["mods"], on_grid)
    inp: torch.Tensor = t["inp"]
    hh, ww = ys.numel(), xs.numel()
    out = torch.empty(bs, net.out_dim, hh, ww, dtype=torch.float32, device=dev)
    period = max(p.period for p in plans.values())
    rows_per = balanced_size(hh, max(period, 2 * chunk * period * period // max(ww, 1)), period)

    def render_rows(lo: int) -> None:
        hi = min(hh, lo + rows_per)
        skip = bilinear_skip(inp, ys[lo:hi], xs)
        weights: list[torch.Tensor | None] = [None]
        if net.local_ensemble:
            weights = opposite_area_weights(torch.stack(
                [torch.outer(plans[0, sy].rel[lo:hi], plans[1, sx].rel).abs_().add_(1e-9)
                 for sy, sx in members]))
        acc = torch.zeros(bs, hi - lo, ww, net.out_dim, dtype=torch.float32, device=dev)
        for (sy, sx), weight in zip(members, weights):
            py, px = plans[0, sy], plans[1, sx]
            for y0 in range(py.period):
                rspan = _span(py, y0, lo, hi)
                if rspan is None:
                    continue
                y_first, r_first, ny = rspan
                ry = py.rel[_every(y_first, py.period, ny)].view(1, -1, 1, 1)
                rows = _every(r_first + 1, py.step, ny)  # +1: the tables' padding
                out_rows = _every(y_first - lo, py.period, ny)
                for x0 in range(px.period):
                    cspan = _span(px, x0, 0, ww)
                    if cspan is None:
                        continue
                    x_first, c_first, nx = cspan
                    rx = px.rel[_every(x_first, px.period, nx)].view(1, 1, -1, 1)
                    cols = _every(c_first + 1, px.step, nx)
                    out_cols = _every(x_first, px.period, nx)
                    x = net.render_input(*(l0[:, rows, cols] for l0 in layer0), ry, rx, phase)
                    pred = net.imnet(x, map_modulations(mods, lambda m: m[:, rows, cols]))
                    if weight is not None:
                        pred = pred * weight[out_rows, out_cols].unsqueeze(-1)
                    acc[:, out_rows, out_cols].add_(pred)
        out[:, :, lo:hi] = acc.permute(0, 3, 1, 2) + skip

    # Row blocks write disjoint output rows: one per CPU core (engine.models.core_blocks;
    # 256² x4: 0.76 s against 0.88 s on two cores).
    run_blocks(render_rows, range(0, hh, rows_per), dev)
    return out


__all__ = ["AxisPlan", "MAX_PERIOD", "axis_plan", "bilinear_skip", "nearest", "render_grid"]
