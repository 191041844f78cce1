"""Ancestral DDPM sampling (Ho et al. 2020) for short schedules such as LDCSR's 4 steps.

The scheduler holds the schedule tensors (float32, shape (T,)) and the update rule, never a
network. With eps-parameterisation, one reverse step at timestep t is::

    x0   = sqrt(1 / abar_t) * x_t - sqrt(1 / abar_t - 1) * eps          (no clipping)
    mean = coef1_t * x0 + coef2_t * x_t
    x_{t-1} = mean + exp(0.5 * log_var_t) * z      (z ~ N(0, I); no noise at the last step)

Schedules come either from a checkpoint's buffers (:meth:`DDPMScheduler.from_buffers`, exact
official values) or from the linear-in-sqrt beta schedule of the official YAML
(:meth:`DDPMScheduler.linear`). ``set_timesteps(n)`` with n < T respaces the schedule
(abar kept at the chosen steps, betas re-derived), so fewer steps remain a valid DDPM chain.
"""

from __future__ import annotations

import numpy as np
import torch

from engine.schedulers.base import Scheduler, StepOutput, frozen_config

BUFFER_NAMES = ("betas", "alphas_cumprod", "alphas_cumprod_prev", "sqrt_alphas_cumprod",
                "sqrt_one_minus_alphas_cumprod", "log_one_minus_alphas_cumprod",
                "sqrt_recip_alphas_cumprod", "sqrt_recipm1_alphas_cumprod",
                "posterior_variance", "posterior_log_variance_clipped", "posterior_mean_coef1",
                "posterior_mean_coef2")


def linear_betas(timesteps: int, linear_start: float, linear_end: float) -> np.ndarray:
    """The LDM 'linear' schedule: betas linear in sqrt space (float64, shape (T,))."""
    return np.linspace(linear_start ** 0.5, linear_end ** 0.5, timesteps, dtype=np.float64) ** 2


def schedule_buffers(betas: np.ndarray) -> dict[str, torch.Tensor]:
    """The twelve official schedule buffers (float32) for ``betas`` (computed in float64)."""
    betas = np.asarray(betas, dtype=np.float64)
    alphas = 1.0 - betas
    abar = np.cumprod(alphas)
    abar_prev = np.append(1.0, abar[:-1])
    post_var = betas * (1.0 - abar_prev) / (1.0 - abar)
    values = {
        "betas": betas, "alphas_cumprod": abar, "alphas_cumprod_prev": abar_prev,
        "sqrt_alphas_cumprod": np.sqrt(abar), "sqrt_one_minus_alphas_cumprod": np.sqrt(1 - abar),
        "log_one_minus_alphas_cumprod": np.log(1 - abar),
        "sqrt_recip_alphas_cumprod": np.sqrt(1 / abar),
        "sqrt_recipm1_alphas_cumprod": np.sqrt(1 / abar - 1),
        "posterior_variance": post_var,
        "posterior_log_variance_clipped": np.log(np.maximum(post_var, 1e-20)),
        "posterior_mean_coef1": betas * np.sqrt(abar_prev) / (1 - abar),
        "posterior_mean_coef2": (1 - abar_prev) * np.sqrt(alphas) / (1 - abar),
    }
    return {k: torch.tensor(v, dtype=torch.float32) for k, v in values.items()}


