"""The user's scale options (--scale, --scale-x/--scale-y, --resolution) as per-axis factors."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

from engine.errors import ParameterError
from engine.io.windows import pixel_size


@dataclass(frozen=True)
class Scale:
    """Per-axis scale factors (>= 1)."""

    x: float
    y: float


def resolve_scale(*, scale: float | None = None, scale_x: float | None = None,
                  scale_y: float | None = None, resolution: float | None = None,
                  geotransform: Sequence[float] | None = None) -> Scale:
    """Turn the user's scale options into a :class:`Scale`; values below 1 are refused.

    ``resolution`` is the target pixel size in map units (both axes); it needs a geotransform.
    """
    given = [v is not None for v in (scale, resolution)] + [scale_x is not None or
                                                            scale_y is not None]
    if sum(given) > 1:
        raise ParameterError("give only one of --scale, --scale-x/--scale-y or --resolution")
    if resolution is not None:
        _check_number("--resolution", resolution, positive_only=True)
        if geotransform is None:
            raise ParameterError("--resolution needs a georeferenced raster: use --scale instead")
        px, py = pixel_size(geotransform)
        sx, sy = px / resolution, py / resolution
        for name, v in (("x", sx), ("y", sy)):
            if v < 1:
                raise ParameterError(
                    f"--resolution {resolution:g} is coarser than the input pixel size along {name} "
                    f"({px if name == 'x' else py:g}): super-resolution needs a smaller pixel size")
        return Scale(sx, sy)
    if scale_x is not None or scale_y is not None:
        if scale_x is None or scale_y is None:
            raise ParameterError("give both --scale-x and --scale-y (or --scale for both axes)")
        _check_number("--scale-x", scale_x)
        _check_number("--scale-y", scale_y)
        return Scale(float(scale_x), float(scale_y))
    s = 2.0 if scale is None else scale
    _check_number("--scale", s)
    return Scale(float(s), float(s))


def _check_number(name: str, value: float, positive_only: bool = False) -> None:
    if not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ParameterError(f"{name} must be a finite number, got {value!r}")
    if positive_only:
        if value <= 0:
            raise ParameterError(f"{name} must be positive, got {value:g}")
        return
    if value < 1:
        raise ParameterError(f"{name} {value:g} is below 1: ArbSR only enlarges; use a scale of "
                             "1 or more (e.g. 2 or 3.5)")


def parse_number(name: str, text: str | float | None) -> float | None:
    """A CLI number given as text, with a one-line message for 'abc', 'nan' and the like."""
    if text is None:
        return None
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise ParameterError(f"{name} '{text}' is not a number: give e.g. 2 or 3.5") from None
    if not math.isfinite(value):
        raise ParameterError(f"{name} '{text}' is not a finite number: give e.g. 2 or 3.5")
    return value


__all__ = ["Scale", "parse_number", "resolve_scale"]
