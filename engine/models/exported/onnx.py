"""Registry family ``onnx``: models exported with ``python -m engine export --format onnx``.

Runs through onnxruntime (an optional dependency): the CUDA execution provider when the model is
loaded for a CUDA device and the provider is present, the CPU provider otherwise. The metadata
JSON is stored in the model's ``metadata_props`` under ``arbsr``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from engine.errors import DeviceError, ModelError
from engine.models.exported import ExportedSRModel, ExportMeta, model_kwargs
from engine.models.family import Family
from engine.models.sr_model import SRModel

SUFFIXES = (".onnx",)
META_KEY = "arbsr"


def _onnxruntime() -> Any:
    try:
        import onnxruntime
    except ImportError as exc:
        raise ModelError("running .onnx models needs onnxruntime: pip install onnxruntime "
                         "(or onnxruntime-gpu) into the engine's Python, or use a TorchScript "
                         ".pt export") from exc
    return onnxruntime


def providers_for(device: torch.device, available: list[str]) -> list[str]:
    """Execution providers for ``device``: CUDA first when asked for and present, then CPU.

    Raises:
        DeviceError: a CUDA device was asked for but onnxruntime has no CUDA provider.
    """
    if device.type == "cuda":
        if "CUDAExecutionProvider" not in available:
            raise DeviceError("this onnxruntime has no CUDA provider: install onnxruntime-gpu, "
                              "or run the .onnx model with --device cpu")
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    return ["CPUExecutionProvider"]


@dataclass(kw_only=True)
class OnnxSRModel(ExportedSRModel):
    """An exported ONNX graph run by an onnxruntime session (``module`` is a placeholder)."""

    session: Any
    run_device: torch.device

    @property
    def device(self) -> torch.device:  # type: ignore[override]
        """The device the session runs on (inputs are handed over as NumPy arrays)."""
        return self.run_device

    def _forward(self, inp: torch.Tensor, coord: torch.Tensor, cell: torch.Tensor) -> torch.Tensor:
        dtype = np.float16 if self.meta.precision == "float16" else np.float32
        feeds = {
            "inp": inp.detach().cpu().numpy().astype(dtype, copy=False),
            "coord": coord.detach().cpu().numpy().astype(np.float32, copy=False),
            "cell": cell.detach().cpu().numpy().astype(np.float32, copy=False),
        }
        feeds = {i.name: feeds[i.name] for i in self.session.get_inputs()}
        (pred,) = self.session.run(["pred"], feeds)
        return torch.from_numpy(np.asarray(pred, dtype=np.float32))


def load_file(path: Path, *, name: str, device: torch.device, config: str | None,
              options: dict[str, Any], scale_range: tuple[float, float] | None = None) -> SRModel:
    """Load an exported ONNX file into an onnxruntime session for ``device``."""
    ort = _onnxruntime()
    path = Path(path)
    providers = providers_for(device, list(ort.get_available_providers()))
    so = ort.SessionOptions()
    threads = options.get("threads")
    if threads:
        so.intra_op_num_threads = int(threads)
    try:
        session = ort.InferenceSession(str(path), sess_options=so, providers=providers)
    except Exception as exc:  # onnxruntime raises its own exception types (Fail, InvalidGraph, ...)
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ModelError(f"cannot read ONNX model '{path}' ({first[:160]}): the file is corrupt "
                         "or needs a newer onnxruntime; re-export it") from exc
    text = session.get_modelmeta().custom_metadata_map.get(META_KEY)
    if not text:
        raise ModelError(f"'{path}' is an ONNX file without ArbSR metadata: export models with "
                         "python -m engine export so that ArbSR knows how to call them")
    meta = ExportMeta.from_json(text, str(path))
    return OnnxSRModel(module=nn.Identity(), session=session, run_device=device,
                       **model_kwargs(meta, name, "onnx", scale_range))


FAMILY = Family(id="onnx", suffixes=SUFFIXES, load_file=load_file)
