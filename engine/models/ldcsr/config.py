"""LDCSR hyperparameters: the official YAML fields as dataclasses.

The official code (github MoooJianG/LDCSR) builds its networks from two YAML files
(``first_stage_kl_*.yaml`` and ``second_stage_van_*.yaml``) through ``target``/``params``
entries. :func:`from_yaml_dict` reads that format (stage-2 file, or a stage-1 file alone) and
:meth:`LDCSRConfig.to_yaml_dict` writes it back, so a config embedded in one of our checkpoints
can be handed to the official tools unchanged. Only the fields that shape the networks and the
schedule are kept; training-only fields (loss, learning rate, monitor) are ignored on reading.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from engine.errors import ModelError


@dataclass
class EncoderConfig:
    """``modules.e2sr.s1_v6.GAPEncoder``: stage-1 encoder (6 ch in) or the LR encoder (3 ch)."""

    in_channels: int = 6
    ch: int = 64
    ch_mult: list[int] = field(default_factory=lambda: [1, 2, 2, 4])
    num_res_blocks: int = 2
    z_channels: int = 4
    double_z: bool = True


@dataclass
class DecoderConfig:
    """``modules.e2sr.s1_v6.GAPDecoder``: latent-guided LR-to-SR network."""

    ch: int = 64
    out_ch: int = 3
    ch_mult: list[int] = field(default_factory=lambda: [1, 1, 1, 1])
    num_res_blocks: int = 2
    in_channels: int = 3
    z_channels: int = 4
    num_sr_modules: list[int] = field(default_factory=lambda: [12, 12, 12, 12])


@dataclass
class UNetConfig:
    """``modules.diffusionmodules.openaimodel.UNetModel`` as LDCSR uses it."""

    in_channels: int = 8
    out_channels: int = 4
    model_channels: int = 64
    attention_resolutions: list[int] = field(default_factory=lambda: [8])
    num_res_blocks: int = 2
    channel_mult: list[int] = field(default_factory=lambda: [1, 2, 2, 4])
    num_head_channels: int = 32
    use_scale_embedding: bool = True
    use_osize_embedding: bool = True
    image_size: int = 64


@dataclass
class LDCSRConfig:
    """Whole model: stage 1 (encoder/decoder), LR encoder, UNet and the DDPM schedule."""

    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    decoder: DecoderConfig = field(default_factory=DecoderConfig)
    cond: EncoderConfig = field(default_factory=lambda: EncoderConfig(in_channels=3,
                                                                      double_z=False))
    unet: UNetConfig = field(default_factory=UNetConfig)
    embed_dim: int = 4
    timesteps: int = 4
    linear_start: float = 0.1
    linear_end: float = 0.99
    parameterization: str = "eps"
    conditioning_key: str = "hybrid_adm"

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict of the dataclass fields."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LDCSRConfig:
        """Inverse of :meth:`to_dict`."""
        d = dict(data)
        return cls(encoder=EncoderConfig(**d.pop("encoder")),
                   decoder=DecoderConfig(**d.pop("decoder")),
                   cond=EncoderConfig(**d.pop("cond")),
                   unet=UNetConfig(**d.pop("unet")), **d)

    def to_yaml_dict(self) -> dict[str, Any]:
        """The official stage-2 YAML structure (``model: {target, params}``)."""
        enc = {"target": "modules.e2sr.s1_v6.GAPEncoder",
               "params": {**asdict(self.encoder), "attn_resolutions": []}}
        dec = {"target": "modules.e2sr.s1_v6.GAPDecoder",
               "params": {**asdict(self.decoder), "attn_resolutions": []}}
        cond = {"target": "modules.e2sr.s1_v6.GAPEncoder",
                "params": {**asdict(self.cond), "attn_resolutions": []}}
        return {"model": {
            "target": "models.second_stage_van_v4.S2Model",
            "params": {
                "linear_start": self.linear_start, "linear_end": self.linear_end,
                "timesteps": self.timesteps, "parameterization": self.parameterization,
                "loss_type": "l2", "first_stage_key": "hr", "cond_stage_key": "lr",
                "image_size": self.unet.image_size, "scale_by_std": True,
                "channels": self.embed_dim, "cond_stage_trainable": True,
                "conditioning_key": self.conditioning_key,
                "unet_config": {"target": "modules.diffusionmodules.openaimodel.UNetModel",
                                "params": asdict(self.unet)},
                "first_stage_config": {"target": "models.first_stage_kl_atom.AutoencoderKL",
                                       "params": {"embed_dim": self.embed_dim, "ckpt_path": None,
                                                  "lossconfig": None, "encoder_config": enc,
                                                  "decoder_config": dec}},
                "cond_stage_config": cond,
            }}}


def _pick(cls: type, params: dict[str, Any]) -> Any:
    names = cls.__dataclass_fields__  # type: ignore[attr-defined]
    return cls(**{k: (list(v) if isinstance(v, (list, tuple)) else v)
                  for k, v in params.items() if k in names})


def from_yaml_dict(data: dict[str, Any]) -> LDCSRConfig:
    """Read an official stage-2 (or stage-1-only) YAML structure.

    Raises:
        ModelError: the structure has none of the expected entries.
    """
    try:
        params = data["model"]["params"]
    except (KeyError, TypeError) as exc:
        raise ModelError("the LDCSR config has no 'model: params:' section: give the official "
                         "second_stage_*.yaml (or first_stage_*.yaml) file") from exc
    first = params.get("first_stage_config", {}).get("params") if "first_stage_config" in params \
        else params  # a stage-1 file holds encoder/decoder at the top level
    try:
        cfg = LDCSRConfig(
            encoder=_pick(EncoderConfig, first["encoder_config"]["params"]),
            decoder=_pick(DecoderConfig, first["decoder_config"]["params"]),
            embed_dim=int(first.get("embed_dim", 4)),
        )
    except (KeyError, TypeError) as exc:
        raise ModelError("the LDCSR config lacks encoder_config/decoder_config: give the "
                         "official YAML file that matches the checkpoint") from exc
    if "unet_config" in params:
        cfg.unet = _pick(UNetConfig, params["unet_config"]["params"])
    if "cond_stage_config" in params:
        cfg.cond = _pick(EncoderConfig, params["cond_stage_config"]["params"])
    for key in ("timesteps", "linear_start", "linear_end", "parameterization",
                "conditioning_key"):
        if key in params:
            setattr(cfg, key, type(getattr(cfg, key))(params[key]))
    if cfg.conditioning_key != "hybrid_adm" or cfg.parameterization != "eps":
        raise ModelError(f"LDCSR config with conditioning_key={cfg.conditioning_key!r}, "
                         f"parameterization={cfg.parameterization!r} is not supported: use a "
                         "hybrid_adm / eps (second_stage_van) model")
    return cfg


def load_yaml(path: str | Path) -> LDCSRConfig:
    """Read an official YAML config file (raises ModelError when unreadable)."""
    import yaml

    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ModelError(f"cannot read LDCSR config '{path}' ({exc.__class__.__name__}): give "
                         "a readable official YAML file") from exc
    return from_yaml_dict(data)


def default_config() -> LDCSRConfig:
    """The paper's model (configs/first_stage_kl_v6.yaml + second_stage_van_v4.yaml)."""
    return LDCSRConfig()


def reduced_config() -> LDCSRConfig:
    """A narrow variant with the same classes and key names (fixture 'reduced' model)."""
    return LDCSRConfig(
        encoder=EncoderConfig(ch=32, ch_mult=[1, 1, 1, 2], num_res_blocks=1),
        decoder=DecoderConfig(ch=32, num_res_blocks=1, num_sr_modules=[2, 1, 1, 2]),
        cond=EncoderConfig(in_channels=3, ch=32, ch_mult=[1, 1, 1, 2], num_res_blocks=1,
                           double_z=False),
        unet=UNetConfig(model_channels=32, num_res_blocks=1, channel_mult=[1, 1, 1, 1],
                        num_head_channels=16),
    )
