"""Shared helpers of the LDCSR tests: the reduced fixture model in the official layout."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

DATA = Path(__file__).resolve().parents[3] / "data" / "ldcsr"


def arr(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.asarray(a))


def official_state(nonema_fill: float | None = 0.0) -> dict[str, torch.Tensor]:
    """The fixture's full stage-2 Lightning state_dict, rebuilt from the two stored files.

    The stored stage-2 file omits the non-EMA UNet copy (size); it is recreated here filled with
    ``nonema_fill`` so that a loader taking the wrong copy fails the parity checks.
    """
    s1 = torch.load(DATA / "reduced_seed0_first_stage.ckpt", weights_only=True)["state_dict"]
    s2 = torch.load(DATA / "reduced_seed0_stage2_ema.ckpt", weights_only=True)["state_dict"]
    from engine.models.ldcsr.checkpoint import ema_key
    from engine.models.ldcsr.config import load_yaml
    from engine.models.ldcsr.network import LDCSRNet

    with torch.device("meta"):
        net = LDCSRNet(load_yaml(DATA / "reduced_second_stage.yaml"))
    state: dict[str, torch.Tensor] = {}
    for k, v in s2.items():
        if not k.startswith(("model_ema.", "cond_stage_model.")):
            state[k] = v
    for name, _ in net.unet.named_parameters():
        ema = s2[ema_key(name)]
        state["model.diffusion_model." + name] = torch.full_like(ema, nonema_fill or 0.0)
    for k, v in s2.items():
        if k.startswith("model_ema."):
            state[k] = v
    for k, v in s1.items():
        state["first_stage_model." + k] = v
    for k, v in s2.items():
        if k.startswith("cond_stage_model."):
            state[k] = v
    return state


def official_checkpoint() -> dict:
    """A Lightning-style checkpoint dict around :func:`official_state`."""
    return {"epoch": 0, "global_step": 0, "pytorch-lightning_version": "1.9.5",
            "state_dict": official_state()}
