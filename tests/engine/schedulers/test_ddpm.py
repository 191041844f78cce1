"""DDPM scheduler: official schedule values, step rule, noise replay, respacing."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.schedulers.ddpm import BUFFER_NAMES, DDPMScheduler, linear_betas, schedule_buffers


def test_linear_schedule_is_the_official_one():
    betas = linear_betas(4, 0.1, 0.99)
    assert np.allclose(betas, [0.1, 0.2943, 0.5909, 0.99], atol=1e-4)
    buf = schedule_buffers(betas)
    assert set(buf) == set(BUFFER_NAMES)
    assert all(v.dtype == torch.float32 and v.shape == (4,) for v in buf.values())
    assert float(buf["posterior_variance"][0]) == 0.0


def test_step_before_set_timesteps_raises():
    s = DDPMScheduler.linear()
    with pytest.raises(RuntimeError):
        s.step(torch.zeros(1), 3, torch.zeros(1))


def test_step_rule_and_replayed_noise():
    s = DDPMScheduler.linear()
    s.set_timesteps(4)
    assert s.timesteps.tolist() == [3, 2, 1, 0]
    b = s.train_buffers
    x, eps, z = torch.randn(2, 4, 3, 3), torch.randn(2, 4, 3, 3), torch.randn(2, 4, 3, 3)
    out = s.step(eps, 2, x, noise=z)
    x0 = b["sqrt_recip_alphas_cumprod"][2] * x - b["sqrt_recipm1_alphas_cumprod"][2] * eps
    mean = b["posterior_mean_coef1"][2] * x0 + b["posterior_mean_coef2"][2] * x
    ref = mean + torch.exp(0.5 * b["posterior_log_variance_clipped"][2]) * z
    assert torch.allclose(out.prev_sample, ref, atol=1e-6)
    assert torch.allclose(out.pred_original_sample, x0, atol=1e-6)
    # last step: no noise, even when some is offered
    last = s.step(eps, 0, x, noise=z)
    assert torch.allclose(last.prev_sample, s.step(eps, 0, x).prev_sample)


def test_generator_reproducible():
    s = DDPMScheduler.linear()
    s.set_timesteps()
    x, eps = torch.randn(1, 4, 5, 5), torch.randn(1, 4, 5, 5)
    a = s.step(eps, 3, x, generator=torch.Generator().manual_seed(3)).prev_sample
    b = s.step(eps, 3, x, generator=torch.Generator().manual_seed(3)).prev_sample
    assert torch.equal(a, b)


def test_from_buffers_and_respacing():
    buf = schedule_buffers(linear_betas(4, 0.1, 0.99))
    s = DDPMScheduler.from_buffers({**buf, "scale_factor": torch.tensor(1.0)})
    s.set_timesteps(2)
    assert s.timesteps.tolist() == [3, 0]
    # The respaced chain keeps abar at the kept steps.
    assert torch.allclose(s._active["alphas_cumprod"], buf["alphas_cumprod"][[0, 3]])
    with pytest.raises(ValueError):
        s.set_timesteps(5)
    with pytest.raises(ValueError):
        s.set_timesteps(0)


def test_add_noise():
    s = DDPMScheduler.linear()
    x0, n = torch.ones(2, 1, 2, 2), torch.zeros(2, 1, 2, 2)
    xt = s.add_noise(x0, n, torch.tensor([0, 3]))
    assert torch.allclose(xt[1], s.train_buffers["sqrt_alphas_cumprod"][3] * x0[1])


def test_eta_other_than_ancestral_is_refused():
    s = DDPMScheduler.linear(4, 0.1, 0.99)
    s.set_timesteps(4)
    x = torch.zeros(1, 1, 2, 2)
    s.step(x, 3, x, eta=1.0, noise=torch.zeros_like(x))
    with pytest.raises(ValueError, match="DDIM"):
        s.step(x, 3, x, eta=0.0)
    with pytest.raises(TypeError):
        s.config["num_train_timesteps"] = 8  # type: ignore[index]
