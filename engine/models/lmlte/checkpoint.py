"""LMLTE checkpoints in the official LMF layout: building, detection, loading into an
:class:`LMLTEModel`, saving.

Layout: ``{'model': {'name': 'lmlte', 'args': {...}, 'sd': {...}}, 'optimizer', 'epoch'}``, read
with ``strict=True`` and written so that the reference ``test.py`` reads ours.

``LMLTEModel.upscale`` follows the official test protocol exactly (see
``tests/data/lmlte/README.md``): input ``(x - 0.5) / 0.5``, query grid ``make_coord(H, W)``, cell
``(2/H, 2/W) * max(max(sy, sx)/4, 1)``, output ``y * 0.5 + 0.5`` clamped to [0, 1].
``upscale_grid`` renders arbitrary pixel centres with the same cell rule (so tiles of a raster are
seamless at any fractional scale).

Options (``load_model(..., cmsr=..., chunk=..., precision=...)`` or per call):
    cmsr: path of a CMSR table (official YAML or JSON); used only above x4, as the official code.
    chunk: query points rendered at once (default 8192 on CPU, 262144 on CUDA): bounds the
        working memory (about 1.2 kB per query point for the official EDSR-b LMLTE).
    precision: ``float32`` (default), ``float16`` or ``bfloat16`` (autocast; meant for CUDA).
"""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import torch

from engine.errors import ModelError, ParameterError
from engine.models.lmlte.coords import (MAX_TRAIN_SCALE, coord_grid, grid_query, image_query,
                                        non_square_pixels)
from engine.models.lmlte import compiled
from engine.models.lmlte.grid import render_grid
from engine.models.lmlte.network import LMLTE, default_chunk
from engine.models.lmlte.views import render_views, view_count, view_options
from engine.models.memory import ModelOutOfMemory, is_out_of_memory, out_of_memory_as
from engine.models.sr_model import SRModel
from engine.precision import autocast, precision_dtype

FAMILY_ID = "lmlte"
#: Smallest query chunk of the out-of-memory back-off.
MIN_CHUNK = 1024
#: Scale range of a model loaded without a card (the card's ``scale_range`` wins).
SCALE_RANGE = (1.0, 8.0)
OUT_OF_MEMORY = ("out of memory in the LMLTE model: use a smaller --tile, fewer --bands or a "
                 "machine with more memory")

#: model.args of the official EDSR-baseline LM-LTE (LMF configs/train-lmf/train_edsr-baseline-lmlte.yaml):
#: the fixtures' reference checkpoint and the bench model.
OFFICIAL_EDSR_B_ARGS: dict[str, Any] = {
    "encoder_spec": {"name": "edsr-baseline", "args": {"no_upsampling": True}},
    "imnet_spec": {"name": "lmmlp", "args": {"out_dim": 3, "hidden_dim": 16, "hidden_depth": 8,
                                             "mod_scale": True, "mod_shift": True}},
    "hypernet_spec": {"name": "mlp", "args": {"out_dim": 288, "hidden_list": [288]}},
    "hidden_dim": 128, "local_ensemble": True, "cell_decode": True, "mod_input": True,
}


#: Not looked up yet (None means: none on this machine).
_UNSET = object()

def build_lmlte(args: Mapping[str, Any]) -> LMLTE:
    """An LMLTE network from the official ``model.args`` (copied; unknown keys ignored)."""
    try:
        return LMLTE(**copy.deepcopy(dict(args)))
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelError(f"the LMLTE model args cannot be built ({exc}): the checkpoint's "
                         "'model.args' is not an LMF LMLTE configuration") from exc


def detect(ckpt: Any) -> bool:
    """True for the official layout ``{'model': {'name': 'lmlte', 'args': {...}, 'sd': {...}}}``."""
    model = ckpt.get("model") if isinstance(ckpt, Mapping) else None
    return (isinstance(model, Mapping) and model.get("name") == "lmlte"
            and isinstance(model.get("args"), Mapping) and isinstance(model.get("sd"), Mapping))


def network_from_checkpoint(ckpt: Mapping[str, Any], source: str = "checkpoint") -> LMLTE:
    """Build the network of an official-layout checkpoint and load its weights strictly.

    Raises:
        ModelError: not an LMLTE checkpoint, or weights that do not fit its args.
    """
    if not detect(ckpt):
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


