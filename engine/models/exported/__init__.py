"""Exported point-query models (TorchScript ``.pt``, ONNX ``.onnx``) as :class:`SRModel` objects.

An exported file holds one graph ``pred = net(inp, coord, cell)``, the implicit network's own
forward with the query coordinates and cells as real inputs, so one file serves every output
size and every tile shape:

* ``inp``: (B, C, h, w) float, the LR image normalised as the network expects
  (``(x - mean) / std``, for LMLTE mean = std = 0.5, i.e. [-1, 1]).
* ``coord``: (B, Q, 2) float32, query centres in (-1, 1) of the LR extent, [..., 0] = row (y).
* ``cell``: (B, Q, 2) float32, output pixel size in the same units (2 / H, 2 / W), multiplied by
  the cell clip ``max(max(sy, sx) / clip, 1)`` above the training scale range.
* ``pred``: (B, Q, C_out) float, normalised like ``inp``.

Next to the graph the file stores :class:`ExportMeta` (JSON) with what the wrapper needs to turn
[0, 1] rasters into those inputs. :class:`ExportedSRModel` does that arithmetic once for both
formats, implements :meth:`upscale` and :meth:`upscale_grid` (so the raster pipeline tiles an
exported model exactly as it tiles the eager one) and leaves only :meth:`_forward` to the
format modules.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

import torch

from engine.errors import ModelError, ParameterError
from engine.models.lmlte.coords import coord_grid, grid_query, image_query, non_square_pixels
from engine.models.lmlte.views import render_views, view_count
from engine.models.sr_model import SRModel

#: Version of the metadata layout written by :mod:`engine.export`.
FORMAT_VERSION = 1

#: Queries per call: bounds the memory of one network evaluation (each call re-encodes the LR
#: input, so the pipeline's tiles, not this chunking, should be what keeps queries small).
MAX_QUERIES = 1 << 18


@dataclass
class ExportMeta:
    """What an exported file says about itself (stored as JSON inside the file).

    Attributes:
        source_family: family of the eager model it came from (``"lmlte"``).
        source_name: registry name or checkpoint path of that model.
        in_channels / out_channels: channels of ``inp`` / ``pred``.
        scale_range: (min, max) scale the model was trained for.
        halo: LR pixels of context a tile needs (copied from the eager model).
        norm_mean / norm_std: ``inp = (x - mean) / std`` and ``x = pred * std + mean``.
        cell_clip: scale above which the cell is clipped (official LMLTE: 4).
        precision: ``"float32"`` or ``"float16"`` (dtype of ``inp``/``pred`` in the graph).
        quantized: ``"int8"`` when the Linear layers were dynamically quantised, else None.
        pruned: fraction of weights zeroed by magnitude pruning (0 = none).
        axis_ensemble: at non-square output pixels, render the mean of the direct and the
            transposed route, as the eager LMLTE model does (files exported before this field
            existed render the direct route only).
        self_ensemble: geometric views averaged everywhere (1, 2, 4 or 8; the model's option).
    """

    source_family: str
    source_name: str
    in_channels: int
    out_channels: int
    scale_range: tuple[float, float] = (1.0, 4.0)
    halo: int = 16
    norm_mean: float = 0.5
    norm_std: float = 0.5
    cell_clip: float = 4.0
    precision: str = "float32"
    quantized: str | None = None
    pruned: float = 0.0
    axis_ensemble: bool = False
    self_ensemble: int = 1
    format_version: int = FORMAT_VERSION
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        """The JSON text stored in the file."""
        data = asdict(self)
        data["scale_range"] = list(self.scale_range)
        return json.dumps(data, sort_keys=True)

    @classmethod
    def from_json(cls, text: str | bytes, where: str) -> ExportMeta:
        """Parse the stored JSON (raises ModelError naming ``where`` when it is unusable)."""
        try:
            data = json.loads(text)
            version = int(data.get("format_version", 0))
            if version > FORMAT_VERSION:
                raise ModelError(f"'{where}' was exported by a newer ArbSR (format {version}): "
                                 "update ArbSR or re-export the model with this version")
            known = set(cls.__dataclass_fields__)
            kwargs = {k: v for k, v in data.items() if k in known}
            kwargs["scale_range"] = tuple(float(v) for v in kwargs.get("scale_range", (1, 4)))
            return cls(**kwargs)
        except (ValueError, TypeError, AttributeError) as exc:
            raise ModelError(f"'{where}' has no valid ArbSR export metadata ({exc}): re-export it "
                             "with python -m engine export") from exc


@dataclass(kw_only=True)
class ExportedSRModel(SRModel):
    """Base of the TorchScript and ONNX wrappers: coordinates, normalisation, chunking.

    Subclasses implement :meth:`_forward` on normalised tensors; everything else is here.

    Attributes:
        meta: the metadata stored in the file.
    """

    meta: ExportMeta

    def _forward(self, inp: torch.Tensor, coord: torch.Tensor, cell: torch.Tensor) -> torch.Tensor:
        """Run the graph: inp (B, C, h, w), coord/cell (B, Q, 2) float32 -> (B, Q, C_out) float32."""
        raise NotImplementedError

    # -- SRModel API ------------------------------------------------------------------------

    def upscale(self, lr: torch.Tensor, size: tuple[int, int], *, clamp: bool = True,
                **kwargs: Any) -> torch.Tensor:
        """Super-resolve ``lr`` (B, C, h, w) in [0, 1] to exactly ``size`` = (H, W).

        Same coordinates and cells as the official test protocol (whole-image query grid).
        """
        h, w = int(lr.shape[-2]), int(lr.shape[-1])
        out_h, out_w = int(size[0]), int(size[1])
        if out_h < 1 or out_w < 1:
            raise ParameterError(f"output size {size} is empty: give a positive size")
        ys, xs, cell = image_query(h, w, out_h, out_w, clip=self.meta.cell_clip)
        return self._render(lr, ys, xs, cell, clamp)

    def upscale_grid(self, lr: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor,
                     pixel: tuple[float, float], *, clamp: bool = True,
                     **kwargs: Any) -> torch.Tensor:
        """Render output pixels centred at LR positions ``rows`` x ``cols`` (see SRModel)."""
        h, w = int(lr.shape[-2]), int(lr.shape[-1])
        ys, xs, cell = grid_query(h, w, rows, cols, pixel, clip=self.meta.cell_clip)
        return self._render(lr, ys, xs, cell, clamp)

    def describe(self) -> dict[str, Any]:
        """JSON-able summary, with the export metadata."""
        info = super().describe()
        info.update(source_family=self.meta.source_family, precision=self.meta.precision,
                    quantized=self.meta.quantized, pruned=self.meta.pruned)
        return info

    # -- internals --------------------------------------------------------------------------

    def _render(self, lr: torch.Tensor, ys: torch.Tensor, xs: torch.Tensor,
                cell: tuple[float, float], clamp: bool) -> torch.Tensor:
        if lr.ndim != 4 or lr.shape[1] != self.in_channels:
            raise ParameterError(f"input of shape {tuple(lr.shape)} does not fit this exported "
                                 f"model: give (B, {self.in_channels}, h, w)")
        # As the checkpoint does (LMLTEModel): the mean of the exported geometric views.
        views = view_count(self.meta.self_ensemble, self.meta.axis_ensemble,
                           non_square_pixels(*lr.shape[-2:], cell))
        out = render_views(self._render_route, lr, ys, xs, cell, views)
        out = out * self.meta.norm_std + self.meta.norm_mean
        out = out.to(lr.device)
        return out.clamp(0.0, 1.0) if clamp else out

    def _render_route(self, lr: torch.Tensor, ys: torch.Tensor, xs: torch.Tensor,
                      cell: tuple[float, float]) -> torch.Tensor:
        """The graph's output on ys x xs of ``lr``, normalised units, (B, C, H, W)."""
        b = lr.shape[0]
        out_h, out_w = ys.numel(), xs.numel()
        inp = ((lr.float() - self.meta.norm_mean) / self.meta.norm_std)
        cell_t = torch.tensor(cell, dtype=torch.float32)
        rows_per_chunk = max(1, MAX_QUERIES // max(out_w, 1))
        pieces = []
        for r0 in range(0, out_h, rows_per_chunk):
            yy = ys[r0:r0 + rows_per_chunk]
            grid = coord_grid(yy, xs).reshape(1, -1, 2)
            coord = grid.expand(b, -1, -1).contiguous()
            cells = cell_t.view(1, 1, 2).expand(b, coord.shape[1], 2).contiguous()
            pred = self._forward(inp, coord, cells).float()
            pieces.append(pred.reshape(b, yy.numel(), out_w, -1))
        return torch.cat(pieces, dim=1).permute(0, 3, 1, 2)


def model_kwargs(meta: ExportMeta, name: str, family: str,
                 scale_range: tuple[float, float] | None = None) -> dict[str, Any]:
    """The SRModel fields an exported file determines (a card's ``scale_range`` wins)."""
    low, high = scale_range or meta.scale_range
    return {
        "name": name,
        "family": family,
        "in_channels": int(meta.in_channels),
        "out_channels": int(meta.out_channels),
        "scale_range": (float(low), float(high)),
        "halo": int(meta.halo),
        "stochastic": False,
        "options": {},
        "supports_grid": True,
        "meta": meta,
    }


__all__ = ["ExportMeta", "ExportedSRModel", "FORMAT_VERSION", "MAX_QUERIES", "model_kwargs"]
