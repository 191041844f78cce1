"""Registering checkpoints under a name: ``engine models add`` / ``engine models remove``.

A registered checkpoint is a model card (``<user models folder>/<name>.json``, see
:func:`engine.models.registry.user_models_dir`) that refers to the file where it lies: the
checkpoint is never copied, moved or modified, and removing the name deletes only the card. The
file is loaded on the CPU before the card is written, so a name always refers to weights that
load, with the family, bands and scale range the loaded model reports.
"""

from __future__ import annotations

import json
import os
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from engine.errors import InputError, ModelError, OutputError, ParameterError
from engine.models.checkpoints import file_sha256
from engine.models.registry import find_card, list_models, load_model, user_models_dir

#: Names are file names and command-line words: letters, digits, '.', '_' and '-'.
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
#: Words the plugin's model lists use for their own entries.
RESERVED = {"default"}


def default_name(path: Path) -> str:
    """The file stem with every character a name cannot hold replaced by '-'."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", path.stem).strip("-._")


def _check_name(name: str) -> None:
    if not NAME_PATTERN.match(name) or name in RESERVED:
        raise ParameterError(f"'{name}' cannot be a model name: use letters, digits, '.', '_' "
                             "and '-' (not 'default'), e.g. --name ldcsr-official")
    card = find_card(name)
    if card is not None and card.bundled:
        raise ParameterError(f"the name '{name}' is taken by a model bundled with ArbSR: "
                             "choose another with --name")
    if card is not None:
        raise ParameterError(f"the name '{name}' is already registered ({card.source}): choose "
                             f"another with --name, or 'python -m engine models remove {name}' "
                             "first")


def add_model(path: str | os.PathLike[str], name: str | None = None,
              config: str | os.PathLike[str] | None = None) -> tuple[Path, dict[str, Any]]:
    """Verify that ``path`` loads and register it as ``name``; returns (card file, card).

    Raises:
        InputError: the checkpoint or the config file does not exist.
        ParameterError: the name is invalid or already registered.
        ModelError: the file is not a checkpoint ArbSR can load (nothing is written).
        OutputError: the user models folder cannot be written.
    """
    ckpt = Path(path).expanduser().resolve()
    if not ckpt.is_file():
        raise InputError(f"checkpoint '{path}' not found: give the path of an existing "
                         ".pth/.ckpt/.pt/.onnx file")
    cfg = Path(config).expanduser().resolve() if config else None
    if cfg is not None and not cfg.is_file():
        raise InputError(f"config '{config}' not found: give the YAML that came with the "
                         "checkpoint, or leave --config out")
    name = name if name is not None else default_name(ckpt)
    if not name:
        raise ParameterError(f"no model name can be made from '{ckpt.name}': give one with "
                             "--name")
    _check_name(name)
    try:
        model = load_model(ckpt, device="cpu", config=cfg)
    except ModelError as exc:
        raise ModelError(f"not registered: {exc}") from exc
    low, high = (float(s) for s in model.scale_range)
    card: dict[str, Any] = {
        "name": name,
        "family": model.family,
        "file": str(ckpt),
        "bands": int(model.in_channels),
        "scales": [low, high],
        "description": f"{model.family} checkpoint {ckpt.name}, registered with "
                       "'python -m engine models add'",
    }
    if cfg is not None:
        card["config"] = str(cfg)
    card["sha256"] = file_sha256(ckpt)
    card["added"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    return _write_card(name, card), card


def _write_card(name: str, card: dict[str, Any]) -> Path:
    folder = user_models_dir()
    target = folder / f"{name}.json"
    tmp = folder / f".{name}.json.{os.getpid()}.tmp"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        if target.exists():  # a file that is not a card of this name: never replace it
            raise ParameterError(f"'{target}' already exists and is not the card of a model "
                                 f"named '{name}': move it away or choose another --name")
        tmp.write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, target)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise OutputError(f"cannot write the model card in {folder} ({exc.strerror or exc}): "
                          "set ARBSR_MODELS_DIR to a folder you can write") from exc
    return target


def remove_model(name: str) -> Path:
    """Delete the user card registered as ``name`` (never its checkpoint); returns the card path.

    Raises:
        ModelError: no model has that name.
        ParameterError: the model is bundled with ArbSR.
        OutputError: the card cannot be deleted.
    """
    card = find_card(name)
    if card is None:
        names = ", ".join(c.name for c in list_models() if not c.bundled) or "none"
        raise ModelError(f"no model named '{name}' is registered: the models you added are "
                         f"[{names}] (python -m engine models)")
    if card.bundled or card.source is None:
        raise ParameterError(f"'{name}' is bundled with ArbSR and cannot be removed; only "
                             "models added with 'python -m engine models add' can")
    try:
        card.source.unlink()
    except OSError as exc:
        raise OutputError(f"cannot delete {card.source} ({exc.strerror or exc}): check the "
                          "folder's permissions") from exc
    return card.source
