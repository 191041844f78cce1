"""Bench-only inference optimisations: an SRModel wrapper and static int8 of the encoder.

* :func:`optimise`: wraps an :class:`SRModel` so that :meth:`~SRModel.upscale` runs with int8
  Linear layers, pruning, half precision (autocast, :mod:`engine.precision`) and channels-last
  memory layout on CUDA.
* :func:`quantize_static_encoder`: post-training static int8 quantisation of the conv encoder,
  calibrated on the user's rasters (measured, not a default: it does not pay for LMLTE).

What pays is measured by ``python -m engine bench --only export`` (``build/bench/export.json``);
the engine's own paths use :mod:`engine.quantize` and :mod:`engine.precision` directly.
"""

from __future__ import annotations

import copy
import warnings
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from engine.errors import ParameterError
from engine.models.sr_model import SRModel
from engine.precision import inference_context
from engine.quantize import prune_magnitude, quantize_dynamic_int8


def quantize_static_encoder(module: nn.Module, calibration: list[torch.Tensor],
                            attr: str = "encoder") -> nn.Module:
    """A copy of ``module`` whose ``module.<attr>`` (the conv encoder) is statically int8-quantised.

    Post-training static quantisation (FX graph mode, x86 default qconfig): activation ranges are
    observed on ``calibration`` batches, e.g. LR crops of the user's own rasters normalised as
    the network expects. Measured in the export bench; not used by default (see the bench JSON).

    Raises:
        ParameterError: no calibration data, or the module has no such encoder.
    """
    if not calibration:
        raise ParameterError("static quantisation needs calibration rasters: give a few LR crops")
    if not isinstance(getattr(module, attr, None), nn.Module):
        raise ParameterError(f"the network has no '{attr}' to quantise statically")
    from torch.ao.quantization import get_default_qconfig_mapping
    from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx

    out = copy.deepcopy(module).cpu().float().eval()
    encoder = getattr(out, attr)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        prepared = prepare_fx(encoder, get_default_qconfig_mapping("x86"),
                              (calibration[0].float(),))
        with torch.inference_mode():
            for batch in calibration:
                prepared(batch.float())
        setattr(out, attr, convert_fx(prepared))
    return out


@dataclass(kw_only=True)
class OptimisedSRModel(SRModel):
    """An :class:`SRModel` run with optimisations; delegates to the wrapped model.

    Use :func:`optimise` to build one. Outputs are float32 whatever the compute precision.
    """

    inner: SRModel
    half: bool
    int8: bool
    channels_last: bool

    def upscale(self, lr: torch.Tensor, size: tuple[int, int], *, clamp: bool = True,
                **kwargs: Any) -> torch.Tensor:
        """:meth:`SRModel.upscale` of the wrapped model under the chosen precision."""
        with inference_context(self.inner.device, self.half):
            out = self.inner.upscale(self._prepare(lr), size, clamp=clamp, **kwargs)
        return out.float()

    def upscale_grid(self, lr: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor,
                     pixel: tuple[float, float], *, clamp: bool = True,
                     **kwargs: Any) -> torch.Tensor:
        """:meth:`SRModel.upscale_grid` of the wrapped model under the chosen precision."""
        with inference_context(self.inner.device, self.half):
            out = self.inner.upscale_grid(self._prepare(lr), rows, cols, pixel, clamp=clamp,
                                          **kwargs)
        return out.float()

    def describe(self) -> dict[str, Any]:
        """The wrapped model's summary plus the optimisations."""
        info = self.inner.describe()
        info.update(half=self.half, int8=self.int8, channels_last=self.channels_last)
        return info

    def _prepare(self, lr: torch.Tensor) -> torch.Tensor:
        lr = lr.to(self.inner.device)
        if self.channels_last:
            lr = lr.contiguous(memory_format=torch.channels_last)
        return lr


def optimise(model: SRModel, *, int8: bool = False, half: bool = False,
             channels_last: bool | None = None, prune: float = 0.0,
             calibration: list[torch.Tensor] | None = None) -> SRModel:
    """``model`` prepared for faster inference; the original is not modified.

    Args:
        int8: dynamic int8 quantisation of the Linear layers (CPU only).
        half: autocast to float16 on CUDA (bfloat16 on the CPU, where it is mainly a test path).
        channels_last: NHWC memory layout for the convolutions; default: on with ``half`` on CUDA.
        prune: magnitude-pruning fraction (0 = none).
        calibration: LR batches (B, C, h, w) in [0, 1] from the user's rasters: when given, the
            conv encoder is statically int8-quantised with ranges observed on them (CPU only).

    Raises:
        ParameterError: int8 asked for a model on a CUDA device, or int8 together with half.
    """
    if int8 and model.device.type != "cpu":
        raise ParameterError("int8 quantisation runs on the CPU only: use --device cpu, or use "
                             "--half on a GPU")
    if int8 and half:
        raise ParameterError("choose either int8 quantisation (CPU) or half precision (GPU)")
    if channels_last is None:
        channels_last = half and model.device.type == "cuda"
    if calibration and model.device.type != "cpu":
        raise ParameterError("static int8 quantisation runs on the CPU only: use --device cpu")
    if not (int8 or half or channels_last or prune or calibration):
        return model
    inner = copy.copy(model)
    module = model.module
    if prune:
        module = prune_magnitude(module, prune)
    if calibration:
        mean = float(getattr(model, "norm_mean", 0.5))
        std = float(getattr(model, "norm_std", 0.5))
        module = quantize_static_encoder(module, [(b - mean) / std for b in calibration])
    if int8:
        module = quantize_dynamic_int8(module)
    elif module is model.module and channels_last:
        module = copy.deepcopy(module)
    if channels_last:
        module = module.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    inner.module = module.eval()
    wrapped = OptimisedSRModel(
        name=model.name, family=model.family, module=inner.module,
        in_channels=model.in_channels, out_channels=model.out_channels,
        scale_range=model.scale_range, halo=model.halo, stochastic=model.stochastic,
        options=dict(model.options), supports_grid=model.supports_grid, inner=inner,
        half=half, int8=int8 or bool(calibration), channels_last=channels_last)
    return wrapped


__all__ = ["OptimisedSRModel", "optimise", "quantize_static_encoder"]
