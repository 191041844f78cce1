"""Shared helpers of the LMLTE tests: the reference checkpoint (rebuilt, then verified) and cases."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import torch

from engine.models.lmlte.checkpoint import OFFICIAL_EDSR_B_ARGS, build_lmlte, save_checkpoint

DATA = Path(__file__).resolve().parents[2] / "data" / "lmlte"
CASES = ("x1", "x2", "x2.5", "x3", "x4", "x5.5", "x2_x3")
TOL = 1e-5  # README tolerance, [0, 1] units

#: model.args of the reference checkpoint (configs/train-lmf/train_edsr-baseline-lmlte.yaml)
REFERENCE_ARGS = OFFICIAL_EDSR_B_ARGS


def sd_digest(sd: dict[str, torch.Tensor]) -> str:
    """sha256 over key, dtype, shape and bytes of every tensor, in order (see FILES.md)."""
    h = hashlib.sha256()
    for k, v in sd.items():
        h.update(k.encode())
        h.update(str(v.dtype).encode())
        h.update(str(tuple(v.shape)).encode())
        h.update(v.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def reference_state_dict() -> dict[str, torch.Tensor]:
    """The reference random weights: the official constructor's after ``manual_seed(0)``."""
    state = torch.random.get_rng_state()
    try:
        torch.manual_seed(0)
        net = build_lmlte(REFERENCE_ARGS)
    finally:
        torch.random.set_rng_state(state)
    return net.state_dict()


def write_reference_checkpoint(path: Path) -> Path:
    """Write the reference checkpoint in the official layout (with an Adam record, epoch 0)."""
    sd = reference_state_dict()
    expected = (DATA / "edsr-b_lmlte_seed0.sd.sha256").read_text().split()[0]
    assert sd_digest(sd) == expected, "rebuilt reference weights differ from the official file"
    optimizer = {"name": "adam", "args": {"lr": 0.0001},
                 "sd": {"state": {}, "param_groups": [{"lr": 0.0001, "betas": (0.9, 0.999),
                                                      "eps": 1e-08, "weight_decay": 0,
                                                      "params": list(range(97))}]}}
    return save_checkpoint(path, REFERENCE_ARGS, sd, optimizer=optimizer, epoch=0)


def load_case(name: str) -> dict[str, np.ndarray]:
    """Arrays of ``case_<name>.npz`` or ``cmsr_<name>.npz``."""
    path = DATA / (f"case_{name}.npz" if (DATA / f"case_{name}.npz").exists() else f"cmsr_{name}.npz")
    with np.load(path) as d:
        return {k: d[k] for k in d.files}


def max_err(out: np.ndarray, expected: np.ndarray, sensitive: np.ndarray) -> float:
    """Max |out - expected| over pixels not flagged ``ulp_sensitive``."""
    return float(np.abs(out - expected)[:, ~sensitive].max())
