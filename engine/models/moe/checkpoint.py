"""MoE-DiffSR checkpoints: detection and loading into an :class:`SRModel` (sampling: ``sampler``).

Checkpoint layout (ours, shaped like LMF's so the same tools read it)::

    {"model": {"name": "moe-diffsr", "args": {...MoEDiffSRNet kwargs...}, "sd": state_dict},
     "scheduler": {...DDIMScheduler kwargs...},      # optional, defaults below
     "base": {"family": "lmlte", "checkpoint": {...}},  # optional: the refined model (v2)
     "epoch"/"step", "config", ...}                   # optional training metadata

Without ``base`` the diffusion refines bicubic upsampling (the first weights); with it, the
output of the embedded base model (the refiner, v2). The base's weights travel inside the
checkpoint so that a refiner always meets the base it was trained on, even after the bundled
default model is retrained.

The model is band-wise (1 channel in, 1 out): a raster with any number of bands is processed
band by band, every band normalised to [0, 1] by the caller.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from engine.errors import ModelError, ParameterError
from engine.models.moe.network import MoEDiffSRNet
from engine.models.moe.sampler import DEFAULT_STEPS, DEFAULT_TEMPERATURE, sample
from engine.models.sr_model import SRModel
from engine.precision import autocast
from engine.schedulers.ddim import DDIMScheduler

NAME = "moe-diffsr"
DEFAULT_SCHEDULER: dict[str, Any] = {"num_train_timesteps": 1000, "beta_schedule": "cosine",
                                     "prediction_type": "v"}
#: Scale range of a model loaded without a card (the card's ``scale_range`` wins).
SCALE_RANGE = (1.0, 8.0)
DEFAULT_SEED = 0


def detect(checkpoint: dict[str, Any]) -> bool:
    """True for an ArbSR MoE-DiffSR checkpoint (``model.name == 'moe-diffsr'`` with weights)."""
    spec = checkpoint.get("model") if isinstance(checkpoint, dict) else None
    return isinstance(spec, dict) and spec.get("name") == NAME and isinstance(spec.get("sd"), dict)


def make_checkpoint(net: MoEDiffSRNet, scheduler: DDIMScheduler | None = None, *,
                    base: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    """The checkpoint dict of ``net`` (weights copied to the CPU).

    Args:
        base: ``{"family", "checkpoint"}`` of the model whose output the network refines
            (None: bicubic upsampling).
    """
    sd = {k: v.detach().cpu().clone() for k, v in net.state_dict().items()}
    sched = dict(scheduler.config) if scheduler is not None else dict(DEFAULT_SCHEDULER)
    ck = {"model": {"name": NAME, "args": dict(net.args), "sd": sd}, "scheduler": sched}
    if base is not None:
        ck["base"] = {"family": str(base["family"]), "checkpoint": base["checkpoint"]}
    return {**ck, **extra}


def base_upsample(base: SRModel | None, lr: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """What the diffusion refines: ``base``'s output, or bicubic without one; [-1, 1] in and out.

    The base sees the same [0, 1] values as it would alone, and its overshoot is kept
    (``clamp=False``): the residual model was trained on exactly this.
    """
    if base is None:
        return torch.nn.functional.interpolate(lr, size=size, mode="bicubic",
                                               align_corners=False)
    with torch.no_grad():
        return base.upscale((lr + 1) / 2, size, clamp=False).to(lr.dtype) * 2 - 1


@dataclass(kw_only=True)
class MoEModel(SRModel):
    """Loaded MoE-DiffSR model; :meth:`upscale` runs seeded DDIM sampling.

    Attributes:
        scheduler: the DDIM schedule of the checkpoint; ``eta`` is passed per call to its
            ``step``, so the model never changes it (reentrant).
        base: the model whose output is refined (None: bicubic upsampling).
    """

    scheduler: DDIMScheduler
    base: SRModel | None = None

    def upscale(self, lr: torch.Tensor, size: tuple[int, int], *, clamp: bool = True,
                seed: int | None = None, steps: int | None = None, eta: float | None = None,
                temperature: float | None = None, **kwargs: Any) -> torch.Tensor:
        """Super-resolve ``lr`` (B, C, h, w) in [0, 1] to exactly ``size`` (H, W).

        Args:
            lr: any channel count: each channel is super-resolved on its own (band-wise model).
            size: exact output (H, W), any fractional scale.
            clamp: clamp to [0, 1].
            seed: seed of the sampling noise (default 0: repeated runs give the same result).
                The noise is drawn by a ``torch.Generator`` on the model's device.
            steps: DDIM steps (default from the model card, else 8).
            eta: DDIM stochasticity of this call (default: the card's ``eta`` option, else 0).
            temperature: weight of the sampled detail, 0..1 (default: the card's
                ``temperature`` option, else 1); 0 gives the deterministic conditional mean
                (see ``sampler``).

        Returns:
            (B, C, H, W) float32.
        """
        if lr.dim() != 4:
            raise ParameterError(f"lr must be (B, C, h, w), got shape {tuple(lr.shape)}")
        height, width = int(size[0]), int(size[1])
        if height < 1 or width < 1:
            raise ParameterError(f"output size must be positive, got {size}")
        steps = int(steps if steps is not None else self.options.get("steps", DEFAULT_STEPS))
        if not 1 <= steps <= self.scheduler.num_train_timesteps:
            raise ParameterError(f"--steps must be between 1 and "
                                 f"{self.scheduler.num_train_timesteps}, got {steps}")
        seed = int(seed if seed is not None else self.options.get("seed", DEFAULT_SEED))
        dev = self.device
        b, c, h, w = lr.shape
        x = lr.to(dev, torch.float32).reshape(b * c, 1, h, w) * 2 - 1
        gen = torch.Generator(device=dev).manual_seed(seed)
        eta = float(eta if eta is not None else self.options.get("eta", 0.0))
        temperature = float(temperature if temperature is not None
                            else self.options.get("temperature", DEFAULT_TEMPERATURE))
        if not 0.0 <= temperature <= 1.0:
            raise ParameterError(f"--temperature must be between 0 and 1, got {temperature}")
        up = base_upsample(self.base, x, (height, width))
        half = dev.type == "cuda" and bool(self.options.get("half", True))
        with autocast(dev, torch.float16 if half else None):
            net: MoEDiffSRNet = self.module  # type: ignore[assignment]
            out = sample(net, self.scheduler, x, up, steps=steps, eta=eta,
                         temperature=temperature, generator=gen)
        out = ((out.float() + 1) / 2).reshape(b, c, height, width)
        return out.clamp(0, 1) if clamp else out

    def describe(self) -> dict[str, Any]:
        info = super().describe()
        info["steps"] = int(self.options.get("steps", DEFAULT_STEPS))
        info["temperature"] = float(self.options.get("temperature", DEFAULT_TEMPERATURE))
        info["base"] = self.base.family if self.base is not None else "bicubic"
        return info


def build(args: dict[str, Any]) -> MoEDiffSRNet:
    """A network from recorded hyperparameters."""
    return MoEDiffSRNet(**args)


def load(checkpoint: dict[str, Any], *, name: str, device: torch.device,
         config: str | None = None, options: dict[str, Any] | None = None,
         scale_range: tuple[float, float] = SCALE_RANGE) -> MoEModel:
    """Build the network from the checkpoint (strict), on ``device``, in eval mode.

    Raises:
        ModelError: not a MoE-DiffSR checkpoint, or weights that do not fit the recorded args.
    """
    if not detect(checkpoint):
        raise ModelError(f"'{name}' is not a MoE-DiffSR checkpoint (expected "
                         "{'model': {'name': 'moe-diffsr', 'args', 'sd'}})")
    spec = checkpoint["model"]
    try:
        net = build(dict(spec.get("args", {})))
        net.load_state_dict(spec["sd"], strict=True)
    except (TypeError, RuntimeError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0][:160]
        raise ModelError(f"MoE-DiffSR checkpoint '{name}' does not match its recorded "
                         f"architecture ({first}): re-export it with the training command") from exc
    net.to(device).eval()
    base = _load_base(checkpoint.get("base"), name=name, device=device)
    sched_cfg = {**DEFAULT_SCHEDULER, **dict(checkpoint.get("scheduler") or {})}
    scheduler = DDIMScheduler(**sched_cfg)
    # Context a tile needs: the LR encoder's radius plus the U-Net's convolutional reach, about
    # 20 half-resolution pixels (two levels of two-conv experts) = 40 output pixels, i.e. 20 LR
    # pixels at x2 and fewer above; size_multiple // 2 = 16 for the shipped widths. Routing
    # patches and per-patch GroupNorm follow each tile's own grid, and every tile has its own
    # noise, so tiles are never bit-identical to an untiled run: a larger halo would only add
    # cost (it grows with scale**2 in output pixels) without making them so.
    halo = net.encoder.receptive_radius + net.size_multiple // 2
    if base is not None:
        halo = max(halo, base.halo)
    return MoEModel(name=name, family="moe", module=net, in_channels=1, out_channels=1,
                    scale_range=scale_range, halo=int(halo), stochastic=True,
                    options=dict(options or {}), supports_grid=False, scheduler=scheduler,
                    base=base)


def _load_base(spec: Any, *, name: str, device: torch.device) -> SRModel | None:
    """The embedded base model of a refiner checkpoint (None when there is none)."""
    if spec is None:
        return None
    from engine.models.registry import family_support  # the registry imports this module

    if not isinstance(spec, dict) or not isinstance(spec.get("checkpoint"), dict):
        raise ModelError(f"MoE-DiffSR checkpoint '{name}' has a malformed 'base' entry: "
                         "re-export it with the training command")
    support = family_support(str(spec.get("family")))
    if support.load is None or support.detect is None or not support.detect(spec["checkpoint"]):
        raise ModelError(f"the base model inside MoE-DiffSR checkpoint '{name}' is not a "
                         f"'{spec.get('family')}' checkpoint: re-export it with the training "
                         "command")
    return support.load(spec["checkpoint"], name=f"{name} (base)", device=device, config=None,
                        options={})


__all__ = ["NAME", "MoEModel", "base_upsample", "build", "detect", "load", "make_checkpoint"]
