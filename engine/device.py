"""Device selection: ``auto`` picks CUDA when present; an unavailable device is a clear error."""

from __future__ import annotations

import torch

from engine.errors import DeviceError


def resolve_device(spec: str | torch.device | None = "auto") -> torch.device:
    """Turn ``auto`` / ``cpu`` / ``cuda`` / ``cuda:N`` into a usable :class:`torch.device`."""
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
