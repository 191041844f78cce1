"""The whole LDCSR model as one module, laid out like the official Lightning checkpoint.

:class:`LDCSRNet` owns the schedule buffers and ``scale_factor`` (top level), ``model`` (a holder
whose ``diffusion_model`` is the UNet), ``first_stage_model`` (the autoencoder) and
``cond_stage_model`` (the LR encoder), so ``state_dict()`` keys are the official ones minus
``model_ema.*``. :func:`to_lightning_state_dict` adds the EMA copy in the official naming
(``model_ema.`` + the parameter path with the dots removed) and :func:`from_lightning_state_dict`
maps it back: inference always uses the EMA weights when the checkpoint has them.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from engine.models.ldcsr.autoencoder import AutoencoderKL
from engine.models.ldcsr.cond import build_cond_encoder
from engine.models.ldcsr.config import LDCSRConfig
from engine.models.ldcsr.denoiser import UNet
from engine.schedulers.ddpm import BUFFER_NAMES, linear_betas, schedule_buffers

EMA_PREFIX = "model_ema."
UNET_PREFIX = "model.diffusion_model."


class DiffusionHolder(nn.Module):
    """The official ``DiffusionWrapper``: only a ``diffusion_model`` child."""

    def __init__(self, unet: UNet) -> None:
        super().__init__()
        self.diffusion_model = unet


class LDCSRNet(nn.Module):
    """Stage 1 + stage 2 networks and the schedule; see the module docstring."""

    def __init__(self, cfg: LDCSRConfig) -> None:
        super().__init__()
        self.config = cfg
        for name, value in schedule_buffers(linear_betas(cfg.timesteps, cfg.linear_start,
                                                         cfg.linear_end)).items():
            self.register_buffer(name, value)
        self.register_buffer("scale_factor", torch.tensor(1.0))
        self.model = DiffusionHolder(UNet(cfg.unet))
        self.first_stage_model = AutoencoderKL(cfg.encoder, cfg.decoder, cfg.embed_dim)
        self.cond_stage_model = build_cond_encoder(cfg.cond)

    @property
    def unet(self) -> UNet:
        return self.model.diffusion_model  # type: ignore[return-value]

    def schedule(self) -> dict[str, torch.Tensor]:
        """The twelve schedule buffers by name."""
        return {k: getattr(self, k) for k in BUFFER_NAMES}


def ema_key(param_name: str) -> str:
    """'out.2.weight' (UNet parameter) -> 'model_ema.diffusion_modelout2weight'."""
    return EMA_PREFIX + ("diffusion_model." + param_name).replace(".", "")


def to_lightning_state_dict(net: LDCSRNet, ema: dict[str, torch.Tensor] | None = None, *,
                            decay: float = 0.9999, num_updates: int = 0,
                            ) -> OrderedDict[str, torch.Tensor]:
    """The official stage-2 state_dict: buffers, model.*, model_ema.*, first/cond stage.

    Args:
        ema: EMA values of the UNet parameters by UNet parameter name; the live weights when None.
    """
    own = net.state_dict()
    out: OrderedDict[str, torch.Tensor] = OrderedDict()
    for key, value in own.items():
        if not key.startswith(("model.", "first_stage_model.", "cond_stage_model.")):
            out[key] = value
    for key, value in own.items():
        if key.startswith("model."):
            out[key] = value
    out[EMA_PREFIX + "decay"] = torch.tensor(decay, dtype=torch.float32)
    out[EMA_PREFIX + "num_updates"] = torch.tensor(num_updates, dtype=torch.int32)
    for name, param in net.unet.named_parameters():
        src = ema[name] if ema is not None else param
        out[ema_key(name)] = src.detach().clone()
    for key, value in own.items():
        if key.startswith(("first_stage_model.", "cond_stage_model.")):
            out[key] = value
    return out


def from_lightning_state_dict(state: dict[str, torch.Tensor], net: LDCSRNet, *,
                              use_ema: bool = True) -> dict[str, torch.Tensor]:
    """The subset of ``state`` that :meth:`LDCSRNet.load_state_dict` takes (strictly).

    With ``use_ema`` and EMA entries present, the UNet gets the EMA values. Training-only
    entries (``model_ema.*``, ``loss.*``) are dropped; everything else is passed through so
    that a strict load reports any mismatch.

    Raises:
        KeyError: the EMA copy is incomplete (names the first missing key).
    """
    out = {k: v for k, v in state.items()
           if not k.startswith((EMA_PREFIX, "loss.", "model_ema"))}
    if "scale_factor" not in out:
        out["scale_factor"] = torch.tensor(1.0)  # scale_by_std: false keeps the factor 1
    has_ema = any(k.startswith(EMA_PREFIX + "diffusion_model") for k in state)
    if use_ema and has_ema:
        for name, _ in net.unet.named_parameters():
            key = ema_key(name)
            if key not in state:
                raise KeyError(key)
            out[UNET_PREFIX + name] = state[key]
    return out
