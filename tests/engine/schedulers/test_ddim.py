"""DDIM scheduler: shared scheduler checks (diffusers style, dummy model, no weights)."""

from __future__ import annotations

import math

import pytest
import torch

from engine.schedulers.base import StepOutput
from engine.schedulers.ddim import DDIMScheduler, make_betas


def dummy_model(sample: torch.Tensor, t: int) -> torch.Tensor:
    """A deterministic stand-in for a network."""
    return 0.1 * sample * (t + 1) / 1000


@pytest.mark.parametrize("schedule", ["linear", "cosine"])
def test_betas_valid(schedule: str) -> None:
    betas = make_betas(schedule, 1000)
    assert betas.shape == (1000,)
    assert float(betas.min()) > 0 and float(betas.max()) <= 0.999


def test_unknown_settings_raise() -> None:
    with pytest.raises(ValueError):
        make_betas("quadratic", 10)
    with pytest.raises(ValueError):
        DDIMScheduler(prediction_type="sample")


def test_step_before_set_timesteps_raises() -> None:
    s = DDIMScheduler()
    with pytest.raises(RuntimeError, match="set_timesteps"):
        s.step(torch.zeros(1), 999, torch.zeros(1))


@pytest.mark.parametrize("n", [1, 4, 20, 1000])
def test_timesteps_trailing(n: int) -> None:
    s = DDIMScheduler(num_train_timesteps=1000)
    s.set_timesteps(n)
    ts = s.timesteps.tolist()
    assert len(ts) == n and ts[0] == 999 and ts == sorted(ts, reverse=True)
    assert len(set(ts)) == n and min(ts) >= 0
    with pytest.raises(ValueError):
        s.set_timesteps(0)


@pytest.mark.parametrize("prediction", ["epsilon", "v"])
def test_add_noise_and_target_invert(prediction: str) -> None:
    """x_0 and eps recovered from (x_t, perfect prediction) at any timestep."""
    s = DDIMScheduler(prediction_type=prediction, beta_schedule="linear")
    g = torch.Generator().manual_seed(0)
    x0, eps = torch.randn(3, 1, 8, 8, generator=g), torch.randn(3, 1, 8, 8, generator=g)
    for t in (0, 10, 500, 990):
        tt = torch.full((3,), t)
        x_t = s.add_noise(x0, eps, tt)
        out = s.training_target(x0, eps, tt)
        px0, peps = s.predict_x0_eps(out, t, x_t)
        torch.testing.assert_close(px0, x0, atol=2e-3, rtol=1e-3)
        torch.testing.assert_close(peps, eps, atol=2e-3, rtol=1e-3)


def test_perfect_model_recovers_x0() -> None:
    """With the exact v of a fixed x_0, DDIM (eta=0) lands on x_0 at any step count."""
    s = DDIMScheduler(prediction_type="v")
    x0 = torch.linspace(-1, 1, 64).reshape(1, 1, 8, 8)
    for n in (1, 5, 20):
        s.set_timesteps(n)
        x = torch.randn(1, 1, 8, 8, generator=torch.Generator().manual_seed(1))
        for t in s.timesteps.tolist():
            a = s.alphas_cumprod[t]
            eps = (x - a.sqrt() * x0) / (1 - a).sqrt()
            v = a.sqrt() * eps - (1 - a).sqrt() * x0
            out = s.step(v.float(), t, x)
            assert isinstance(out, StepOutput)
            x = out.prev_sample
        torch.testing.assert_close(x, x0, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("eta", [0.0, 1.0])
def test_step_deterministic_with_seed(eta: float) -> None:
    def run(seed: int) -> torch.Tensor:
        s = DDIMScheduler(eta=eta)
        s.set_timesteps(10)
        g = torch.Generator().manual_seed(seed)
        x = torch.randn(2, 1, 6, 6, generator=g)
        for t in s.timesteps.tolist():
            x = s.step(dummy_model(x, t), t, x, generator=g).prev_sample
        return x

    torch.testing.assert_close(run(3), run(3), rtol=0, atol=0)
    assert not torch.equal(run(3), run(4))


def test_replayed_noise_equals_generator_draw() -> None:
    s = DDIMScheduler(eta=1.0)
    s.set_timesteps(5)
    x = torch.randn(1, 1, 4, 4, generator=torch.Generator().manual_seed(0))
    t = int(s.timesteps[1])
    g = torch.Generator().manual_seed(7)
    a = s.step(dummy_model(x, t), t, x, generator=g).prev_sample
    noise = torch.randn(x.shape, generator=torch.Generator().manual_seed(7))
    b = s.step(dummy_model(x, t), t, x, noise=noise).prev_sample
    torch.testing.assert_close(a, b)


def test_clip_sample_bounds_x0() -> None:
    s = DDIMScheduler(prediction_type="epsilon", clip_sample=1.0)
    s.set_timesteps(4)
    t = int(s.timesteps[-1])
    out = s.step(torch.full((1, 1, 2, 2), -50.0), t, torch.full((1, 1, 2, 2), 5.0))
    assert float(out.pred_original_sample.abs().max()) <= 1.0 + 1e-6
    assert math.isfinite(float(out.prev_sample.abs().max()))


def test_config_round_trip() -> None:
    s = DDIMScheduler(beta_schedule="linear", prediction_type="epsilon", eta=0.3)
    s2 = DDIMScheduler(**s.config)
    torch.testing.assert_close(s.alphas_cumprod, s2.alphas_cumprod)
    assert s2.eta == 0.3 and s2.prediction_type == "epsilon"


def test_config_is_frozen_and_eta_is_a_step_argument() -> None:
    s = DDIMScheduler(eta=0.0)
    with pytest.raises(TypeError):
        s.config["eta"] = 1.0  # type: ignore[index]
    s.set_timesteps(5)
    x = torch.randn(1, 1, 4, 4, generator=torch.Generator().manual_seed(0))
    t = int(s.timesteps[1])
    noisy = s.step(dummy_model(x, t), t, x, eta=1.0,
                   generator=torch.Generator().manual_seed(7)).prev_sample
    want = DDIMScheduler(eta=1.0)
    want.set_timesteps(5)
    ref = want.step(dummy_model(x, t), t, x, generator=torch.Generator().manual_seed(7))
    torch.testing.assert_close(noisy, ref.prev_sample, rtol=0, atol=0)
    assert s.eta == 0.0 and s.config["eta"] == 0.0  # the call did not change the scheduler
