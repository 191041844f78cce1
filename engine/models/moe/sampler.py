"""MoE-DiffSR inference: the DDIM sampling loop that joins the denoiser and the scheduler.

The network predicts the residual between the HR image and a *base* upsampling of the LR input,
scaled by ``net.residual_scale``. The base is given by the caller: bicubic for the first
generation of weights, the ``lmlte-default`` output for the refiner (v2). Sampling starts from
``temperature * N(0, I)`` on the output grid; ``temperature`` also scales the fresh noise of
``eta > 0`` steps. At ``temperature = 0`` the sampler is deterministic: it follows the
probability-flow (DDIM, eta = 0) path from the mean of the noise, which gives the model's
conditional-mean estimate of the residual; at 1 it draws from the learned distribution (the
usual "sampling temperature" of SR3 / Glow).
"""

from __future__ import annotations

from typing import Callable

import torch

from engine.models.moe.network import MoEDiffSRNet
from engine.schedulers.ddim import DDIMScheduler

DEFAULT_STEPS = 8
DEFAULT_TEMPERATURE = 1.0


@torch.no_grad()
def sample(net: MoEDiffSRNet, scheduler: DDIMScheduler, lr: torch.Tensor, up: torch.Tensor, *,
           steps: int = DEFAULT_STEPS, eta: float | None = None,
           temperature: float = DEFAULT_TEMPERATURE, generator: torch.Generator | None = None,
           callback: Callable[[int, int], None] | None = None) -> torch.Tensor:
    """DDIM sampling of the HR image.

    Args:
        net: the denoiser (eval mode).
        scheduler: its scheduler (prediction type as trained).
        lr: (N, C, h, w) float in [-1, 1], C = ``net.in_channels``.
        up: (N, C, H, W) the base upsampling of ``lr`` at the exact output size, in [-1, 1].
        steps: DDIM steps.
        eta: DDIM stochasticity of this call (None = the scheduler's default).
        temperature: scale of the sampling noise (0 = deterministic, 1 = the trained one).
        generator: source of the initial noise (and of step noise when ``eta > 0``); on the
            same device as ``lr``.
        callback: called with (step done, steps) after each step.

    Returns:
        (N, C, H, W) float in [-1, 1] (not clamped).
    """
    n = lr.shape[0]
    height, width = up.shape[-2:]
    scale = torch.full((n,), (height / lr.shape[-2] + width / lr.shape[-1]) / 2,
                       device=lr.device)
    # The noise is drawn even at temperature 0, so that a seed gives the same draws whatever the
    # temperature (only their weight changes).
    x = torch.randn(up.shape, generator=generator, device=lr.device, dtype=lr.dtype) * temperature
    scheduler.set_timesteps(steps)
    timesteps = scheduler._check_ready()
    for i, t in enumerate(timesteps.tolist()):
        tt = torch.full((n,), t, device=lr.device, dtype=torch.long)
        pred = net(x, tt, up, lr, scale).to(x.dtype)
        noise = None
        if (eta if eta is not None else scheduler.eta) > 0:
            noise = torch.randn(x.shape, generator=generator, device=x.device,
                                dtype=x.dtype) * temperature
        x = scheduler.step(pred, t, x, eta=eta, noise=noise).prev_sample
        if callback is not None:
            callback(i + 1, len(timesteps))
    return up + x / net.residual_scale


__all__ = ["DEFAULT_STEPS", "DEFAULT_TEMPERATURE", "sample"]
