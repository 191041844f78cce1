"""Pieces shared by the diffusion families (LDCSR and MoE-DiffSR)."""

from __future__ import annotations

import math

import torch


def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """Sinusoidal embedding (Vaswani et al. 2017) of values ``t`` (B,) -> (B, dim) float32.

    ``[cos(t f_i), sin(t f_i)]`` with ``f_i = max_period^(-i/half)`` (the LDM/guided-diffusion
    order), zero-padded to an odd ``dim``. Timesteps, scales and output sizes all go through it.
    """
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32,
                                                           device=t.device) / half)
    args = t[:, None].float() * freqs[None]
    emb = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
    if dim % 2:
        emb = torch.cat([emb, torch.zeros_like(emb[:, :1])], dim=-1)
    return emb


__all__ = ["timestep_embedding"]
