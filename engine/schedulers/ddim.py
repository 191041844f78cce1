"""DDIM sampler (Song et al. 2021, "Denoising Diffusion Implicit Models") plus DDPM training noise.

The scheduler owns the noise schedule and the update rule; it never holds a network. One object
serves both sides of a diffusion model:

* training (DDPM, Ho et al. 2020): :meth:`DDIMScheduler.add_noise` draws ``x_t`` from
  ``q(x_t | x_0)``
  (eq. 4 of Ho et al.) and :meth:`DDIMScheduler.training_target` gives what the network regresses:
  ``eps`` (epsilon-prediction) or ``v = sqrt(a_t) eps - sqrt(1 - a_t) x_0`` (v-prediction,
  Salimans & Ho 2022, eq. 9 / appendix D);
* sampling: ``set_timesteps(n)`` picks ``n`` of the ``num_train_timesteps`` steps ("trailing"
  spacing, so the first step is at ``t = T - 1`` where the sample is pure noise; Lin et al. 2024
  table 2 shows the "leading" spacing wastes the first step at few steps), then ``step`` applies
  eq. 12 of Song et al. with ``sigma_t = eta * sqrt((1 - a_prev) / (1 - a_t)) *
  sqrt(1 - a_t / a_prev)`` (eq. 16). ``eta = 0`` (default) is deterministic given the initial
  noise; ``eta > 0`` draws fresh noise from the caller's ``generator`` (or replays ``noise``).

Here ``a_t`` is the cumulative product of ``1 - beta`` ("alphas_cumprod").
"""

from __future__ import annotations

import math
import torch

from engine.schedulers.base import Scheduler, StepOutput, frozen_config


def make_betas(schedule: str, num_train_timesteps: int, *, beta_start: float = 1e-4,
               beta_end: float = 0.02) -> torch.Tensor:
    """The beta schedule as a float64 tensor of length ``num_train_timesteps``.

    ``linear``: Ho et al. 2020; ``cosine``: Nichol & Dhariwal 2021 eq. 17 (s = 0.008, betas
    clipped at 0.999).
    """
    if schedule == "linear":
        return torch.linspace(beta_start, beta_end, num_train_timesteps, dtype=torch.float64)
    if schedule == "cosine":
        s = 0.008

        def f(t: float) -> float:
            return math.cos((t / num_train_timesteps + s) / (1 + s) * math.pi / 2) ** 2

        betas = [min(1 - f(i + 1) / f(i), 0.999) for i in range(num_train_timesteps)]
        return torch.tensor(betas, dtype=torch.float64)
    raise ValueError(f"unknown beta schedule '{schedule}': use 'linear' or 'cosine'")


def _bcast(values: torch.Tensor, t: torch.Tensor | int, like: torch.Tensor) -> torch.Tensor:
    """values[t] shaped (B, 1, 1, ...) to broadcast against ``like`` (float32 on its device)."""
    if not torch.is_tensor(t):
        t = torch.tensor([int(t)])
    out = values.to(like.device)[t.to(like.device).long()].to(like.dtype)
    return out.reshape(-1, *([1] * (like.dim() - 1)))