def load(ckpt: Mapping[str, Any], *, name: str, device: torch.device | str = "cpu",
         config: str | None = None, options: Mapping[str, Any] | None = None,
         scale_range: tuple[float, float] = SCALE_RANGE) -> "LMLTEModel":
    """Build the network of ``ckpt`` (strict weights) on ``device`` in eval mode.

    Raises:
        ModelError: not an LMLTE checkpoint, weights that do not fit, unreadable CMSR table.
    """
    del config  # LMF checkpoints carry their own args
    opts = dict(options or {})
    # Conv weights channels-last, as the EDSR encoder runs (no per-call weight reorder).
    net = network_from_checkpoint(ckpt, source=f"'{name}'").to(
        torch.device(device), memory_format=torch.channels_last).eval()
    for p in net.parameters():
        p.requires_grad_(False)
    tables = None
    if opts.get("cmsr"):
        from engine.models.lmlte import cmsr

        tables = cmsr.load_table(opts["cmsr"])
    return LMLTEModel(name=name, family=FAMILY_ID, module=net, in_channels=net.in_channels,
                      out_channels=net.out_dim, scale_range=scale_range, halo=net.halo,
                      options=opts, supports_grid=True, cmsr_tables=tables)


@dataclass(kw_only=True)
class LMLTEModel(SRModel):
    """A loaded LMLTE network (point-query model: supports :meth:`upscale_grid`).

    Attributes:
        cmsr_tables: parsed CMSR table ``{target: {scale: threshold}}`` used above x4, or None.
    """

    cmsr_tables: dict[float, dict[float, float]] | None = None
    #: The compiled decoder (:mod:`engine.models.lmlte.compiled`): looked up on
    #: first use.
    _compiled: Any = field(default=_UNSET, init=False, repr=False, compare=False)

    def compiled(self) -> compiled.CompiledLMLTE | None:
        """This network's compiled decoder on this machine, or None (the eager path runs)."""
        if self._compiled is _UNSET:
            self._compiled = compiled.load(self.module) if self.device.type == "cpu" else None
        return self._compiled

    # ------------------------------------------------------------------------------------------

    def _opt(self, kwargs: Mapping[str, Any], key: str, default: Any) -> Any:
        if key in kwargs and kwargs[key] is not None:
            return kwargs[key]
        return self.options.get(key, default)

    def _check_input(self, lr: torch.Tensor) -> torch.Tensor:
        if lr.dim() == 3:
            lr = lr[None]
        if lr.dim() != 4 or lr.shape[1] != self.in_channels:
            raise ParameterError(f"model '{self.name}' takes (B, {self.in_channels}, h, w) input, "
                                 f"got {tuple(lr.shape)}: select {self.in_channels} band(s)")
        return lr.to(self.device, torch.float32)

    def _window_pad(self, lr: torch.Tensor) -> tuple[torch.Tensor, int, int]:
        """Window-based encoders (SwinIR): mirror-pad bottom/right as the reference test does.

        Returns the padded input and its size; features then cover the padded grid and query
        coordinates are mapped onto it (:meth:`_map`), so the output stays aligned.
        """
        ws = getattr(self.module.encoder, "window_size", None)
        h, w = lr.shape[-2:]
        if not ws:
            return lr, h, w
        hp, wp = (h // ws + 1) * ws, (w // ws + 1) * ws
        lr = torch.cat([lr, torch.flip(lr, [2])], 2)[:, :, :hp]
        lr = torch.cat([lr, torch.flip(lr, [3])], 3)[:, :, :, :wp]
        return lr, hp, wp

    @staticmethod
    def _map(ys: torch.Tensor, xs: torch.Tensor, cell_yx: tuple[float, float], h: int, w: int,
             hp: int, wp: int) -> tuple[torch.Tensor, torch.Tensor, tuple[float, float]]:
        """Coordinates/cell relative to an (h, w) image -> relative to its padded (hp, wp) one."""
        if (hp, wp) == (h, w):
            return ys, xs, cell_yx
        ys = ((ys.double() + 1) * (h / hp) - 1).float()
        xs = ((xs.double() + 1) * (w / wp) - 1).float()
        return ys, xs, (cell_yx[0] * h / hp, cell_yx[1] * w / wp)

    def _prepare(self, lr: torch.Tensor, cell_yx: tuple[float, float]) -> tuple[Any, Any]:
        """Encoder, modulations and gather tables for ``lr`` with the (already clipped) cell."""
        net: LMLTE = self.module  # type: ignore[assignment]
        inp = (lr - 0.5) / 0.5
        bs = inp.shape[0]
        cell = torch.tensor(cell_yx, dtype=torch.float32, device=inp.device).view(1, 1, 2)
        cell = cell.expand(bs, 1, 2)
        latent = net.encode(inp)
        mod = net.modulations(latent, cell)
        lut = net.tables(latent, mod)
        del latent  # coef/freq are in the tables now; free them before rendering
        return lut, mod

    def _render_rows(self, tables: dict[str, Any], ys: torch.Tensor, xs: torch.Tensor,
                     cell_yx: tuple[float, float], chunk: int) -> torch.Tensor:
        """Render the grid ys x xs (float32 coords) row block by row block -> (B, C, H, W)."""
        net: LMLTE = self.module  # type: ignore[assignment]
        out = render_grid(net, tables, ys, xs, cell_yx, chunk)
        if out is not None:
            return out
        bs = tables["bs"]
        hh, ww = ys.numel(), xs.numel()
        out = torch.empty(bs, net.out_dim, hh, ww, dtype=torch.float32, device=ys.device)
        rows_per = max(1, chunk // max(ww, 1))
        cols_per = ww if rows_per > 1 or chunk >= ww else chunk
        for r0 in range(0, hh, rows_per):
            r1 = min(hh, r0 + rows_per)
            for c0 in range(0, ww, cols_per):
                c1 = min(ww, c0 + cols_per)
                coord = coord_grid(ys[r0:r1], xs[c0:c1]).view(1, -1, 2).expand(bs, -1, 2)
                cell = coord.new_tensor(cell_yx).view(1, 1, 2).expand(bs, coord.shape[1], 2)
                pred = net.render(tables, coord, cell)
                out[:, :, r0:r1, c0:c1] = pred.float().permute(0, 2, 1).reshape(
                    bs, -1, r1 - r0, c1 - c0)
        return out

    def _with_backoff(self, fn: Any, chunk: int) -> torch.Tensor:
        # Out of memory (CPU or CUDA): halve the query chunk and retry; below MIN_CHUNK raise
        # ModelOutOfMemory, a torch.OutOfMemoryError, so that the pipeline halves the tile.
        while True:
            try:
                return fn(chunk)
            except (RuntimeError, MemoryError) as exc:
                if not is_out_of_memory(exc):
                    raise
                if self.device.type == "cuda":
                    torch.cuda.empty_cache()
                if chunk <= MIN_CHUNK:
                    raise ModelOutOfMemory(OUT_OF_MEMORY) from exc
                chunk = max(MIN_CHUNK, chunk // 2)

    @torch.no_grad()
    def upscale(self, lr: torch.Tensor, size: tuple[int, int], *, clamp: bool = True,
                **kwargs: Any) -> torch.Tensor:
        """Super-resolve ``lr`` (B, C, h, w) in [0, 1] to exactly ``size`` = (H, W).

        Keyword options: ``chunk``, ``precision``, ``cmsr`` (table path or False to disable),
        ``self_ensemble`` (1, 2, 4 or 8 geometric views averaged; default 1),
        ``axis_ensemble`` (False: the network's direct route only at non-square output pixels);
        others (``seed``, ``steps``, ...) are ignored.

        Returns:
            (B, out_channels, H, W) float32, in [0, 1] when ``clamp``.
        """
        lr = self._check_input(lr)
        hh, ww = int(size[0]), int(size[1])
        if hh < 1 or ww < 1:
            raise ParameterError(f"output size must be positive, got {size}")
        h, w = lr.shape[-2:]
        ys, xs, cell_yx = image_query(h, w, hh, ww, device=lr.device)
        chunk = int(self._opt(kwargs, "chunk", default_chunk(self.device)))
        tables_cmsr = kwargs.get("cmsr", None)
        if tables_cmsr is False:
            tables = None
        elif tables_cmsr is not None:
            from engine.models.lmlte import cmsr

            tables = cmsr.load_table(tables_cmsr)
        else:
            tables = self.cmsr_tables
        dtype = precision_dtype(self._opt(kwargs, "precision", None))
        # CMSR level grids are LR-aligned: not defined for a window-padded encoder.
        out_of_dist = hh * ww > (MAX_TRAIN_SCALE ** 2) * h * w
        windowed = bool(getattr(self.module.encoder, "window_size", None))
        if tables is None or not out_of_dist or windowed:
            return self._render_views(lr, ys, xs, cell_yx, chunk, dtype, kwargs, clamp)
        with out_of_memory_as(OUT_OF_MEMORY), autocast(self.device, dtype):
            lut, mod = self._prepare(lr, cell_yx)
            if mod is None:  # a decoder without modulations: CMSR does not apply
                out = self._with_backoff(
                    lambda c: self._render_rows(lut, ys, xs, cell_yx, c), chunk)
            else:
                from engine.models.lmlte import cmsr

                out = self._with_backoff(
                    lambda c: cmsr.render_cmsr(self.module, lut, mod, ys, xs, tables, chunk=c), chunk)
        out = out * 0.5 + 0.5
        return out.clamp_(0, 1) if clamp else out

    @torch.no_grad()
    def upscale_grid(self, lr: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor,
                     pixel: tuple[float, float], *, clamp: bool = True,
                     **kwargs: Any) -> torch.Tensor:
        """Render output pixels centred at ``rows`` x ``cols`` (LR pixel units from the top/left).

        coord = -1 + 2 * rows / h (and cols / w), cell = (2 dy / h, 2 dx / w) times the reference
        cell clip ``max(max(1/dy, 1/dx) / 4, 1)``. CMSR is not applied here (it is defined on
        whole-image level grids, not on arbitrary points).

        Returns:
            (B, out_channels, len(rows), len(cols)) float32.
        """
        lr = self._check_input(lr)
        h, w = lr.shape[-2:]
        if float(pixel[0]) <= 0 or float(pixel[1]) <= 0:
            raise ParameterError(f"output pixel size must be positive, got {pixel}")
        ys, xs, cell_yx = grid_query(h, w, rows, cols, pixel, device=lr.device)
        chunk = int(self._opt(kwargs, "chunk", default_chunk(self.device)))
        dtype = precision_dtype(self._opt(kwargs, "precision", None))
        return self._render_views(lr, ys, xs, cell_yx, chunk, dtype, kwargs, clamp)

    def _render_views(self, lr: torch.Tensor, ys: torch.Tensor, xs: torch.Tensor,
                      cell_yx: tuple[float, float], chunk: int, dtype: Any,
                      kwargs: Mapping[str, Any], clamp: bool) -> torch.Tensor:
        """Render ys x xs of ``lr`` as the mean of its geometric views
        (:mod:`engine.models.lmlte.views`): the ``self_ensemble`` option, and at non-square
        output pixels at least the direct and the transposed route, whose mean does not depend
        on the axis order (the network alone does, there) and scores higher."""
        h, w = lr.shape[-2:]
        given = {k: v for k, v in kwargs.items() if v is not None}
        views = view_count(*view_options({**self.options, **given}),
                           non_square_pixels(h, w, cell_yx))
        with out_of_memory_as(OUT_OF_MEMORY), autocast(self.device, dtype):
            out = render_views(lambda x, vy, vx, c: self._render_route(x, vy, vx, c, chunk),
                               lr, ys, xs, cell_yx, views)
        out = out * 0.5 + 0.5
        return out.clamp_(0, 1) if clamp else out

    def _render_route(self, lr: torch.Tensor, ys: torch.Tensor, xs: torch.Tensor,
                      cell_yx: tuple[float, float], chunk: int) -> torch.Tensor:
        """Encode ``lr`` and render the grid ys x xs (normalised coordinates of ``lr``)."""
        h, w = lr.shape[-2:]
        lr, hp, wp = self._window_pad(lr)
        ys, xs, cell_yx = self._map(ys, xs, cell_yx, h, w, hp, wp)
        fast = self.compiled() if compiled.usable(lr) else None
        if fast is not None:
            return compiled.render(self.module, fast, (lr - 0.5) / 0.5, ys, xs, cell_yx)
        lut, _mod = self._prepare(lr, cell_yx)
        del _mod
        return self._with_backoff(lambda c: self._render_rows(lut, ys, xs, cell_yx, c), chunk)

    def describe(self) -> dict[str, Any]:
        """JSON-able summary, with the CMSR state."""
        info = super().describe()
        info["cmsr"] = self.cmsr_tables is not None
        return info
