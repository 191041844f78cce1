"""Scheduler interface shared by every diffusion sampler (kept apart from the networks).

A scheduler owns the noise schedule and the update rule, never a network. The sampling loop of a
family is: ``scheduler.set_timesteps(n)``; for ``t`` in ``scheduler.timesteps``:
``out = scheduler.step(model_output, t, sample, eta=eta, generator=g)``;
``sample = out.prev_sample``.

As in diffusers, a scheduler's settings are a frozen ``config`` (a read-only, JSON-able mapping)
and everything that varies per call (``eta``, the generator, replayed noise) is an argument of
:meth:`Scheduler.step`: a model never changes its scheduler's settings between calls.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Mapping

import torch


def frozen_config(**values: Any) -> Mapping[str, Any]:
    """A read-only view of a scheduler's construction arguments."""
    return MappingProxyType(dict(values))


@dataclass(frozen=True)
class StepOutput:
    """Result of one reverse step: x_{t-1} and the current estimate of x_0."""

    prev_sample: torch.Tensor
    pred_original_sample: torch.Tensor


class Scheduler:
    """Base class: ``set_timesteps`` must be called before ``step``."""

    timesteps: torch.Tensor | None = None
    config: Mapping[str, Any] = MappingProxyType({})

    def set_timesteps(self, num_inference_steps: int) -> None:  # pragma: no cover - interface
        raise NotImplementedError

    def step(self, model_output: torch.Tensor, timestep: int, sample: torch.Tensor, *,
             eta: float | None = None, generator: torch.Generator | None = None,
             noise: torch.Tensor | None = None) -> StepOutput:  # pragma: no cover - interface
        """One reverse step.

        ``eta`` is the stochasticity of this call (None = the scheduler's default); ``noise``
        replays a recorded draw instead of using ``generator``.
        """
        raise NotImplementedError

    def _check_ready(self) -> torch.Tensor:
        if self.timesteps is None:
            raise RuntimeError("call set_timesteps() before step()")
        return self.timesteps