class DDIMScheduler(Scheduler):
    """DDIM reverse steps and DDPM forward noising on one schedule.

    Args:
        num_train_timesteps: T, steps of the training (forward) process.
        beta_schedule: ``"cosine"`` or ``"linear"``.
        prediction_type: what the network outputs: ``"epsilon"`` or ``"v"``.
        eta: default DDIM stochasticity of :meth:`step` (0 = deterministic ODE-like sampling).
        clip_sample: clamp the predicted ``x_0`` to [-clip_sample, clip_sample] (None = off).
    """

    def __init__(self, *, num_train_timesteps: int = 1000, beta_schedule: str = "cosine",
                 prediction_type: str = "v", eta: float = 0.0,
                 clip_sample: float | None = None, beta_start: float = 1e-4,
                 beta_end: float = 0.02) -> None:
        if prediction_type not in ("epsilon", "v"):
            raise ValueError(f"unknown prediction type '{prediction_type}': use 'epsilon' or 'v'")
        self.config = frozen_config(
            num_train_timesteps=num_train_timesteps, beta_schedule=beta_schedule,
            prediction_type=prediction_type, eta=eta, clip_sample=clip_sample,
            beta_start=beta_start, beta_end=beta_end)
        self.betas = make_betas(beta_schedule, num_train_timesteps, beta_start=beta_start,
                                beta_end=beta_end)
        self.alphas_cumprod = torch.cumprod(1.0 - self.betas, dim=0)
        self.timesteps = None

    @property
    def num_train_timesteps(self) -> int:
        """T, steps of the training (forward) process."""
        return int(self.config["num_train_timesteps"])

    @property
    def prediction_type(self) -> str:
        """What the network outputs: ``"epsilon"`` or ``"v"``."""
        return str(self.config["prediction_type"])

    @property
    def eta(self) -> float:
        """Default DDIM stochasticity of :meth:`step` (a call may pass its own)."""
        return float(self.config["eta"])

    @property
    def clip_sample(self) -> float | None:
        """Clamp of the predicted ``x_0`` (None = off)."""
        return self.config["clip_sample"]

    # ---------------------------------------------------------------- training (DDPM) side
    def add_noise(self, x0: torch.Tensor, noise: torch.Tensor,
                  t: torch.Tensor) -> torch.Tensor:
        """x_t = sqrt(a_t) x_0 + sqrt(1 - a_t) eps (Ho et al. eq. 4); ``t`` (B,) int64."""
        a = _bcast(self.alphas_cumprod, t, x0)
        return a.sqrt() * x0 + (1 - a).sqrt() * noise

    def training_target(self, x0: torch.Tensor, noise: torch.Tensor,
                        t: torch.Tensor) -> torch.Tensor:
        """The regression target of the network at (x_0, eps, t) for ``prediction_type``."""
        if self.prediction_type == "epsilon":
            return noise
        a = _bcast(self.alphas_cumprod, t, x0)
        return a.sqrt() * noise - (1 - a).sqrt() * x0

    def sample_timesteps(self, batch: int, *, generator: torch.Generator | None = None,
                         device: torch.device | str = "cpu") -> torch.Tensor:
        """Uniform training timesteps (B,) int64 in [0, T)."""
        t = torch.randint(0, self.num_train_timesteps, (batch,), generator=generator)
        return t.to(device)

    # ---------------------------------------------------------------- sampling (DDIM) side
    def set_timesteps(self, num_inference_steps: int) -> None:
        """Choose ``num_inference_steps`` timesteps, descending, first one ``T - 1``."""
        n = int(num_inference_steps)
        if not 1 <= n <= self.num_train_timesteps:
            raise ValueError(f"steps must be between 1 and {self.num_train_timesteps}, got {n}")
        ratio = self.num_train_timesteps / n
        ts = torch.round(torch.arange(self.num_train_timesteps, 0, -ratio)).long() - 1
        self.timesteps = ts[:n]
        self.num_inference_steps = n

    def _prev_timestep(self, timestep: int) -> int:
        ts = self._check_ready().tolist()
        i = ts.index(int(timestep))
        return ts[i + 1] if i + 1 < len(ts) else -1

    def predict_x0_eps(self, model_output: torch.Tensor, timestep: int,
                       sample: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(x_0, eps) implied by the network output at ``timestep``."""
        a = self.alphas_cumprod[int(timestep)].item()
        sa, s1a = math.sqrt(a), math.sqrt(1 - a)
        if self.prediction_type == "epsilon":
            eps = model_output
            x0 = (sample - s1a * eps) / sa
        else:  # v = sa * eps - s1a * x0  =>  x0 = sa * x_t - s1a * v ; eps = s1a * x_t + sa * v
            x0 = sa * sample - s1a * model_output
            eps = s1a * sample + sa * model_output
        if self.clip_sample is not None:
            x0 = x0.clamp(-self.clip_sample, self.clip_sample)
            eps = (sample - sa * x0) / s1a  # keep eps consistent with the clipped x0
        return x0, eps

    def step(self, model_output: torch.Tensor, timestep: int, sample: torch.Tensor, *,
             eta: float | None = None, generator: torch.Generator | None = None,
             noise: torch.Tensor | None = None) -> StepOutput:
        """One DDIM step from ``timestep`` to the next chosen timestep (eq. 12 of Song et al.).

        ``eta`` (None = ``config["eta"]``) sets sigma_t (eq. 16) for this call only.
        """
        eta = self.eta if eta is None else float(eta)
        prev_t = self._prev_timestep(timestep)
        a_t = self.alphas_cumprod[int(timestep)].item()
        a_prev = self.alphas_cumprod[prev_t].item() if prev_t >= 0 else 1.0
        x0, eps = self.predict_x0_eps(model_output, timestep, sample)
        sigma = eta * math.sqrt((1 - a_prev) / (1 - a_t)) * math.sqrt(1 - a_t / a_prev)
        direction = math.sqrt(max(1 - a_prev - sigma ** 2, 0.0)) * eps
        prev = math.sqrt(a_prev) * x0 + direction
        if sigma > 0:
            if noise is None:
                noise = torch.randn(sample.shape, generator=generator, dtype=sample.dtype,
                                    device=sample.device if generator is None
                                    else generator.device)
            prev = prev + sigma * noise.to(sample.device)
        return StepOutput(prev_sample=prev, pred_original_sample=x0)


__all__ = ["DDIMScheduler", "make_betas"]
