"""``fast`` checkpoints: detection and loading into an :class:`SRModel`.

Layout (ours)::

    {"model": {"name": "fast-resampler", "args": {...FastSRNet kwargs...}, "sd": state_dict},
     "step", "config", ...}                               # optional training metadata

Band-wise (1 channel in, 1 out); point-query (``supports_grid``): tiles render the global output
pixel centres, so a tiled raster equals an untiled one at any scale.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from engine.errors import ModelError, ParameterError
from engine.models.fast.network import FastSRNet
from engine.models.fast.resample import centres
from engine.models.fast.taps import halo
from engine.models.sr_model import SRModel

NAME = "fast-resampler"
FAMILY = "fast"
#: Scale range of a model loaded without a card (the card's ``scale_range`` wins).
SCALE_RANGE = (1.0, 8.0)


def detect(checkpoint: dict[str, Any]) -> bool:
    """True for a ``fast`` checkpoint (``model.name == 'fast-resampler'`` with weights)."""
    spec = checkpoint.get("model") if isinstance(checkpoint, dict) else None
    return isinstance(spec, dict) and spec.get("name") == NAME and isinstance(spec.get("sd"), dict)


def make_checkpoint(net: FastSRNet, **extra: Any) -> dict[str, Any]:
    """The checkpoint dict of ``net`` (weights copied to the CPU)."""
    sd = {k: v.detach().cpu().clone() for k, v in net.state_dict().items()}
    return {"model": {"name": NAME, "args": dict(net.args), "sd": sd}, **extra}


@dataclass(kw_only=True)
class FastModel(SRModel):
    """Loaded ``fast`` model."""

    def upscale(self, lr: torch.Tensor, size: tuple[int, int], *, clamp: bool = True,
                **kwargs: Any) -> torch.Tensor:
        """``lr`` (B, C, h, w) in [0, 1] to exactly ``size`` (H, W), band by band."""
        h, w = lr.shape[-2:]
        height, width = int(size[0]), int(size[1])
        if height < 1 or width < 1:
            raise ParameterError(f"output size must be positive, got {size}")
        return self.upscale_grid(lr, centres(height, h), centres(width, w),
                                 (h / height, w / width), clamp=clamp)

    def upscale_grid(self, lr: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor,
                     pixel: tuple[float, float], *, clamp: bool = True,
                     **kwargs: Any) -> torch.Tensor:
        """Output pixels centred at ``rows`` x ``cols`` (LR pixel units from the top/left)."""
        if lr.dim() != 4:
            raise ParameterError(f"lr must be (B, C, h, w), got shape {tuple(lr.shape)}")
        b, c, h, w = lr.shape
        x = lr.to(self.device, torch.float32).reshape(b * c, 1, h, w)
        with torch.inference_mode():
            out = self.module(x, rows.to(self.device), cols.to(self.device), pixel)
        out = out.reshape(b, c, *out.shape[-2:])
        return out.clamp(0, 1) if clamp else out


def load(checkpoint: dict[str, Any], *, name: str, device: torch.device,
         config: str | None = None, options: dict[str, Any] | None = None,
         scale_range: tuple[float, float] = SCALE_RANGE) -> FastModel:
    """Build the network from the checkpoint (strict), on ``device``, in eval mode.

    Raises:
        ModelError: not a ``fast`` checkpoint, or weights that do not fit the recorded args.
    """
    if not detect(checkpoint):
        raise ModelError(f"'{name}' is not a fast-resampler checkpoint (expected "
                         "{'model': {'name': 'fast-resampler', 'args', 'sd'}})")
    spec = checkpoint["model"]
    try:
        net = FastSRNet(**dict(spec.get("args", {})))
        net.load_state_dict({k: v.float() for k, v in spec["sd"].items()}, strict=True)
    except (TypeError, RuntimeError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0][:160]
        raise ModelError(f"fast checkpoint '{name}' does not match its recorded architecture "
                         f"({first}): re-export it with the training command") from exc
    net.to(device, memory_format=torch.channels_last).eval()  # see FastSRNet.forward
    return FastModel(name=name, family=FAMILY, module=net, in_channels=1, out_channels=1,
                     scale_range=scale_range, halo=halo(net.args["layers"]),
                     stochastic=False, options=dict(options or {}), supports_grid=True)


__all__ = ["FAMILY", "FastModel", "NAME", "detect", "load", "make_checkpoint"]
