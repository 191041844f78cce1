"""Scheduler interface shared by every diffusion sampler (kept apart from the networks).

A scheduler owns the noise schedule and the update rule, never a network. The sampling loop of a
family is: ``scheduler.set_timesteps(n)``; for ``t`` in ``scheduler.timesteps``:
``out = scheduler.step(model_output, t, sample, generator=g)``; ``sample = out.prev_sample``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class StepOutput:
    """Result of one reverse step: x_{t-1} and the current estimate of x_0."""

    prev_sample: torch.Tensor
    pred_original_sample: torch.Tensor


class Scheduler:
    """Base class: ``set_timesteps`` must be called before ``step``."""

    timesteps: torch.Tensor | None = None

    def set_timesteps(self, num_inference_steps: int) -> None:  # pragma: no cover - interface
        raise NotImplementedError

    def step(self, model_output: torch.Tensor, timestep: int, sample: torch.Tensor, *,
             generator: torch.Generator | None = None,
             noise: torch.Tensor | None = None) -> StepOutput:  # pragma: no cover - interface
        """One reverse step. ``noise`` replays a recorded draw instead of using ``generator``."""
        raise NotImplementedError

    def _check_ready(self) -> torch.Tensor:
        if self.timesteps is None:
            raise RuntimeError("call set_timesteps() before step()")
        return self.timesteps
