"""LDCSR: latent-diffusion continuous-scale super-resolution of remote-sensing images.

Paper: arXiv 2410.22830; official code github.com/MoooJianG/LDCSR (MIT). Parts:
``config`` (official YAML fields), ``autoencoder`` (stage 1), ``cond`` (LR encoder),
``denoiser`` (UNet), ``network`` (the whole model), ``sampler`` (inference loop),
``checkpoint`` (Lightning layouts, detection, loading), ``family`` (the registry entry). The DDPM
scheduler is ``engine.schedulers.ddpm``.
"""

from __future__ import annotations

from engine.models.ldcsr.config import LDCSRConfig, default_config, load_yaml, reduced_config
from engine.models.ldcsr.network import LDCSRNet

__all__ = ["LDCSRConfig", "LDCSRNet", "default_config", "load_yaml", "reduced_config"]
