"""LMLTE checkpoints in the official LMF layout: building, detecting, loading and saving.

Layout: ``{'model': {'name': 'lmlte', 'args': {...}, 'sd': {...}}, 'optimizer', 'epoch'}``, read
with ``strict=True`` and written so that the reference ``test.py`` reads ours.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any, Mapping

import torch

from engine.errors import ModelError
from engine.models.lmlte.network import LMLTE

#: model.args of the official EDSR-baseline LM-LTE (LMF configs/train-lmf/train_edsr-baseline-lmlte.yaml):
#: the fixtures' reference checkpoint and the bench model.
OFFICIAL_EDSR_B_ARGS: dict[str, Any] = {
    "encoder_spec": {"name": "edsr-baseline", "args": {"no_upsampling": True}},
    "imnet_spec": {"name": "lmmlp", "args": {"out_dim": 3, "hidden_dim": 16, "hidden_depth": 8,
                                             "mod_scale": True, "mod_shift": True}},
    "hypernet_spec": {"name": "mlp", "args": {"out_dim": 288, "hidden_list": [288]}},
    "hidden_dim": 128, "local_ensemble": True, "cell_decode": True, "mod_input": True,
}


def build_lmlte(args: Mapping[str, Any]) -> LMLTE:
    """An LMLTE network from the official ``model.args`` (copied; unknown keys ignored)."""
    try:
        return LMLTE(**copy.deepcopy(dict(args)))
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelError(f"the LMLTE model args cannot be built ({exc}): the checkpoint's "
                         "'model.args' is not an LMF LMLTE configuration") from exc


def is_lmlte_checkpoint(ckpt: Any) -> bool:
    """True for the official layout ``{'model': {'name': 'lmlte', 'args': {...}, 'sd': {...}}}``."""
    model = ckpt.get("model") if isinstance(ckpt, Mapping) else None
    return (isinstance(model, Mapping) and model.get("name") == "lmlte"
            and isinstance(model.get("args"), Mapping) and isinstance(model.get("sd"), Mapping))


def network_from_checkpoint(ckpt: Mapping[str, Any], source: str = "checkpoint") -> LMLTE:
    """Build the network of an official-layout checkpoint and load its weights strictly.

    Raises:
        ModelError: not an LMLTE checkpoint, or weights that do not fit its args.
    """
    if not is_lmlte_checkpoint(ckpt):
        raise ModelError(f"{source} is not an LMF LMLTE checkpoint (expected "
                         "{'model': {'name': 'lmlte', 'args', 'sd'}}): give an LMLTE .pth file")
    spec = ckpt["model"]
    net = build_lmlte(spec["args"])
    try:
        net.load_state_dict(spec["sd"], strict=True)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0][:200]
        raise ModelError(f"the weights in {source} do not match its LMLTE args ({first}): the "
                         "file is damaged or was edited; re-export it") from exc
    return net


def load_lmlte(path: str | os.PathLike[str]) -> LMLTE:
    """Read an official-layout ``.pth`` (weights-only unpickling) and return the network."""
    from engine.models.checkpoints import read_checkpoint

    return network_from_checkpoint(read_checkpoint(path), source=f"'{path}'")


def checkpoint_dict(model_args: Mapping[str, Any], state_dict: Mapping[str, torch.Tensor],
                    optimizer: Mapping[str, Any] | None = None, epoch: int = 0) -> dict[str, Any]:
    """The official layout ``{'model': {'name': 'lmlte', 'args', 'sd'}, 'optimizer', 'epoch'}``.

    ``optimizer`` is ``{'name', 'args', 'sd'}`` as the reference writes it (None -> a fresh Adam
    record with no state, like an untrained reference checkpoint).
    """
    args = {k: copy.deepcopy(v) for k, v in dict(model_args).items() if k != "cmsr_spec"}
    sd = {k: v.detach().cpu().contiguous() for k, v in state_dict.items()}
    if optimizer is None:
        optimizer = {"name": "adam", "args": {"lr": 1e-4},
                     "sd": {"state": {}, "param_groups": []}}
    return {"model": {"name": "lmlte", "args": args, "sd": sd},
            "optimizer": dict(optimizer), "epoch": int(epoch)}


def save_checkpoint(path: str | os.PathLike[str], model_args: Mapping[str, Any],
                    state_dict: Mapping[str, torch.Tensor], optimizer: Mapping[str, Any] | None = None,
                    epoch: int = 0, **extra: Any) -> Path:
    """Write an official-layout checkpoint (readable by the reference ``test.py``).

    Written to a temporary file and renamed, so an interrupted save leaves no broken file.
    Extra keyword entries are stored at the top level (ignored by the reference tools).
    """
    path = Path(path)
    ck = checkpoint_dict(model_args, state_dict, optimizer, epoch)
    ck.update(extra)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(ck, tmp)
    os.replace(tmp, path)
    return path
