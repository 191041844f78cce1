"""Reading checkpoint files safely (``weights_only``), with one clear error for bad files, and
the checksum of a model's files."""

from __future__ import annotations

import hashlib
import pickle
import zipfile
from pathlib import Path
from typing import Any

from engine.errors import ModelError


def file_sha256(path: Path) -> str:
    """sha256 of a file, read in 1 MiB pieces (weights files run to hundreds of MB)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load a ``.pth`` / ``.ckpt`` file onto the CPU with the safe (weights-only) unpickler.

    Raises:
        ModelError: the file is not a torch checkpoint, is truncated, or holds arbitrary objects.
    """
    import torch  # here: importing the registry must not start torch (see fast.runtime)

    path = Path(path)
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, zipfile.BadZipFile, RuntimeError, EOFError, ValueError,
            AttributeError, ImportError, KeyError, IndexError, OSError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(f"cannot read checkpoint '{path}' ({first[:160]}): the file is corrupt "
                         "or not a PyTorch checkpoint; re-download or re-export it") from exc
    if not isinstance(obj, dict):
        raise ModelError(f"'{path}' holds a {type(obj).__name__}, not a checkpoint dictionary: "
                         "give an LMF .pth, an LDCSR .ckpt or an ArbSR checkpoint")
    return obj
