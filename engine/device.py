"""Device selection: ``auto`` picks CUDA when present; an unavailable device is a clear error."""

from __future__ import annotations

import ctypes.util
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from engine.errors import DeviceError

if TYPE_CHECKING:
    import torch


def resolve_device(spec: str | torch.device | None = "auto") -> torch.device:
    """Turn ``auto`` / ``cpu`` / ``cuda`` / ``cuda:N`` into a usable :class:`torch.device`."""
    import torch  # here, not at the top: the fast model's CPU runtime runs without torch

    if isinstance(spec, torch.device):
        spec = str(spec)
    spec = (spec or "auto").strip().lower()
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if spec == "cpu":
        return torch.device("cpu")
    if spec == "cuda" or spec.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise DeviceError(
                f"device '{spec}' was asked for but this Python's torch sees no CUDA GPU: "
                "use --device cpu (or auto), or point ArbSR at a Python with a CUDA build of torch")
        index = int(spec.split(":", 1)[1]) if ":" in spec else 0
        if index >= torch.cuda.device_count():
            raise DeviceError(
                f"device '{spec}' does not exist: this machine has "
                f"{torch.cuda.device_count()} CUDA device(s), numbered from 0")
        return torch.device("cuda", index)
    raise DeviceError(f"unknown device '{spec}': use auto, cpu, cuda or cuda:N")


def nvidia_driver_visible() -> bool:
    """Whether an NVIDIA driver is installed, without importing torch (which takes seconds):
    ``auto`` may pick CUDA only then. Linux lists its GPUs under /proc/driver/nvidia; Windows
    has the driver's nvcuda.dll on the library path."""
    if sys.platform.startswith("linux"):
        gpus = Path("/proc/driver/nvidia/gpus")
        return gpus.is_dir() and any(gpus.iterdir())
    if sys.platform == "win32":
        return ctypes.util.find_library("nvcuda") is not None
    return False
