"""Geometric views of a point-query render: the mean over flips and transposes of the input.

An LMLTE network is not symmetric under flips and transposes of its input (convolutions and an
MLP of (y, x) inputs). Rendering a few *views* (flip and/or transpose the input, render at the
correspondingly mirrored query points, undo the transpose) and averaging them is the "geometric
self-ensemble" of the SR literature (EDSR+, RCAN+): it costs one render per view and gains
about 0.1-0.2 dB. Two views (identity and transpose) also make the result independent of the
axis order, which matters at non-square output pixels (``--scale-x`` != ``--scale-y``).

View ``t`` in 0..7: bit 0 flips columns, bit 1 flips rows, bit 2 transposes (after the flips).
Flips need no flip back: the flipped input is queried at the negated normalised coordinates, in
the original order, which is exact for any set of query points (tiles included).
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

import torch

from engine.errors import ParameterError

#: The views of each ensemble size: identity; + transpose; + both flips (and transposed);
#: all 8 symmetries of the square.
VIEWS = {1: (0,), 2: (0, 4), 4: (0, 3, 4, 7), 8: tuple(range(8))}

#: ``render(lr, ys, xs, cell_yx) -> (B, C, len(ys), len(xs))`` in normalised coordinates.
Render = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, tuple[float, float]], torch.Tensor]


def view_options(options: Mapping[str, Any]) -> tuple[int, bool]:
    """``(self_ensemble, axis_ensemble)`` of a model's options, with their defaults: one view,
    two routes at non-square pixels."""
    return options.get("self_ensemble", 1), bool(options.get("axis_ensemble", True))


def view_count(self_ensemble: object, axis_ensemble: object, non_square: bool) -> int:
    """Views to render: the ``self_ensemble`` option (1, 2, 4 or 8), at least 2 at non-square
    output pixels unless ``axis_ensemble`` is off."""
    try:
        n = int(self_ensemble)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        n = -1
    if n not in VIEWS:
        raise ParameterError(f"self_ensemble {self_ensemble!r} must be 1, 2, 4 or 8 views")
    if non_square and bool(axis_ensemble) and n < 2:
        n = 2
    return n


def render_views(render: Render, lr: torch.Tensor, ys: torch.Tensor, xs: torch.Tensor,
                 cell_yx: tuple[float, float], views: int) -> torch.Tensor:
    """Mean of ``render`` over the first ``views`` views (see :data:`VIEWS`)."""
    total = None
    for t in VIEWS[views]:
        x, vy, vx = lr, ys, xs
        if t & 1:
            x, vx = x.flip(-1), -vx
        if t & 2:
            x, vy = x.flip(-2), -vy
        if t & 4:
            out = render(x.transpose(-1, -2), vx, vy, (cell_yx[1], cell_yx[0])).transpose(-1, -2)
        else:
            out = render(x, vy, vx, cell_yx)
        total = out if total is None else total.add_(out)
    assert total is not None
    return total if views == 1 else total.div_(views)


__all__ = ["VIEWS", "Render", "render_views", "view_count", "view_options"]
