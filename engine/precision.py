"""The precision policy of inference, in one place: names, dtypes and autocast.

* Models compute in float32 by default (the parity fixtures are float32).
* ``precision=`` names (CLI options, model cards, ``upscale(..., precision=...)``) map to a
  compute dtype through :data:`PRECISIONS`; float16 / bfloat16 run under ``torch.autocast``.
* "Half" on a device means :func:`autocast_dtype`: float16 on CUDA, bfloat16 on the CPU (where it
  is a test path of the CUDA code, not a speed-up).
* int8 is a property of the weights, not of autocast: see :mod:`engine.quantize`.
"""

from __future__ import annotations

import contextlib
from typing import Iterator

import torch

from engine.errors import ParameterError

#: Precision names accepted from users -> compute dtype (None = float32, no autocast).
PRECISIONS: dict[str, torch.dtype | None] = {
    "float32": None, "fp32": None,
    "float16": torch.float16, "fp16": torch.float16, "half": torch.float16,
    "bfloat16": torch.bfloat16, "bf16": torch.bfloat16,
}


def precision_dtype(name: str | None) -> torch.dtype | None:
    """The autocast dtype of a precision name (None or ``float32``: no autocast).

    Raises:
        ParameterError: an unknown name.
    """
    key = str(name or "float32").lower()
    if key not in PRECISIONS:
        raise ParameterError(f"unknown precision '{name}': use float32, float16 or bfloat16")
    return PRECISIONS[key]


def autocast_dtype(device: torch.device) -> torch.dtype:
    """The reduced precision for ``device``: float16 on CUDA, bfloat16 on the CPU."""
    return torch.float16 if device.type == "cuda" else torch.bfloat16


@contextlib.contextmanager
def autocast(device: torch.device, dtype: torch.dtype | None) -> Iterator[None]:
    """``torch.autocast`` to ``dtype`` on ``device``'s type; nothing when ``dtype`` is None."""
    if dtype is None:
        yield
        return
    with torch.autocast(device_type=device.type, dtype=dtype):
        yield


@contextlib.contextmanager
def inference_context(device: torch.device, half: bool) -> Iterator[None]:
    """``torch.inference_mode`` plus, when ``half``, autocast to :func:`autocast_dtype`."""
    with torch.inference_mode(), autocast(device, autocast_dtype(device) if half else None):
        yield


__all__ = ["PRECISIONS", "autocast", "autocast_dtype", "inference_context", "precision_dtype"]
