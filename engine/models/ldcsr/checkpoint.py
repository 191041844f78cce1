"""LDCSR checkpoints: the Lightning layouts, detection, and loading into an :class:`LDCSRModel`.

:func:`to_lightning_state_dict` adds the EMA copy of the UNet to :class:`LDCSRNet`'s state in the
official naming (``model_ema.`` + the parameter path with the dots removed) and
:func:`from_lightning_state_dict` maps it back: inference always uses the EMA weights when the
checkpoint has them.

Recognised layouts (``ckpt`` is the dict read from the file):

* stage-2 Lightning checkpoint (official or ours): ``ckpt["state_dict"]`` with the prefixes
  ``model.diffusion_model.``, ``model_ema.``, ``first_stage_model.``, ``cond_stage_model.`` and
  the schedule buffers. The networks are built from, in this order: the ``config=`` YAML, the
  official-format config our checkpoints embed under ``ckpt["arbsr_config"]``, or, when the
  weights have exactly the paper model's shapes, the default config.
* stage-1 checkpoint (``encoder.*``, ``decoder.*``, ``quant_conv.*``, ``post_quant_conv.*``,
  maybe ``loss.*``): detected so that the error says what it is; it needs the HR image and cannot
  super-resolve alone (:func:`load_first_stage` serves training).
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from engine.errors import ModelError, ParameterError
from engine.models.ldcsr.autoencoder import AutoencoderKL
from engine.models.ldcsr.config import (LDCSRConfig, default_config, from_yaml_dict,
                                        load_yaml)
from engine.models.ldcsr.network import LDCSRNet
from engine.models.ldcsr.sampler import MODES, super_resolve
from engine.models.sr_model import SRModel
from engine.schedulers.ddpm import DDPMScheduler

#: Scale range of a model loaded without a card (the paper's; the card's ``scale_range`` wins).
SCALE_RANGE = (1.0, 4.0)
#: Key of the official-format config dict embedded in checkpoints we write.
CONFIG_KEY = "arbsr_config"
EMA_PREFIX = "model_ema."
UNET_PREFIX = "model.diffusion_model."
#: Sampling: outputs smaller than this (per side) are computed on a reflect-padded input and
#: cropped: the UNet reflect-pads the latent of H // 8 px to a multiple of 8, which needs at
#: least 5 px (the official code raises below that).
MIN_OUT = 40
#: Sampling with a UNet whose bottom level has as many channels as GroupNorm groups (32) needs a
#: bottom map larger than 1x1 for a single image, i.e. a latent of at least 9 px (reduced configs).
MIN_OUT_NARROW_UNET = 72

_STAGE2_MARKERS = ("model.diffusion_model.", "first_stage_model.decoder.", "cond_stage_model.")
_STAGE1_MARKERS = ("encoder.conv_in.weight", "decoder.upsampler.fuse.0.weight",
                   "post_quant_conv.weight")


def ema_key(param_name: str) -> str:
    """'out.2.weight' (UNet parameter) -> 'model_ema.diffusion_modelout2weight'."""
    return EMA_PREFIX + ("diffusion_model." + param_name).replace(".", "")


def to_lightning_state_dict(net: LDCSRNet, ema: dict[str, torch.Tensor] | None = None, *,
                            decay: float = 0.9999, num_updates: int = 0,
                            ) -> OrderedDict[str, torch.Tensor]:
    """The official stage-2 state_dict: buffers, model.*, model_ema.*, first/cond stage.

    Args:
        ema: EMA values of the UNet parameters by UNet parameter name; the live weights when None.
    """
    own = net.state_dict()
    out: OrderedDict[str, torch.Tensor] = OrderedDict()
    for key, value in own.items():
        if not key.startswith(("model.", "first_stage_model.", "cond_stage_model.")):
            out[key] = value
    for key, value in own.items():
        if key.startswith("model."):
            out[key] = value
    out[EMA_PREFIX + "decay"] = torch.tensor(decay, dtype=torch.float32)
    out[EMA_PREFIX + "num_updates"] = torch.tensor(num_updates, dtype=torch.int32)
    for name, param in net.unet.named_parameters():
        src = ema[name] if ema is not None else param
        out[ema_key(name)] = src.detach().clone()
    for key, value in own.items():
        if key.startswith(("first_stage_model.", "cond_stage_model.")):
            out[key] = value
    return out


def from_lightning_state_dict(state: dict[str, torch.Tensor], net: LDCSRNet, *,
                              use_ema: bool = True) -> dict[str, torch.Tensor]:
    """The subset of ``state`` that :meth:`LDCSRNet.load_state_dict` takes (strictly).

    With ``use_ema`` and EMA entries present, the UNet gets the EMA values. Training-only
    entries (``model_ema.*``, ``loss.*``) are dropped; everything else is passed through so
    that a strict load reports any mismatch.

    Raises:
        KeyError: the EMA copy is incomplete (names the first missing key).
    """
    out = {k: v for k, v in state.items()
           if not k.startswith((EMA_PREFIX, "loss.", "model_ema"))}
    if "scale_factor" not in out:
        out["scale_factor"] = torch.tensor(1.0)  # scale_by_std: false keeps the factor 1
    has_ema = any(k.startswith(EMA_PREFIX + "diffusion_model") for k in state)
    if use_ema and has_ema:
        for name, _ in net.unet.named_parameters():
            key = ema_key(name)
            if key not in state:
                raise KeyError(key)
            out[UNET_PREFIX + name] = state[key]
    return out


def _state(ckpt: dict[str, Any]) -> dict[str, Any] | None:
    state = ckpt.get("state_dict")
    return state if isinstance(state, dict) else None


def is_stage2(ckpt: dict[str, Any]) -> bool:
    state = _state(ckpt)
    return state is not None and all(any(k.startswith(p) for k in state)
                                     for p in _STAGE2_MARKERS)


def is_stage1(ckpt: dict[str, Any]) -> bool:
    state = _state(ckpt)
    return state is not None and all(k in state for k in _STAGE1_MARKERS)


def detect(ckpt: dict[str, Any]) -> bool:
    """True for an LDCSR stage-2 Lightning checkpoint or a stage-1 autoencoder checkpoint."""
    return is_stage2(ckpt) or is_stage1(ckpt)


def resolve_config(ckpt: dict[str, Any], config: str | None) -> LDCSRConfig:
    """Config from the YAML path, the embedded config, or the default when shapes match."""
    if config:
        return load_yaml(config)
    embedded = ckpt.get(CONFIG_KEY)
    if isinstance(embedded, dict):
        return from_yaml_dict(embedded)
    cfg = default_config()
    state = _state(ckpt) or {}
    with torch.device("meta"):
        shapes = {k: tuple(v.shape) for k, v in LDCSRNet(cfg).state_dict().items()}
    prefix = "" if is_stage2(ckpt) else "first_stage_model."
    for key, value in state.items():
        full = prefix + key
        if full in shapes and tuple(value.shape) != shapes[full]:
            raise ModelError("this LDCSR checkpoint is not the paper's default size and embeds "
                             "no config: pass its YAML with --config (the official "
                             "second_stage_*.yaml it was trained with)")
    return cfg


def build(cfg: LDCSRConfig, state: dict[str, torch.Tensor], *, use_ema: bool = True,
          ) -> LDCSRNet:
    """An :class:`LDCSRNet` with ``state`` (official stage-2 layout) loaded strictly."""
    net = LDCSRNet(cfg)
    try:
        sd = from_lightning_state_dict(state, net, use_ema=use_ema)
        net.load_state_dict(sd, strict=True)
    except (KeyError, RuntimeError) as exc:
        first = str(exc).strip().splitlines()[0][:200]
        raise ModelError(f"the LDCSR checkpoint does not match its config ({first}): pass the "
                         "YAML it was trained with (--config)") from exc
    return net


def load_first_stage(ckpt: dict[str, Any], cfg: LDCSRConfig) -> AutoencoderKL:
    """The stage-1 autoencoder of a stage-1 (``encoder.*``) or stage-2 checkpoint."""
    state = _state(ckpt) or {}
    if is_stage2(ckpt):
        sub = {k[len("first_stage_model."):]: v for k, v in state.items()
               if k.startswith("first_stage_model.")}
    else:
        sub = {k: v for k, v in state.items() if not k.startswith("loss.")}
    ae = AutoencoderKL(cfg.encoder, cfg.decoder, cfg.embed_dim)
    try:
        ae.load_state_dict(sub, strict=True)
    except RuntimeError as exc:
        raise ModelError("the LDCSR stage-1 checkpoint does not match its config: pass the "
                         "YAML it was trained with (--config)") from exc
    return ae


@dataclass(kw_only=True)
class LDCSRModel(SRModel):
    """Loaded LDCSR model; :meth:`upscale` runs the sampler of ``mode`` (see the family docs).

    Attributes:
        scheduler: the DDPM schedule of the checkpoint (its settings never change per call).
    """

    scheduler: DDPMScheduler

    def upscale(self, lr: torch.Tensor, size: tuple[int, int], *, clamp: bool = True,
                seed: int | None = None, steps: int | None = None, mode: str | None = None,
                **kwargs: Any) -> torch.Tensor:
        """Super-resolve ``lr`` (B, 3, h, w) in [0, 1] to exactly ``size`` = (H, W).

        Args:
            seed: seeds a ``torch.Generator`` on the model's device (``sample`` mode); the same
                seed, input and device give the same output. None draws a fresh seed.
            steps: DDPM steps, 1..T (default T = 4 for the paper model).
            mode: ``sample`` (4-step ancestral sampling) or ``fast`` (LR-encoder latent decoded
                directly, deterministic: the official ``sr_kd`` output at every size the
                official code runs, see :func:`fast_mode_minimum`); default from the model card.

        Returns:
            (B, 3, H, W), in [0, 1] when ``clamp``.
        """
        mode = mode or self.options.get("mode", "sample")
        if mode not in MODES:
            raise ParameterError(f"unknown LDCSR mode '{mode}': use one of {list(MODES)}")
        steps = steps if steps is not None else self.options.get("steps")
        if steps is not None and not 1 <= int(steps) <= self.scheduler.num_train_timesteps:
            raise ParameterError(f"--steps {steps} is out of range: LDCSR samples with 1 to "
                                 f"{self.scheduler.num_train_timesteps} steps")
        if lr.ndim != 4 or lr.shape[1] != 3:
            raise ParameterError("LDCSR takes RGB input (B, 3, h, w)")
        net: LDCSRNet = self.module  # type: ignore[assignment]
        dev = self.device
        param_dtype = next(net.parameters()).dtype
        x = lr.to(device=dev, dtype=param_dtype) * 2.0 - 1.0
        out_h, out_w = int(size[0]), int(size[1])
        # Outputs too small for the official code to run: pad the input (reflect) until the
        # latent is big enough, crop afterwards. Elsewhere no padding: the fast mode is then
        # the official sr_kd output exactly.
        sy, sx = out_h / lr.shape[2], out_w / lr.shape[3]
        if mode == "fast":
            least_h, least_w = fast_mode_minimum(net, out_h, out_w)
        else:
            least_h = least_w = MIN_OUT_NARROW_UNET if net.unet.bottom_channels <= 32 else MIN_OUT
        pad_h = int(math.ceil((least_h - out_h) / sy)) + 1 if out_h < least_h else 0
        pad_w = int(math.ceil((least_w - out_w) / sx)) + 1 if out_w < least_w else 0
        run_h, run_w = out_h, out_w
        if pad_h or pad_w:
            x = _pad(x, pad_h, pad_w)
            run_h, run_w = out_h + round(pad_h * sy), out_w + round(pad_w * sx)
        generator = None
        if mode == "sample":
            generator = torch.Generator(device=dev)
            generator.manual_seed(int(seed) if seed is not None else
                                  int(torch.randint(0, 2 ** 62, (1,)).item()))
        with torch.no_grad():
            raw = super_resolve(net, x, (run_h, run_w), mode=mode, scheduler=self.scheduler,
                                steps=None if steps is None else int(steps),
                                generator=generator)
        out = ((raw[:, :, :out_h, :out_w].float() + 1.0) / 2.0)
        return out.clamp(0.0, 1.0) if clamp else out


def fast_mode_minimum(net: LDCSRNet, out_h: int, out_w: int) -> tuple[int, int]:
    """Smallest (H, W) at which the official sr_kd path runs on one image, given (out_h, out_w).

    That path (LR encoder, then decoder; no UNet, no padding) has two limits: each 3x3 stride-2
    step of the LR encoder needs 2 px (so 2 ** steps px, 8 for LDCSR), and a GroupNorm raises
    when a group holds a single value, i.e. on a 1 x 1 latent where a layer at latent
    resolution has one channel per group (32 channels, as in reduced configs). Counted per
    image, so that an image's output does not depend on the rest of its batch.
    """
    enc = net.cond_stage_model
    steps = enc.num_resolutions - 1
    least = 2 ** steps
    at_latent = (enc.down[-1], enc.mid, enc.norm_out, net.first_stage_model.decoder.mid,
                 net.first_stage_model.decoder.up)
    per_group = min(m.num_channels // m.num_groups for part in at_latent
                    for m in part.modules() if isinstance(m, torch.nn.GroupNorm))
    latent = (max(out_h, least) >> steps) * (max(out_w, least) >> steps)
    if latent * per_group < 2:
        return 2 * least, least  # a latent two pixels high
    return least, least


def _pad(x: torch.Tensor, pad_h: int, pad_w: int) -> torch.Tensor:
    """Reflect-pad bottom/right, falling back to replicate where the image is too small."""
    while pad_h or pad_w:
        ph, pw = min(pad_h, x.shape[2] - 1), min(pad_w, x.shape[3] - 1)
        if ph <= 0 and pad_h or pw <= 0 and pad_w:
            return F.pad(x, (0, pad_w, 0, pad_h), mode="replicate")
        x = F.pad(x, (0, pw, 0, ph), mode="reflect")
        pad_h, pad_w = pad_h - ph, pad_w - pw
    return x


def load(ckpt: dict[str, Any], *, name: str, device: torch.device, config: str | None = None,
         options: dict[str, Any] | None = None,
         scale_range: tuple[float, float] = SCALE_RANGE) -> LDCSRModel:
    """Build the LDCSR model of ``ckpt`` on ``device`` (EMA UNet weights when present).

    Options: ``mode`` (``sample`` | ``fast``), ``steps``, ``use_ema`` (default True),
    ``half`` (float16 networks; CUDA only, ignored on CPU).

    Raises:
        ModelError: a stage-1-only checkpoint, or weights that do not match the config.
    """
    options = dict(options or {})
    if not is_stage2(ckpt):
        raise ModelError("this is an LDCSR stage-1 (autoencoder) checkpoint: it needs the HR "
                         "image and cannot super-resolve alone; give the stage-2 checkpoint, or "
                         "train stage 2 from it (python -m engine train --config "
                         "ldcsr-demo-stage2.yaml --init STAGE1.ckpt)")
    cfg = resolve_config(ckpt, config)
    state = _state(ckpt) or {}
    net = build(cfg, state, use_ema=bool(options.pop("use_ema", True)))
    scheduler = DDPMScheduler.from_buffers(net.schedule())
    half = bool(options.pop("half", False)) and device.type == "cuda"
    net = net.to(device).eval()
    if half:
        net = net.half()
    mode = options.get("mode", "sample")
    return LDCSRModel(name=name, family="ldcsr", module=net, in_channels=3, out_channels=3,
                      scale_range=scale_range, halo=16, stochastic=mode == "sample",
                      options=options, supports_grid=False, scheduler=scheduler)
