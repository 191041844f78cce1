"""MoE-DiffSR: residual diffusion U-Net with LR-routed mixtures of conv experts (issue #8).

Modules: ``lr_encoder`` (LR features and per-level pyramid), ``router`` (top-k patch router,
balance and z losses), ``experts`` (AdaGN conv experts, sparse gather/scatter dispatch),
``network`` (the U-Net), ``sampler`` (DDIM sampling loop), ``checkpoint`` (checkpoint detection
and loading), ``family`` (the registry entry).
"""

from __future__ import annotations

from engine.models.moe.network import MoEDiffSRNet

__all__ = ["MoEDiffSRNet"]
