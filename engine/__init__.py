"""ArbSR engine: arbitrary-scale super-resolution of rasters (pure Python: torch, GDAL, numpy).

Public API::

    import engine
    model = engine.load_model("lmlte-default", device="cpu")
    sr = model.upscale(lr, size=(H, W))      # (B, C, h, w) in [0, 1] -> (B, C, H, W)
    big = engine.enhance(array, 2.5)         # NumPy HW/CHW/HWC, any dtype -> same layout/dtype

The engine never imports QGIS or Qt; the QGIS plugin drives it through ``python -m engine``.
"""

from __future__ import annotations

from engine.api import enhance
from engine.errors import (
    Cancelled,
    DeviceError,
    EngineError,
    InputError,
    ModelError,
    OutputError,
    ParameterError,
    ResourceError,
)
from engine.models.registry import ModelCard, list_models, load_model
from engine.models.sr_model import SRModel

__version__ = "0.1.0"

__all__ = [
    "Cancelled",
    "DeviceError",
    "EngineError",
    "InputError",
    "ModelCard",
    "ModelError",
    "OutputError",
    "ParameterError",
    "ResourceError",
    "SRModel",
    "__version__",
    "enhance",
    "list_models",
    "load_model",
]
