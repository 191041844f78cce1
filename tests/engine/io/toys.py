"""Small real torch models for pipeline tests: bicubic interpolation behind the SRModel contract.

``GridBicubic`` renders arbitrary output centres (the point-query path, like LMLTE);
``CropBicubic`` only implements ``upscale`` (the overlap-and-blend path, like diffusion models).
``write_torchscript_model`` saves a bicubic point-query graph in the exported-model format, so
the real CLI can load it in a child process.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from engine.models.sr_model import SRModel


def _sample(lr: torch.Tensor, ys: torch.Tensor, xs: torch.Tensor) -> torch.Tensor:
    """Bicubic samples of lr (B, C, h, w) at LR positions ys x xs (pixel units from the edge)."""
    h, w = lr.shape[-2:]
    gy = (2 * ys.double() / h - 1).float()
    gx = (2 * xs.double() / w - 1).float()
    grid = torch.stack(torch.meshgrid(gy, gx, indexing="ij")[::-1], dim=-1)
    grid = grid[None].expand(lr.shape[0], -1, -1, -1)
    return F.grid_sample(lr.float(), grid, mode="bicubic", padding_mode="border",
                         align_corners=False)


class GridBicubic(SRModel):
    """Point-query bicubic model (halo 3 covers the 4x4 kernel)."""

    def __init__(self, in_channels: int = 1, scale_range: tuple[float, float] = (1.0, 8.0)):
        super().__init__(name="toy-grid", family="toy", module=nn.Identity(),
                         in_channels=in_channels, out_channels=in_channels,
                         scale_range=scale_range, halo=3)
        self.calls: list[tuple[int, ...]] = []

    def upscale(self, lr: torch.Tensor, size: tuple[int, int], *, clamp: bool = True,
                **kwargs: Any) -> torch.Tensor:
        h, w = lr.shape[-2:]
        ys = (torch.arange(size[0], dtype=torch.float64) + 0.5) * h / size[0]
        xs = (torch.arange(size[1], dtype=torch.float64) + 0.5) * w / size[1]
        out = _sample(lr, ys, xs)
        return out.clamp(0, 1) if clamp else out

    def upscale_grid(self, lr: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor,
                     pixel: tuple[float, float], *, clamp: bool = True,
                     **kwargs: Any) -> torch.Tensor:
        self.calls.append(tuple(lr.shape))
        out = _sample(lr, rows, cols)
        return out.clamp(0, 1) if clamp else out


class CropBicubic(GridBicubic):
    """The same model without the point-query entry (exercises overlap + feather blending)."""

    upscale_grid = SRModel.upscale_grid  # type: ignore[assignment]

    def __init__(self, in_channels: int = 1, stochastic: bool = False) -> None:
        super().__init__(in_channels)
        self.name = "toy-crop"
        self.stochastic = stochastic
        self.seeds: list[int] = []

    def upscale(self, lr: torch.Tensor, size: tuple[int, int], *, clamp: bool = True,
                **kwargs: Any) -> torch.Tensor:
        self.calls.append(tuple(lr.shape))
        if "seed" in kwargs:
            self.seeds.append(kwargs["seed"])
        return super().upscale(lr, size, clamp=clamp)


class OomOnce(GridBicubic):
    """Raises torch.OutOfMemoryError for regions above ``limit`` output pixels."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit
        self.failures = 0

    def upscale_grid(self, lr, rows, cols, pixel, *, clamp=True, **kwargs):  # type: ignore[override]
        if rows.numel() * cols.numel() > self.limit:
            self.failures += 1
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return super().upscale_grid(lr, rows, cols, pixel, clamp=clamp)


class _BicubicNet(nn.Module):
    """pred = net(inp, coord, cell): bicubic samples at coord (B, Q, 2) in (-1, 1), [...,0] = y."""

    def forward(self, inp: torch.Tensor, coord: torch.Tensor, cell: torch.Tensor) -> torch.Tensor:
        grid = coord.flip(-1)[:, :, None, :].to(inp.dtype)
        out = F.grid_sample(inp, grid, mode="bicubic", padding_mode="border",
                            align_corners=False)
        return out[:, :, :, 0].permute(0, 2, 1) + 0.0 * cell.sum()


def write_torchscript_model(folder: Path, name: str = "toy-bicubic", in_channels: int = 1,
                            scale_max: float = 4.0) -> Path:
    """Write ``<name>.pt`` (TorchScript + ArbSR metadata) and a model card in ``folder``."""
    from engine.models.exported import ExportMeta

    folder.mkdir(parents=True, exist_ok=True)
    meta = ExportMeta(source_family="toy", source_name=name, in_channels=in_channels,
                      out_channels=in_channels, scale_range=(1.0, scale_max), halo=3)
    scripted = torch.jit.script(_BicubicNet())
    path = folder / f"{name}.pt"
    torch.jit.save(scripted, str(path), _extra_files={"arbsr.json": meta.to_json()})
    card = {"name": name, "family": "torchscript", "file": path.name, "bands": in_channels,
            "scales": [1.0, scale_max], "description": "bicubic test model"}
    (folder / f"{name}.json").write_text(json.dumps(card), encoding="utf-8")
    return path


def reference_bicubic(data: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
    """Whole-raster rendering of ``data`` (C, h, w) float by GridBicubic (the untiled truth)."""
    model = GridBicubic()
    t = torch.from_numpy(data.astype(np.float32))[:, None]
    return model.upscale(t, (out_h, out_w), clamp=False)[:, 0].numpy()
