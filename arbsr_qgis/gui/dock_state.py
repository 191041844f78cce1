"""The dock's state as a plain object (no widgets): what to run, and the arithmetic it shows.

The dock reads and writes a :class:`DockState`; the geometry shown under the slider comes from
:func:`output_geometry`, which follows the engine's rule (out_w = round(w * s), extent kept), so
what the dock promises is what the engine writes.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

from qgis.PyQt.QtCore import QCoreApplication

SCALE_MIN, SCALE_MAX, SCALE_STEP = 1.0, 8.0, 0.1


def slider_to_scale(value: int) -> float:
    """Slider position (10..80) -> scale (1.0..8.0), exact to one decimal."""
    return round(value * SCALE_STEP, 1)


def scale_to_slider(scale: float) -> int:
    """Scale -> nearest slider position, clipped to the slider's range."""
    pos = int(round(scale / SCALE_STEP))
    return min(max(pos, int(round(SCALE_MIN / SCALE_STEP))), int(round(SCALE_MAX / SCALE_STEP)))


@dataclass(frozen=True)
class Geometry:
    """Output raster size (pixels) and pixel size (map units)."""

    width: int
    height: int
    pixel_x: float
    pixel_y: float


def output_geometry(width: int, height: int, pixel_x: float, pixel_y: float,
                    scale: float) -> Geometry:
    """Size and pixel size of the upscaled raster (the engine's rule: extent kept exactly)."""
    out_w = max(int(round(width * scale)), 1)
    out_h = max(int(round(height * scale)), 1)
    return Geometry(out_w, out_h, pixel_x * width / out_w, pixel_y * height / out_h)


def describe(geometry: Geometry, units: str = "") -> str:
    """One line for the dock, e.g. '512 × 384 px, pixel 0.5 × 0.5 m'."""
    text = QCoreApplication.translate("DockState", "{width} × {height} px, pixel {px} × {py}")
    text = text.format(width=geometry.width, height=geometry.height,
                       px=f"{geometry.pixel_x:.6g}", py=f"{geometry.pixel_y:.6g}")
    return f"{text} {units}" if units else text


def estimate_seconds(speed: dict | None, width: int, height: int, bands: int,
                     scale: float, samples: int = 1) -> float | None:
    """Rough job time from a model card's bench figures: ``speed`` = {"x2": MPix/s, "x4":
    MPix/s} of one band (output pixels), interpolated linearly in the scale (held constant
    outside x2..x4); band-wise models take one pass per band, uncertainty layers one per sample.
    None without figures."""
    try:
        lo, hi = float(speed["x2"]), float(speed["x4"])  # type: ignore[index]
    except (TypeError, KeyError, ValueError):
        return None
    t = min(max((scale - 2.0) / 2.0, 0.0), 1.0)
    rate = lo + (hi - lo) * t
    if rate <= 0:
        return None
    return width * height * max(bands, 1) * max(samples, 1) / 1e6 / rate


def describe_duration(seconds: float) -> str:
    """'about 40 s', 'about 3 min', 'about 1.5 h'."""
    if seconds < 90:
        text = QCoreApplication.translate("DockState", "about {n} s").format(
            n=max(1, int(round(seconds))))
    elif seconds < 5400:
        text = QCoreApplication.translate("DockState", "about {n} min").format(
            n=int(round(seconds / 60)))
    else:
        text = QCoreApplication.translate("DockState", "about {n} h").format(
            n=f"{seconds / 3600:.1f}")
    return text


def output_name(layer_name: str, scale: float, suffix: str = "") -> str:
    """File name for one result, e.g. 'ortho_x2.5.tif' or 'ortho_x2.5_std.tif' (safe
    characters only)."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", layer_name).strip("._") or "raster"
    return f"{stem}_x{scale:g}{suffix}.tif"


#: Side-cars GDAL would attach to a new file of the same name (statistics, overviews, masks).
SIDECARS = (".aux.xml", ".ovr", ".msk")


def output_path(folder: str | None, layer_name: str, scale: float,
                taken: set[str] | None = None, suffix: str = "") -> str:
    """Where a result goes: a free ``folder/<name>_x<scale>[_N].tif``, or a temporary output.

    A name is free when neither the file nor a GDAL side-car of it is in the folder and no
    other job of the same Run chose it (``taken``, case-insensitive, updated here): the dock
    never replaces a file, and two layers with the same name never share one.
    """
    if not folder:
        return "TEMPORARY_OUTPUT"
    taken = set() if taken is None else taken
    first = output_name(layer_name, scale, suffix)
    stem = first[:-len(".tif")]
    n = 1
    while True:
        path = Path(folder) / (first if n == 1 else f"{stem}_{n}.tif")
        key = os.path.normcase(str(path)).casefold()
        if key not in taken and not any(os.path.lexists(f"{path}{suffix}")
                                        for suffix in ("", *SIDECARS)):
            taken.add(key)
            return str(path)
        n += 1


@dataclass
class DockState:
    """Everything a Run needs, serialisable (saved in the project between sessions)."""

    layer_ids: list[str] = field(default_factory=list)
    model: str = "default"
    checkpoint: str = ""
    scale: float = 2.0
    device: str = "auto"
    output_folder: str = ""
    temporary: bool = True
    detail: float | None = None   # diffusion temperature (None: the model card's default)
    uncertainty: bool = False      # also write the uncertainty layer (diffusion models)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> DockState:
        try:
            data = json.loads(text)
        except (TypeError, ValueError):
            return cls()
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__} \
            if isinstance(data, dict) else {}
        return cls(**known)

    def parameters(self, layer_id: str, layer_name: str, taken: set[str] | None = None) -> dict:
        """arbsr:upscale parameters for one layer; ``taken``: outputs of the Run's other jobs
        (see :func:`output_path`). The dock never replaces a file: OVERWRITE is False."""
        params = {"INPUT": layer_id, "MODEL": self.model, "SCALE": float(self.scale),
                  "DEVICE": self.device, "OVERWRITE": False,
                  "OUTPUT": output_path(None if self.temporary else self.output_folder,
                                        layer_name, self.scale, taken)}
        if self.checkpoint:
            params["CHECKPOINT"] = self.checkpoint
        if self.detail is not None:
            params["TEMPERATURE"] = float(self.detail)
        if self.uncertainty:
            params["UNCERTAINTY"] = output_path(None if self.temporary else self.output_folder,
                                                layer_name, self.scale, taken, "_std")
        return params

    def problem(self) -> str | None:
        """Why Run cannot start (None when it can)."""
        if not self.layer_ids:
            return QCoreApplication.translate("DockState", "Select at least one raster layer.")
        if not self.temporary and not self.output_folder:
            return QCoreApplication.translate(
                "DockState", "Choose an output folder, or tick 'Temporary outputs'.")
        if not (SCALE_MIN <= self.scale <= SCALE_MAX):
            return QCoreApplication.translate(
                "DockState", "The scale must be between {low} and {high}.").format(
                    low=SCALE_MIN, high=SCALE_MAX)
        return None
