"""Registry family ``torchscript``: models exported with ``python -m engine export --format torchscript``.

The file is a TorchScript archive (``torch.jit.save``) of ``pred = net(inp, coord, cell)`` with
the metadata JSON stored as the extra file ``arbsr.json``. ``.pt`` is also a common suffix of
plain checkpoints, so a ``.pt`` that is not a TorchScript archive is handed back to the content
detection of the other families.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import torch

from engine.errors import ModelError
from engine.models.exported import ExportedSRModel, ExportMeta, model_kwargs
from engine.models.family import Family
from engine.models.sr_model import SRModel

SUFFIXES = (".pt", ".ts", ".torchscript")
META_NAME = "arbsr.json"


class TorchScriptSRModel(ExportedSRModel):
    """An exported TorchScript graph; runs on the device it was loaded to."""

    def _forward(self, inp: torch.Tensor, coord: torch.Tensor, cell: torch.Tensor) -> torch.Tensor:
        dev = self.device
        dtype = torch.float16 if self.meta.precision == "float16" else torch.float32
        with torch.inference_mode():
            # Coordinates stay float32 even for a half-precision graph (the graph casts them
            # where it needs to); the image follows the graph's precision.
            return self.module(inp.to(dev, dtype), coord.to(dev), cell.to(dev))


def is_torchscript(path: Path) -> bool:
    """True when ``path`` is a TorchScript archive (a zip with a ``code/`` folder)."""
    try:
        with zipfile.ZipFile(path) as zf:
            return any("/code/" in n for n in zf.namelist())
    except (zipfile.BadZipFile, OSError):
        return False


def load_file(path: Path, *, name: str, device: torch.device, config: str | None,
              options: dict[str, Any], scale_range: tuple[float, float] | None = None) -> SRModel:
    """Load an exported TorchScript file onto ``device`` (or any ``.pt`` checkpoint, see above)."""
    path = Path(path)
    if not is_torchscript(path):
        return _load_checkpoint(path, name=name, device=device, config=config, options=options,
                                scale_range=scale_range)
    extra = {META_NAME: ""}
    try:
        # Traced graphs keep the device of the trace for the tensors they create (coordinate
        # grids): a graph traced on the CPU runs on the CPU whatever device was asked for.
        module = torch.jit.load(str(path), map_location="cpu", _extra_files=extra)
    except (RuntimeError, ValueError, OSError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ModelError(f"cannot read TorchScript model '{path}' ({first[:160]}): the file is "
                         "corrupt or from an incompatible torch; re-export it") from exc
    if not extra[META_NAME]:
        raise ModelError(f"'{path}' is a TorchScript file without ArbSR metadata: export models "
                         "with python -m engine export so that ArbSR knows how to call them")
    meta = ExportMeta.from_json(extra[META_NAME], str(path))
    traced_on = torch.device(meta.extra.get("device", "cpu"))
    if traced_on.type == device.type:
        module = module.to(device)
    module.eval()
    return TorchScriptSRModel(module=module,
                              **model_kwargs(meta, name, "torchscript", scale_range))


def _load_checkpoint(path: Path, *, name: str, device: torch.device, config: str | None,
                     options: dict[str, Any], scale_range: tuple[float, float] | None) -> SRModel:
    # A plain torch checkpoint saved as .pt: detect its family by content, as for .pth files.
    from engine.models.registry import load_by_content

    return load_by_content(path, name=name, device=device, config=config, options=options,
                           scale_range=scale_range)


FAMILY = Family(id="torchscript", suffixes=SUFFIXES, load_file=load_file)
