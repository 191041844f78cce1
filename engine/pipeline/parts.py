"""The parts folder: per-block files of a run, its manifest, and resuming a run.

``<output>.parts/`` beside the output holds one GeoTIFF per finished block (see
:mod:`engine.pipeline.sink`), ``manifest.json`` (what the parts were made with) and
``owner.pid`` (the run using the folder). It is what lets several processes or machines work on
one output, and a killed run continue: ``--resume`` reuses the finished blocks after checking
that the manifest matches the new command exactly. A run without ``--resume`` that finds the
folder of a run that is no longer alive starts afresh; the folder of a live run is never touched.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from engine.errors import OutputError, ParameterError
from engine.io import gdal_raster as gr
from engine.models.checkpoints import file_sha256
from engine.pipeline.plan import Plan
from engine.pipeline.sink import part_path

MANIFEST = "manifest.json"
OWNER = "owner.pid"


def parts_folder(output: Path) -> Path:
    """``<output>.parts`` beside ``output``."""
    return output.with_name(output.name + ".parts")


def weights_hash(spec: str) -> str:
    """sha256 of the weights file behind a model name or path ('' when there is no file)."""
    from engine.models.registry import find_card

    card = find_card(spec)
    path = card.file if card is not None else Path(spec).expanduser()
    return file_sha256(path) if path.is_file() else ""


def make_manifest(*, input_path: str, plan: Plan, bands: list[int], model: str, weights: str,
                  steps: int | None, data_type: str, tile: int | None,
                  temperature: float | None = None, samples: int = 1) -> dict[str, Any]:
    """What a resumed run must repeat exactly for the finished parts to be reusable."""
    return {
        "input": str(Path(input_path).resolve()),
        "input_size": [plan.width, plan.height],
        "output_size": [plan.out_w, plan.out_h],
        "bands": list(bands),
        "model": model,
        "weights_sha256": weights,
        "seed": plan.seed,
        "steps": steps,
        "temperature": temperature,
        "samples": samples,
        "block_size": [plan.block_w, plan.block_h],
        "tile": tile,
        "data_type": data_type,
        "blended": plan.blended,
    }


class PartsFolder:
    """A run's parts folder: claimed on :meth:`open`, removed on :meth:`remove`."""

    def __init__(self, path: Path, manifest: dict[str, Any]) -> None:
        self.path = path
        self.manifest = manifest

    def open(self, *, resume: bool) -> None:
        """Claim the folder: reuse it (``resume``, manifest checked) or start it afresh."""
        p = self.path
        if p.exists():
            owner = _owner(p)
            if owner and owner != os.getpid() and gr.pid_alive(owner):
                raise OutputError(f"another ArbSR run (process {owner}) is writing '{p}': wait "
                                  "for it to finish or choose another output name")
            if resume:
                self._check(p)
            else:
                shutil.rmtree(p, ignore_errors=True)
        elif resume and not p.parent.is_dir():
            raise OutputError(f"output folder '{p.parent}' does not exist")
        p.mkdir(exist_ok=True)
        (p / OWNER).write_text(str(os.getpid()), encoding="ascii")
        (p / MANIFEST).write_text(json.dumps(self.manifest, indent=1), encoding="utf-8")

    def _check(self, p: Path) -> None:
        try:
            old = json.loads((p / MANIFEST).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            raise ParameterError(f"--resume: '{p}' has no readable {MANIFEST}: delete the "
                                 "folder and run again without --resume") from None
        for key, value in self.manifest.items():
            if old.get(key) != value:
                raise ParameterError(
                    f"--resume: the parts in '{p}' were made with another {key.replace('_', ' ')} "
                    f"({old.get(key)!r}, now {value!r}): repeat the original command, or run "
                    "without --resume to start again")

    def finished(self, plan: Plan) -> set[str]:
        """Names of the blocks whose part file is complete."""
        kind = "blend" if plan.blended else "final"
        return {b.name for b in plan.blocks if part_path(self.path, b, kind).exists()}

    def release(self) -> None:
        """Give up the claim and keep the parts (for a later ``--resume``)."""
        try:
            (self.path / OWNER).unlink()
        except OSError:
            pass

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


def _owner(folder: Path) -> int | None:
    try:
        return int((folder / OWNER).read_text(encoding="ascii").strip())
    except (OSError, ValueError):
        return None


__all__ = ["MANIFEST", "PartsFolder", "make_manifest", "parts_folder",
           "weights_hash"]
