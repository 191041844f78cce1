"""LDCSR stage 2 conditioning: the LR encoder that predicts the latent from the LR image alone.

It is the stage-1 encoder architecture with 3 input channels and a single (not doubled) latent
(official ``cond_stage_model``). Its input is the LR image bicubic-upsampled to the output size,
so its output already has the latent grid of that output (floor(H/8) x floor(W/8)). The result
lives in the *scaled* latent space (``scale_factor * z``): it is the UNet's conditioning and,
divided by ``scale_factor``, the latent that the fast mode decodes directly.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from engine.models.ldcsr.autoencoder import Encoder
from engine.models.ldcsr.config import EncoderConfig


def build_cond_encoder(cfg: EncoderConfig) -> Encoder:
    """The LR encoder network for ``cfg`` (``in_channels`` 3, ``double_z`` False)."""
    return Encoder.from_config(cfg)


def encode_condition(cond: nn.Module, lr: torch.Tensor, out_size: tuple[int, int],
                     ) -> torch.Tensor:
    """c = cond(bicubic(lr -> out_size)): (B, 3, h, w) in [-1, 1] -> (B, 4, H//8, W//8)."""
    up = F.interpolate(lr, size=(int(out_size[0]), int(out_size[1])), mode="bicubic",
                       align_corners=False)
    return cond(None, up)