class DDPMScheduler(Scheduler):
    """Ancestral DDPM scheduler over a short schedule (see the module docstring).

    Args:
        buffers: the schedule tensors, at least ``alphas_cumprod`` and the ones named in
            :data:`BUFFER_NAMES` used by :meth:`step` (shape (T,)).
    """

    def __init__(self, buffers: dict[str, torch.Tensor]) -> None:
        self.train_buffers = {k: v.detach().float().cpu() for k, v in buffers.items()
                              if k in BUFFER_NAMES}
        missing = [k for k in BUFFER_NAMES if k not in self.train_buffers]
        if missing:
            raise ValueError(f"schedule buffers missing: {missing}")
        self.config = frozen_config(num_train_timesteps=int(self.train_buffers["betas"].shape[0]))
        self.timesteps = None
        self._active: dict[str, torch.Tensor] = {}
        self._index: dict[int, int] = {}

    @property
    def num_train_timesteps(self) -> int:
        """T, steps of the schedule."""
        return int(self.config["num_train_timesteps"])

    @classmethod
    def from_buffers(cls, state: dict[str, torch.Tensor]) -> DDPMScheduler:
        """From a checkpoint state_dict's top-level schedule buffers (exact official values)."""
        return cls({k: state[k] for k in BUFFER_NAMES if k in state})

    @classmethod
    def linear(cls, timesteps: int = 4, linear_start: float = 0.1,
               linear_end: float = 0.99) -> DDPMScheduler:
        """From the YAML fields ``timesteps``, ``linear_start``, ``linear_end``."""
        return cls(schedule_buffers(linear_betas(timesteps, linear_start, linear_end)))

    def set_timesteps(self, num_inference_steps: int | None = None) -> None:
        """Choose the steps: all T (default) or ``n`` evenly spaced ones (respaced chain).

        Raises:
            ValueError: n < 1 or n > T.
        """
        n = self.num_train_timesteps if num_inference_steps is None else int(num_inference_steps)
        if not 1 <= n <= self.num_train_timesteps:
            raise ValueError(f"steps must be between 1 and {self.num_train_timesteps}")
        if n == self.num_train_timesteps:
            kept = list(range(n))
            self._active = dict(self.train_buffers)
        else:
            kept = sorted({int(round(x)) for x in
                           np.linspace(0, self.num_train_timesteps - 1, n)})
            abar = self.train_buffers["alphas_cumprod"].double().numpy()[kept]
            prev = np.append(1.0, abar[:-1])
            self._active = schedule_buffers(1.0 - abar / prev)
        self._index = {t: i for i, t in enumerate(kept)}
        self.timesteps = torch.tensor(kept[::-1], dtype=torch.long)

    def add_noise(self, x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """q(x_t | x_0) sample for per-item training timesteps ``t`` (B,) of the full schedule."""
        a = self.train_buffers["sqrt_alphas_cumprod"].to(x0.device)[t].view(-1, 1, 1, 1)
        b = self.train_buffers["sqrt_one_minus_alphas_cumprod"].to(x0.device)[t]
        return a.to(x0.dtype) * x0 + b.view(-1, 1, 1, 1).to(x0.dtype) * noise

    def step(self, model_output: torch.Tensor, timestep: int, sample: torch.Tensor, *,
             eta: float | None = None, generator: torch.Generator | None = None,
             noise: torch.Tensor | None = None) -> StepOutput:
        """One reverse step from ``sample`` = x_t with predicted noise ``model_output``.

        ``noise`` replays a recorded N(0, I) draw; otherwise it is drawn from ``generator``
        (on the sample's device). The last step (t = smallest) adds no noise and draws none.
        ``eta``: None or 1, the only value of ancestral sampling (its posterior variance is
        DDIM's sigma_t at eta = 1).

        Raises:
            ValueError: another ``eta`` (use :class:`~engine.schedulers.ddim.DDIMScheduler`).
        """
        if eta is not None and float(eta) != 1.0:
            raise ValueError(f"DDPM sampling is ancestral (eta = 1), got eta={eta}: use the "
                             "DDIM scheduler for other values")
        timesteps = self._check_ready()
        i = self._index[int(timestep)]
        buf = {k: float(v[i]) for k, v in self._active.items()}
        x0 = buf["sqrt_recip_alphas_cumprod"] * sample \
            - buf["sqrt_recipm1_alphas_cumprod"] * model_output
        mean = buf["posterior_mean_coef1"] * x0 + buf["posterior_mean_coef2"] * sample
        if int(timestep) != int(timesteps[-1]):
            if noise is None:
                noise = torch.randn(sample.shape, generator=generator, device=sample.device,
                                    dtype=sample.dtype)
            mean = mean + float(np.exp(0.5 * buf["posterior_log_variance_clipped"])) * noise
        return StepOutput(prev_sample=mean, pred_original_sample=x0)
