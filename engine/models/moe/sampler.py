"""MoE-DiffSR inference: the DDIM sampling loop that joins the denoiser and the scheduler.

The network predicts the residual between the HR image and the bicubic upsampling of the LR
input (scaled by ``net.residual_scale``); sampling starts from N(0, I) on the output grid.
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

from engine.models.moe.denoiser import MoEDiffSRNet
from engine.schedulers.ddim import DDIMScheduler

DEFAULT_STEPS = 20


@torch.no_grad()
def sample(net: MoEDiffSRNet, scheduler: DDIMScheduler, lr: torch.Tensor,
           size: tuple[int, int], *, steps: int = DEFAULT_STEPS, eta: float | None = None,
           generator: torch.Generator | None = None,
           callback: Callable[[int, int], None] | None = None) -> torch.Tensor:
    """DDIM sampling of the HR image.

    Args:
        net: the denoiser (eval mode).
        scheduler: its scheduler (prediction type as trained).
        lr: (N, C, h, w) float in [-1, 1], C = ``net.in_channels``.
        size: (H, W) exact output size.
        steps: DDIM steps.
        eta: DDIM stochasticity of this call (None = the scheduler's default).
        generator: source of the initial noise (and of step noise when ``eta > 0``); on the
            same device as ``lr``.
        callback: called with (step done, steps) after each step.

    Returns:
        (N, C, H, W) float in [-1, 1] (not clamped).
    """
    n, c = lr.shape[:2]
    height, width = size
    up = F.interpolate(lr, size=(height, width), mode="bicubic", align_corners=False)
    scale = torch.full((n,), (height / lr.shape[-2] + width / lr.shape[-1]) / 2,
                       device=lr.device)
    x = torch.randn((n, c, height, width), generator=generator, device=lr.device,
                    dtype=lr.dtype)
    scheduler.set_timesteps(steps)
    timesteps = scheduler._check_ready()
    for i, t in enumerate(timesteps.tolist()):
        tt = torch.full((n,), t, device=lr.device, dtype=torch.long)
        pred = net(x, tt, up, lr, scale).to(x.dtype)
        x = scheduler.step(pred, t, x, eta=eta, generator=generator).prev_sample
        if callback is not None:
            callback(i + 1, len(timesteps))
    return up + x / net.residual_scale


__all__ = ["DEFAULT_STEPS", "sample"]
