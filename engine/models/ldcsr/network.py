"""The whole LDCSR model as one module, laid out like the official Lightning checkpoint.

:class:`LDCSRNet` owns the schedule buffers and ``scale_factor`` (top level), ``model`` (a holder
whose ``diffusion_model`` is the UNet), ``first_stage_model`` (the autoencoder) and
``cond_stage_model`` (the LR encoder), so ``state_dict()`` keys are the official ones minus
``model_ema.*`` (the EMA copy: :mod:`engine.models.ldcsr.checkpoint`).
"""

from __future__ import annotations

import torch
from torch import nn

from engine.models.ldcsr.autoencoder import AutoencoderKL
from engine.models.ldcsr.cond import build_cond_encoder
from engine.models.ldcsr.config import LDCSRConfig
from engine.models.ldcsr.denoiser import UNet
from engine.schedulers.ddpm import BUFFER_NAMES, linear_betas, schedule_buffers


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
