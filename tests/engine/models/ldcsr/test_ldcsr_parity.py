"""Parity with the official LDCSR modules (fixtures in tests/data/ldcsr, see its README).

Tolerances from the README: 1e-4 absolute for images and single-module outputs, and
1e-4 * max(1, max|ref|) for the sampled latents.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from ldcsr_helpers import DATA, arr

from engine.models.diffusion_blocks import timestep_embedding
from engine.models.ldcsr.cond import encode_condition
from engine.models.ldcsr.sampler import sample_latent, super_resolve, unet_conditions
from engine.schedulers.ddpm import DDPMScheduler

TOL = 1e-4


def close(a: torch.Tensor, ref: np.ndarray, rel: bool = False) -> float:
    diff = float((a.detach() - arr(ref)).abs().max())
    bound = TOL * max(1.0, float(np.abs(ref).max())) if rel else TOL
    assert diff <= bound, f"max diff {diff} > {bound}"
    return diff


def size_of(npz: np.lib.npyio.NpzFile) -> tuple[int, int]:
    return tuple(int(v) for v in npz["out_size"])  # type: ignore[return-value]


@pytest.mark.parametrize("case", ["x4.0", "x2.6"])
def test_stage1_encoder(reduced_net, case):
    z = np.load(DATA / f"s1_encoder_{case}.npz")
    ae = reduced_net.first_stage_model
    with torch.no_grad():
        close(ae.encoder(arr(z["hr"]), arr(z["lr"])), z["enc_h"])
        mean, logvar = ae.encode(arr(z["hr"]), arr(z["lr"]))
        close(mean, z["mean"])
        close(logvar, z["logvar"])
        latent = arr(z["mean"]) + torch.exp(0.5 * arr(z["logvar"])) * arr(z["eps"])
        close(latent, z["z"])
        close(ae.decode(latent, arr(z["lr"]), tuple(z["hr"].shape[2:])), z["hr_rec_raw"])


@pytest.mark.parametrize("case", ["x2.0", "x2.6", "x4.0", "h2.5_w3.0"])
def test_stage1_decoder(reduced_net, case):
    z = np.load(DATA / f"s1_decoder_{case}.npz")
    ae = reduced_net.first_stage_model
    with torch.no_grad():
        close(ae.post_quant_conv(arr(z["z"])), z["z_post_quant"])
        out = ae.decode(arr(z["z"]), arr(z["lr"]), size_of(z))
    close(out, z["dec_raw"])
    close((out.clamp(-1, 1) + 1) / 2, z["sr01"])


def test_decoder_intermediates(reduced_net):
    z = np.load(DATA / "s1_decoder_x2.6.npz")
    dec = reduced_net.first_stage_model.decoder
    lr = arr(z["lr"])
    with torch.no_grad():
        close(dec.head(lr), z["dbg_head"])
        full = dec(reduced_net.first_stage_model.post_quant_conv(arr(z["z"])), lr, size_of(z))
        bicubic = torch.nn.functional.interpolate(lr, size_of(z), mode="bicubic",
                                                  align_corners=False)
    close(bicubic, z["bicubic_up"])
    close(full - bicubic, z["dbg_upsampler"])


@pytest.mark.parametrize("case", ["x2.0", "x3.4"])
def test_cond_and_fast_mode(reduced_net, case):
    z = np.load(DATA / f"cond_srkd_{case}.npz")
    with torch.no_grad():
        c = encode_condition(reduced_net.cond_stage_model, arr(z["lr"]), size_of(z))
        sr = super_resolve(reduced_net, arr(z["lr"]), size_of(z), mode="fast")
    close(c, z["c"])
    close(c / reduced_net.scale_factor, z["z_for_decoder"])
    close(sr, z["sr_kd_raw"])
    close((sr.clamp(-1, 1) + 1) / 2, z["sr_kd01"])


def test_unet_eps_uses_ema_weights(reduced_net):
    z = np.load(DATA / "unet_eps.npz")
    unet = reduced_net.unet
    with torch.no_grad():
        close(timestep_embedding(arr(z["t"]), unet.model_channels), z["dbg_temb_sin"])
        close(unet.embedding(arr(z["t"]), arr(z["scale"]), arr(z["osize"])), z["dbg_emb_total"])
        eps = unet(torch.cat([arr(z["x_t"]), arr(z["c"])], 1), arr(z["t"]), arr(z["scale"]),
                   arr(z["osize"]))
    close(eps, z["eps"])
    assert float((eps - arr(z["eps_nonema"])).abs().max()) > 1e-2


def test_full_sampling_with_replayed_noise(reduced_net):
    z = np.load(DATA / "sample_x3.0.npz")
    lr, size = arr(z["lr"]), size_of(z)
    scale, osize = unet_conditions(1, lr.shape[2], size[0], lr.device)
    assert int(scale) == int(z["unet_scale"]) and int(osize) == int(z["unet_osize"])
    with torch.no_grad():
        c = encode_condition(reduced_net.cond_stage_model, lr, size)
        close(c, z["c"])
        sched = DDPMScheduler.from_buffers(reduced_net.schedule())
        sched.set_timesteps(4)
        x = arr(z["noise_xT"])
        for t in (3, 2, 1, 0):
            close(x, z[f"x_in_t{t}"], rel=True)
            tt = torch.full((1,), t, dtype=torch.long)
            eps = reduced_net.unet(torch.cat([x, c], 1), tt, scale, osize)
            close(eps, z[f"eps_t{t}"], rel=True)
            x = sched.step(eps, t, x, noise=arr(z[f"noise_t{t}"])).prev_sample
            close(x, z[f"x_out_t{t}"], rel=True)
        close(x, z["z0_scaled"], rel=True)
        noise = [arr(z[k]) for k in ("noise_xT", "noise_t3", "noise_t2", "noise_t1",
                                     "noise_t0")]
        z0 = sample_latent(reduced_net, DDPMScheduler.from_buffers(reduced_net.schedule()), c,
                           lr.shape[2], size[0], noise=noise)
        close(z0, z["z0_scaled"], rel=True)
        sr = super_resolve(reduced_net, lr, size, mode="sample", noise=noise)
    close(sr, z["sr_raw"])
    close((sr.clamp(-1, 1) + 1) / 2, z["sr01"])
    close(super_resolve(reduced_net, lr, size, mode="fast"), z["sr_kd_raw"])
