"""LDCSR inference: the short sampling loop that joins LR encoder, UNet, scheduler and decoder.

Two modes, both from an LR image in [-1, 1] to an exact output size:

* ``sample``: x_T ~ N(0, I) on the conditioning latent's grid, then the DDPM steps with
  ``eps = UNet(cat([x_t, c]), t, int(H / h), H)``; the final latent / ``scale_factor`` is decoded.
* ``fast``: the LR encoder's latent ``c / scale_factor`` decoded directly (deterministic; the
  official ``sr_kd`` output).

Random draws come from one ``torch.Generator`` in a fixed order (x_T, then one per step but the
last), so a seed gives the same result on the same device; ``noise=`` replays recorded draws.
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch

from engine.models.ldcsr.cond import encode_condition
from engine.models.ldcsr.network import LDCSRNet
from engine.schedulers.ddpm import DDPMScheduler

MODES = ("sample", "fast")


def unet_conditions(batch: int, lr_height: int, out_height: int, device: torch.device,
                    ) -> tuple[torch.Tensor, torch.Tensor]:
    """(scale, osize) int64 (B,): truncated integer scale out_H / lr_H and out_H."""
    scale = torch.full((batch,), int(out_height / lr_height), dtype=torch.long, device=device)
    osize = torch.full((batch,), int(out_height), dtype=torch.long, device=device)
    return scale, osize


@torch.no_grad()
def sample_latent(net: LDCSRNet, scheduler: DDPMScheduler, c: torch.Tensor, lr_height: int,
                  out_height: int, *, steps: int | None = None,
                  generator: torch.Generator | None = None,
                  noise: Sequence[torch.Tensor] | None = None,
                  on_step: Callable[[int, int], None] | None = None) -> torch.Tensor:
    """Reverse diffusion in the scaled latent space.

    Args:
        c: conditioning latent (B, 4, h', w') from the LR encoder.
        noise: replayed draws: x_T first, then one per step (the last one may be omitted).
        on_step: called with (done, total) after each step.

    Returns:
        z0 (B, 4, h', w'), scaled latent.
    """
    scheduler.set_timesteps(steps)
    draws = list(noise) if noise is not None else None
    if draws:
        x = draws.pop(0).to(c)
    else:
        x = torch.randn(c.shape, generator=generator, device=c.device, dtype=c.dtype)
    scale, osize = unet_conditions(c.shape[0], lr_height, out_height, c.device)
    timesteps = scheduler.timesteps
    assert timesteps is not None
    for i, t in enumerate(timesteps.tolist()):
        tt = torch.full((c.shape[0],), t, dtype=torch.long, device=c.device)
        eps = net.unet(torch.cat([x, c], dim=1), tt, scale, osize)
        replay = draws.pop(0).to(c) if draws else None
        x = scheduler.step(eps, t, x, generator=generator, noise=replay).prev_sample
        if on_step is not None:
            on_step(i + 1, len(timesteps))
    return x


@torch.no_grad()
def super_resolve(net: LDCSRNet, lr: torch.Tensor, size: tuple[int, int], *,
                  mode: str = "sample", scheduler: DDPMScheduler | None = None,
                  steps: int | None = None, generator: torch.Generator | None = None,
                  noise: Sequence[torch.Tensor] | None = None) -> torch.Tensor:
    """SR image (B, 3, H, W), unclamped, in about [-1, 1] from ``lr`` (B, 3, h, w) in [-1, 1]."""
    if mode not in MODES:
        raise ValueError(f"unknown LDCSR mode {mode!r}")
    size = (int(size[0]), int(size[1]))
    c = encode_condition(net.cond_stage_model, lr, size)
    if mode == "fast":
        z = c
    else:
        sched = scheduler or DDPMScheduler.from_buffers(net.schedule())
        z = sample_latent(net, sched, c, lr.shape[2], size[0], steps=steps,
                          generator=generator, noise=noise)
    return net.first_stage_model.decode(z / net.scale_factor, lr, size)
