"""LMLTE: latent-modulated local texture estimator (He et al., "Latent Modulated Function for
Computational Optimal Continuous Image Representation", CVPR 2024), built from the official
``model.args`` of an LMF checkpoint (loading and saving: :mod:`engine.models.lmlte.checkpoint`).

Pipeline for an LR image ``inp`` (B, C, h, w), normalised to [-1, 1]:

1. encoder -> feat (B, F, h, w); two 3x3 convs -> ``coef``, ``freq`` (B, hidden_dim, h, w).
2. Latent MLP (``hypernet``): per LR pixel, LTE-style input ``coef * [cos(pi f), sin(pi f)]`` with
   ``f`` = pair sums of ``freq`` + ``phase(cell * (h, w))`` -> modulations (B, M, h, w):
   per render layer k a scale ``mod[16k:16k+16]`` and a shift ``mod[128+16k:...]``, then a
   compressed latent coefficient and frequency (``mod_input``).
3. Render MLP (``imnet``) per query point and ensemble member (4 nearest LR pixels): input
   ``coef * [cos(pi g), sin(pi g)]`` with ``g_k = freq_2k * rel_y + freq_2k+1 * rel_x +
   imphase(rel_cell)_k``; every hidden Linear is modulated ``x * (1 + scale) + shift`` before its
   ReLU. Members are blended with the diagonally swapped areas, then the bilinear LR skip is added.

Coordinates follow LIIF: ``coord`` (B, Q, 2) pixel centres in (-1, 1), ``[..., 0]`` = row (y),
``[..., 1]`` = column (x); ``cell`` (B, Q, 2) the output pixel size in the same units (2/H, 2/W).
Both are defined in :mod:`engine.models.lmlte.coords`.

Why this is faster than the reference while giving the same numbers: the reference resamples every
16-channel modulation slice with ``grid_sample`` per query. Here the nearest LR pixel of each
ensemble member is found once (a ``grid_sample`` of an index map, so the tie-breaking is the
reference's own) and all per-pixel quantities are gathered with ``index_select`` from channel-last
tables, layer by layer, inside bounded query chunks. Whole output grids at a regular scale skip
the gathers altogether: :mod:`engine.models.lmlte.grid` reads the same tables as strided views.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from engine.models.core_blocks import balanced_size, run_blocks
from engine.models.encoders import make_encoder
from engine.models.lmlte.coords import make_coord, size_tensor

#: Default number of query points rendered at once (bounds the working memory). On CPUs a
#: chunk whose per-layer activations stay in cache is about twice as fast as a large one; GPUs
#: want large batches.
DEFAULT_CHUNK = 65536
CPU_CHUNK = 8192
#: LR pixels per latent-MLP block.
MOD_BLOCK = 16384
#: LR pixels per encoder stripe on CPUs (:meth:`LMLTE.encode`): about 4 MB per 32-channel
#: feature map, which stays in the caches of a desktop CPU.
ENCODE_STRIPE_PIXELS = 131072
CUDA_CHUNK = 262144
#: Offset directions (vy, vx) of the four local-ensemble members.
ENSEMBLE_SIGNS = ((-1.0, -1.0), (-1.0, 1.0), (1.0, -1.0), (1.0, 1.0))
#: Tables of the render input, per LR pixel: coefficients, then the frequencies times pi along
#: y and along x (see :meth:`LMLTE.tables`).
RENDER_TABLES = ("coef", "freq_y", "freq_x")
#: One hidden render layer's modulation tables: (scale or None, shift), bias folded in.
Modulation = tuple["torch.Tensor | None", torch.Tensor]


def map_modulations(mods: list[Modulation] | None, fn: Callable[[torch.Tensor], torch.Tensor]
                    ) -> list[Modulation] | None:
    """``fn`` (a row slice, a view, ...) applied to every table of ``mods``; absent scales and
    absent modulations stay None."""
    return None if mods is None else [(None if s is None else fn(s), fn(t)) for s, t in mods]


def opposite_area_weights(area: torch.Tensor) -> list[torch.Tensor]:
    """Local-ensemble weights from the members' areas (n, ...), members first in
    :data:`ENSEMBLE_SIGNS` order: each member is weighted by the area of the diagonally
    opposite one, over the sum of all."""
    tot = area.sum(0)
    n = area.shape[0]
    return [area[n - 1 - i] / tot for i in range(n)]


def folds_bias(linear: nn.Module) -> bool:
    """True for a float ``nn.Linear``, whose weight the fast paths multiply by directly and
    whose bias the tables fold in; False for a dynamically int8-quantised layer (``--quantize
    int8`` exports), which is called as a module: its weight is packed and applies its bias."""
    return isinstance(linear, nn.Linear)


def lookup_map(h: Any, w: Any, bs: Any, device: torch.device | str) -> torch.Tensor:
    """(B, 3, h, w) float32 map that a nearest ``grid_sample`` reads to find the LR pixel of a
    query: the pixel centre (y, x) and the pixel's row in tables padded by one pixel
    (``(r + 1) * (w + 2) + c + 1``, exact in float32 below 2**24 entries)."""
    grid = make_coord(h, w, device).permute(2, 0, 1)  # (2, h, w)
    rows = torch.arange(h, device=device, dtype=torch.float32) + 1
    cols = torch.arange(w, device=device, dtype=torch.float32) + 1
    index = (rows.view(h, 1) * (w + 2) + cols.view(1, w)).view(1, h, w)
    return torch.cat((grid, index), 0)[None].expand(bs, 3, h, w)


def default_chunk(device: torch.device) -> int:
    """Query chunk used when the caller gives none: fast and memory-bounded on ``device``."""
    return CUDA_CHUNK if device.type == "cuda" else CPU_CHUNK


class MLP(nn.Module):
    """Plain MLP (``layers.N`` Linear/ReLU) on the last axis: the latent MLP (``hypernet``)."""

    def __init__(self, in_dim: int, out_dim: int, hidden_list: list[int], **_ignored: Any) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        last = in_dim
        for hidden in hidden_list:
            layers += [nn.Linear(last, hidden), nn.ReLU()]
            last = hidden
        layers.append(nn.Linear(last, out_dim))
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


class LMMLP(nn.Module):
    """Render MLP whose hidden Linear outputs are modulated: ``x * (1 + scale) + shift``.

    ``layers`` = [Linear, ReLU] * hidden_depth + [Linear]; the modulations are supplied per row by
    :meth:`forward` (``scales[k]``, ``shifts[k]``: (N, hidden_dim) or None).
    """

    def __init__(self, in_dim: int, out_dim: int, hidden_dim: int, hidden_depth: int,
                 mod_scale: bool = True, mod_shift: bool = True, **_ignored: Any) -> None:
        super().__init__()
        self.hidden_dim = hidden_dim
        self.hidden_depth = hidden_depth
        self.mod_scale = mod_scale
        self.mod_shift = mod_shift
        layers: list[nn.Module] = []
        last = in_dim
        for _ in range(hidden_depth):
            layers += [nn.Linear(last, hidden_dim), nn.ReLU(inplace=True)]
            last = hidden_dim
        layers.append(nn.Linear(last, out_dim))
        self.layers = nn.Sequential(*layers)

    @property
    def mod_dim(self) -> int:
        """Modulation channels the latent MLP must produce for this MLP."""
        per_layer = self.hidden_dim * (int(self.mod_scale) + int(self.mod_shift))
        return per_layer * self.hidden_depth

    def forward(self, x: torch.Tensor, mods: list[Modulation] | None = None,
                index: torch.Tensor | None = None) -> torch.Tensor:
        """x (..., in_dim); mods[k] = (scale, shift) of hidden layer k (..., hidden), on the last
        axis (rows of x, or views of the tables that line up with them).

        The tables (:meth:`LMLTE.tables`) fold the ``1 +`` and the layer's bias in once per LR
        pixel instead of once per query: ``(x W + b)(1 + s) + t = x W scale + shift`` with
        ``scale = 1 + s`` (None without scale modulation) and ``shift = b scale + t``, so a
        modulated layer is one product without bias and one multiply-add. With ``index`` (N,),
        x is (N, in_dim), ``mods`` are per-LR-pixel tables and row ``index[i]`` modulates row i:
        gathered layer by layer, so only one layer's rows exist at a time.
        """
        inplace = not torch.is_grad_enabled()
        for k in range(self.hidden_depth):
            linear = self.layers[2 * k]
            if mods is None:
                x = linear(x)
            else:
                scale, shift = mods[k]
                if index is not None:
                    scale = None if scale is None else scale.index_select(0, index)
                    shift = shift.index_select(0, index)
                # Bias folded into the shift table; a quantised layer applies its own.
                x = F.linear(x, linear.weight) if folds_bias(linear) else linear(x)
                x = x + shift if scale is None else torch.addcmul(shift, x, scale)
            x = torch.relu_(x) if inplace else torch.relu(x)
        return self.layers[-1](x)


class LMLTE(nn.Module):
    """The LMLTE network; constructor arguments are the official ``model.args``.

    Unknown arguments (``cmsr_spec`` added by the reference ``test.py``, ...) are ignored.
    """

    def __init__(self, encoder_spec: Mapping[str, Any], imnet_spec: Mapping[str, Any] | None = None,
                 hypernet_spec: Mapping[str, Any] | None = None, hidden_dim: int = 128,
                 local_ensemble: bool = True, cell_decode: bool = True, mod_input: bool = False,
                 **_ignored: Any) -> None:
        super().__init__()
        self.local_ensemble = local_ensemble
        self.cell_decode = cell_decode
        self.mod_input = bool(mod_input and hypernet_spec is not None and imnet_spec is not None)
        self.hidden_dim = hidden_dim

        self.encoder = make_encoder(encoder_spec)
        feat_dim = self.encoder.out_dim
        self.coef = nn.Conv2d(feat_dim, hidden_dim, 3, padding=1)
        self.freq = nn.Conv2d(feat_dim, hidden_dim, 3, padding=1)
        self.phase = nn.Linear(2, hidden_dim // 2, bias=False)

        im_args = dict((imnet_spec or {}).get("args") or {})
        self.mod_dim = 0
        self.mod_coef_dim = 0
        if hypernet_spec is not None and imnet_spec is not None:
            hd, depth = int(im_args["hidden_dim"]), int(im_args["hidden_depth"])
            per_layer = hd * (int(im_args.get("mod_scale", True)) + int(im_args.get("mod_shift", True)))
            self.mod_dim = per_layer * depth
            out_dim = self.mod_dim + (2 * hd if self.mod_input else 0)
            self.mod_coef_dim = hd if self.mod_input else 0
            hyper_args = {k: v for k, v in dict(hypernet_spec.get("args") or {}).items()
                          if k not in ("in_dim", "out_dim")}
            self.hypernet: MLP | None = MLP(hidden_dim, out_dim, **hyper_args)
        else:
            self.hypernet = None

        if imnet_spec is not None:
            if self.mod_input:
                self.imphase = nn.Linear(2, int(im_args["hidden_dim"]) // 2, bias=False)
            in_dim = int(im_args["hidden_dim"]) if self.mod_input else hidden_dim
            im_args = {k: v for k, v in im_args.items() if k not in ("in_dim", "mod_up_merge")}
            self.imnet: LMMLP | None = LMMLP(in_dim, **im_args)
            self.out_dim = int(im_args["out_dim"])
        else:
            self.imnet = None
            self.out_dim = self.encoder.n_colors if hasattr(self.encoder, "n_colors") else 3

        self.in_channels = int(getattr(self.encoder, "n_colors", 3))
        self._latent: dict[str, Any] | None = None

    # ----------------------------------------------------------------------------------------
    # stages

    @property
    def halo(self) -> int:
        """LR pixels of context per tile side for a seamless tiled result.

        Encoder receptive radius + 1 for the coef/freq 3x3 convs + 1 for the ensemble neighbour
        + 1 for the bilinear skip + 1 of margin.
        """
        return int(getattr(self.encoder, "receptive_radius", 32)) + 4

    def encode(self, inp: torch.Tensor) -> dict[str, Any]:
        """Encoder and coef/freq convs.

        Args:
            inp: (B, C, h, w) normalised to [-1, 1].

        Returns:
            latent dict: ``inp``, ``coef``, ``freq`` (B, hidden_dim, h, w).
        """
        rows = self._stripe_rows(inp)
        if rows is None:
            feat = self.encoder(inp)
            return {"inp": inp, "coef": self.coef(feat), "freq": self.freq(feat)}
        # Row stripes with the encoder's receptive radius (+1 for the coef/freq convs) of
        # context on each side give the whole-image result exactly, and each stripe's feature
        # maps stay in the CPU's caches; the stripes run one per core
        # (engine.models.core_blocks). 1024²: 2.1 s against 2.4 s in one piece.
        bs, _, h, w = inp.shape
        halo = int(self.encoder.receptive_radius) + 1
        # The dtype the convs give: autocast's reduced one when it is on.
        dtype = torch.get_autocast_dtype("cpu") if torch.is_autocast_enabled("cpu") \
            else self.coef.weight.dtype
        latent: dict[str, Any] = {"inp": inp}
        for name in ("coef", "freq"):
            latent[name] = torch.empty((bs, self.hidden_dim, h, w), dtype=dtype,
                                       device=inp.device, memory_format=torch.channels_last)

        def stripe(r0: int) -> None:
            r1 = min(h, r0 + rows)
            top, bottom = max(0, r0 - halo), min(h, r1 + halo)
            feat = self.encoder(inp[:, :, top:bottom])
            # The 3x3 convs need one feature row beyond the stripe (or the image edge).
            lo, hi = max(0, r0 - top - 1), min(bottom - top, r1 - top + 1)
            feat = feat[:, :, lo:hi]
            keep = slice(r0 - top - lo, r0 - top - lo + r1 - r0)
            for name in ("coef", "freq"):
                latent[name][:, :, r0:r1] = getattr(self, name)(feat)[:, :, keep]

        run_blocks(stripe, range(0, h, rows), inp.device)
        return latent

    def _stripe_rows(self, inp: torch.Tensor) -> int | None:
        """LR rows per encoder stripe, or None to encode ``inp`` in one piece: under training
        (the graph stays whole), on GPUs (they want large batches), for encoders whose output
        is not local (attention windows) and for images of at most one stripe."""
        if torch.is_grad_enabled() or inp.device.type != "cpu" \
                or not getattr(self.encoder, "convolutional", False):
            return None
        rows = max(16, ENCODE_STRIPE_PIXELS // max(1, inp.shape[0] * inp.shape[-1]))
        return balanced_size(inp.shape[-2], rows) if inp.shape[-2] > rows else None

    def modulations(self, latent: dict[str, Any], cell: torch.Tensor | None) -> torch.Tensor | None:
        """Latent-MLP output (B, M, h, w) for the query cells ``cell`` (B, Q, 2) (or None).

        As in the reference, the phase input uses the first ``h*w`` cells of the query batch
        (all equal in practice); with fewer queries the first cell is broadcast.
        """
        if self.hypernet is None:
            return None
        coef, freq = latent["coef"], latent["freq"]
        bs, ch, h, w = coef.shape
        n = h * w
        coef_l = coef.permute(0, 2, 3, 1)  # channel-last views; rows copied per block below
        freq_l = freq.permute(0, 2, 3, 1)
        rel_cell = None
        if self.cell_decode:
            if cell is None:
                raise ValueError("cell_decode models need the query cell")
            rel_cell = cell[:, :n] if cell.shape[1] >= n else cell[:, :1]
            rel_cell = rel_cell * size_tensor(h, w, cell.dtype, cell.device)
        # Row blocks of LR pixels bound the hypernet's working memory (its hidden layer is wide).
        block = max(1, MOD_BLOCK // max(bs, 1))
        c_l = coef_l.reshape(bs, n, ch)
        f_l = freq_l.reshape(bs, n, ch // 2, 2)
        # One piece for a single block (keeps traced graphs size-generic) and under training:
        # the blocks write into a preallocated output, which autograd cannot follow.
        if n <= block or torch.is_grad_enabled():
            mod = self._latent_mlp(c_l, f_l, rel_cell)
            return mod.view(bs, h, w, -1).permute(0, 3, 1, 2)
        # Each block's last layer writes straight into the output: no second copy of all the
        # modulations (a concatenation of the blocks doubled the peak memory of a tile).
        last = self.hypernet.layers[-1]
        mod = c_l.new_empty(bs, n, last.out_features)
        block = balanced_size(n, block)

        def pixels(r0: int) -> None:
            r1 = min(n, r0 + block)
            rc = None if rel_cell is None else (rel_cell[:, r0:r1] if rel_cell.shape[1] > 1
                                                else rel_cell)
            hidden = self._latent_mlp(c_l[:, r0:r1], f_l[:, r0:r1], rc, last_layer=False)
            for b in range(bs):
                if folds_bias(last):
                    # Autocast does not reach an out= product: under reduced precision the
                    # float32 weights are cast here, as autocast would (no-ops in float32).
                    dt = mod.dtype
                    torch.addmm(last.bias.to(dt), hidden[b].to(dt), last.weight.t().to(dt),
                                out=mod[b, r0:r1])
                else:  # a quantised layer has no float weight to multiply by
                    mod[b, r0:r1] = last(hidden[b])

        run_blocks(pixels, range(0, n, block), coef.device)  # disjoint rows: one per core
        return mod.view(bs, h, w, -1).permute(0, 3, 1, 2)

    def _latent_mlp(self, c_l: torch.Tensor, f_l: torch.Tensor, rel_cell: torch.Tensor | None,
                    last_layer: bool = True) -> torch.Tensor:
        """The hypernet on LR pixels: coef (B, n, ch), frequency pairs (B, n, ch/2, 2)."""
        assert self.hypernet is not None
        f_l = f_l[..., 0] + f_l[..., 1]  # the pair sums (a reduction over 2 is far slower)
        if rel_cell is not None:
            f_l = f_l + self.phase(rel_cell)
        basis = torch.cat((torch.cos(math.pi * f_l), torch.sin(math.pi * f_l)), dim=-1)
        layers = self.hypernet.layers if last_layer else self.hypernet.layers[:-1]
        return layers(c_l * basis)

    def tables(self, latent: dict[str, Any], mod: torch.Tensor | None) -> dict[str, Any]:
        """Channel-last per-LR-pixel tables gathered by :meth:`render` (or viewed by the grid
        renderer), each (B*(h+2)*(w+2), channels): the (h, w) grid with one replicated pixel
        around it (``cells`` rows per batch item).

        ``coef``, ``freq_y``, ``freq_x``: the render input's coefficients and frequencies (times
        pi) along y and x; ``mods[k]``: hidden layer k's (scale, shift) (:class:`LMMLP`), plus
        the LR coordinate/index map used to find the nearest LR pixel. Every table is its own
        tensor: a view of one (rows of a grid block) is then contiguous along the row at integer
        scales, which the elementwise kernels run about twice as fast as interleaved channels.
        """
        coef, freq = latent["coef"], latent["freq"]
        bs, _, h, w = coef.shape
        if self.mod_input and mod is not None:
            c0 = self.mod_dim
            coef = mod[:, c0:c0 + self.mod_coef_dim]
            freq = mod[:, c0 + self.mod_coef_dim:]

        def table(value: Callable[[torch.Tensor | None], torch.Tensor], channels: int
                  ) -> torch.Tensor:
            # ``value(out)`` computes a (B, C, h, w) table into ``out``, or into a new tensor
            # for ``out=None``. Stored channel-last with one replicated pixel around the grid
            # (the grid renderer reads the clamped neighbours of edge pixels as plain strided
            # views, :mod:`engine.models.lmlte.grid`), written in one pass instead of three
            # (the operation, a pad, a layout copy): 1024² in 0.33 s against 0.86 s.
            # Functional under training (no autograd through out=) and when traced for export
            # (exported graphs lose writes into a buffer).
            if torch.is_grad_enabled() or torch.jit.is_tracing():
                t = F.pad(value(None), (1, 1, 1, 1), mode="replicate")
                return t.permute(0, 2, 3, 1).reshape(-1, channels)
            buf = coef.new_empty(bs, h + 2, w + 2, channels)
            value(buf[:, 1:-1, 1:-1].permute(0, 3, 1, 2))
            buf[:, 0, 1:-1] = buf[:, 1, 1:-1]
            buf[:, -1, 1:-1] = buf[:, -2, 1:-1]
            buf[:, :, 0] = buf[:, :, 1]
            buf[:, :, -1] = buf[:, :, -2]
            return buf.view(-1, channels)

        def copy(src: torch.Tensor) -> Callable[[torch.Tensor | None], torch.Tensor]:
            return lambda o: src if o is None else o.copy_(src)

        # The frequencies come in (y, x) pairs; stored apart, and times pi once per LR pixel
        # instead of once per query, so that the render input is two multiply-adds.
        half = freq.shape[1] // 2
        out: dict[str, Any] = {
            "inp": latent["inp"], "h": h, "w": w, "bs": bs, "cells": (h + 2) * (w + 2),
            "coef": table(copy(coef), coef.shape[1]),
            "freq_y": table(lambda o: torch.mul(freq[:, 0::2], math.pi, out=o), half),
            "freq_x": table(lambda o: torch.mul(freq[:, 1::2], math.pi, out=o), half),
            "mods": None}
        if mod is not None and self.imnet is not None:
            im = self.imnet
            hd, depth = im.hidden_dim, im.hidden_depth
            mods: list[Modulation] = []
            for k in range(depth):
                linear = im.layers[2 * k]
                bias = (linear.bias if folds_bias(linear) and linear.bias is not None
                        else torch.zeros(hd, dtype=mod.dtype, device=mod.device)).view(1, hd, 1, 1)
                delta = None
                if im.mod_shift:
                    off = self.mod_dim // 2 if im.mod_scale else 0
                    delta = mod[:, off + k * hd:off + (k + 1) * hd]
                scale = None
                if im.mod_scale:
                    scale = table(lambda o, k=k: torch.add(mod[:, k * hd:(k + 1) * hd], 1.0,
                                                           out=o), hd)
                    inner = scale.view(bs, h + 2, w + 2, hd)[:, 1:-1, 1:-1].permute(0, 3, 1, 2)
                    # scale * bias (+ the shift modulation): the bias folded in per LR pixel.
                    shift = table(lambda o, s=inner, d=delta: torch.mul(s, bias, out=o)
                                  if d is None else torch.addcmul(d, s, bias, out=o), hd)
                else:
                    shift = table(copy(bias.expand(bs, hd, h, w)) if delta is None
                                  else lambda o, d=delta: torch.add(d, bias, out=o), hd)
                mods.append((scale, shift))
            out["mods"] = mods
        out["lookup"] = lookup_map(h, w, bs, coef.device)
        return out

    def render(self, tables: dict[str, Any], coord: torch.Tensor, cell: torch.Tensor | None,
               chunk: int | None = None) -> torch.Tensor:
        """Render query points: (B, Q, 2) coords and cells -> (B, Q, out_dim), normalised units.

        Queries are processed ``chunk`` at a time so the working memory does not grow with Q.
        """
        q = coord.shape[1]
        step = q if not chunk or chunk >= q else int(chunk)
        if step >= q:
            return self._render_chunk(tables, coord, cell)
        outs = [self._render_chunk(tables, coord[:, i:i + step],
                                   None if cell is None else cell[:, i:i + step])
                for i in range(0, q, step)]
        return torch.cat(outs, 1)

    def ensemble_offsets(self, h: Any, w: Any, device: torch.device | str) -> torch.Tensor:
        """(n, 2) float32 (dy, dx) lookup offsets of the ensemble members, in
        :data:`ENSEMBLE_SIGNS` order (one zero offset without the local ensemble): sign / size
        + 1e-6 on both axes, computed in float64 then rounded, as the reference does in Python
        floats."""
        if not self.local_ensemble:
            return torch.zeros(1, 2, dtype=torch.float32, device=device)
        signs = torch.tensor(ENSEMBLE_SIGNS, dtype=torch.float64, device=device)
        return (signs / size_tensor(h, w, torch.float64, device) + 1e-6).float()

    def cell_phase(self, rel_cell: torch.Tensor) -> torch.Tensor:
        """Phase of the render input for cells ``rel_cell`` (..., 2) in LR pixels, times pi
        (the angle's term, as the tables' frequencies are)."""
        return (self.imphase if self.mod_input else self.phase)(rel_cell) * math.pi

    @staticmethod
    def render_input(coef: torch.Tensor, freq_y: torch.Tensor, freq_x: torch.Tensor,
                     rel_y: torch.Tensor, rel_x: torch.Tensor,
                     phase: torch.Tensor | None) -> torch.Tensor:
        """Render-MLP input ``coef * [cos(pi g) | sin(pi g)]`` from gathered (or viewed) table
        rows (..., channels) and the query offsets ``rel_y``, ``rel_x`` in LR pixels
        (broadcastable, last axis 1): ``g_k = freq_2k * rel_y + freq_2k+1 * rel_x + phase_k``,
        the pair sums of the reference (``freq_*`` and ``phase`` come times pi)."""
        angle = freq_y * rel_y if phase is None else torch.addcmul(phase, freq_y, rel_y)
        # Not in place: an in-place add is lost in the ONNX export.
        angle = torch.addcmul(angle, freq_x, rel_x)
        # cos and sin into contiguous outputs: their vectorised kernels do not run on the
        # strided halves of one buffer (2.7 times slower at x4).
        return torch.cat((torch.cos(angle), torch.sin(angle)), -1).mul_(coef)

    def _render_chunk(self, t: dict[str, Any], coord: torch.Tensor,
                      cell: torch.Tensor | None) -> torch.Tensor:
        inp: torch.Tensor = t["inp"]
        coord = coord.float()
        skip = F.grid_sample(inp, coord.flip(-1).unsqueeze(1).to(inp.dtype), mode="bilinear",
                             padding_mode="border", align_corners=False)[:, :, 0, :].permute(0, 2, 1)
        if self.imnet is None:
            return skip
        bs, q = coord.shape[:2]
        h, w = t["h"], t["w"]
        offs = self.ensemble_offsets(h, w, coord.device)
        n_ens = offs.shape[0]
        shift = offs.view(1, n_ens, 1, 2)
        coords = (coord.unsqueeze(1) + shift).clamp_(-1 + 1e-6, 1 - 1e-6).view(bs, n_ens * q, 2)
        # Nearest LR pixel of every member, with grid_sample's own rounding (ties as reference).
        look = F.grid_sample(t["lookup"], coords.flip(-1).unsqueeze(1), mode="nearest",
                             align_corners=False)[:, :, 0, :]  # (B, 3, n*Q)
        hw_t = size_tensor(h, w, torch.float32, coord.device)
        rel = (coord.unsqueeze(1) - look[:, :2].permute(0, 2, 1).view(bs, n_ens, q, 2)) * hw_t
        # Offset of each batch item's rows in the tables, added even for one item: a Python
        # branch on the batch size would be frozen into an exported (traced) graph.
        idx = look[:, 2].long() + torch.arange(bs, device=coord.device).view(bs, 1) * t["cells"]
        idx = idx.view(-1)  # (B * n * Q,), member-major inside each batch item

        l0 = [t[name].index_select(0, idx).view(bs, n_ens, q, -1) for name in RENDER_TABLES]
        phase = None
        if self.cell_decode:
            if cell is None:
                raise ValueError("cell_decode models need the query cell")
            phase = self.cell_phase(cell.float() * hw_t).unsqueeze(1)  # (B, 1, Q, nc/2)
        x = self.render_input(*l0, rel[..., :1], rel[..., 1:], phase)
        pred = self.imnet(x.view(bs * n_ens * q, -1), t["mods"], idx).view(bs, n_ens, q, -1)

        if self.local_ensemble:
            area = (rel[..., 0] * rel[..., 1]).abs() + 1e-9  # (B, 4, Q)
            ret = 0
            for i, weight in enumerate(opposite_area_weights(area.permute(1, 0, 2))):
                ret = ret + pred[:, i] * weight.unsqueeze(-1)
        else:
            ret = pred[:, 0]
        return ret + skip.to(pred.dtype)

    # ----------------------------------------------------------------------------------------
    # reference-style entry points

    def gen_feat(self, inp: torch.Tensor) -> dict[str, Any]:
        """Encode ``inp`` (B, C, h, w) in [-1, 1] and keep it for :meth:`query`."""
        self._latent = self.encode(inp)
        self._latent["_cache"] = None
        return self._latent

    def query(self, coord: torch.Tensor, cell: torch.Tensor | None = None,
              chunk: int | None = None) -> torch.Tensor:
        """Render ``coord`` (B, Q, 2) with ``cell`` (B, Q, 2) from the last :meth:`gen_feat`."""
        if self._latent is None:
            raise RuntimeError("call gen_feat(inp) before query(coord, cell)")
        lat = self._latent
        mod = self.modulations(lat, cell)
        return self.render(self.tables(lat, mod), coord, cell, chunk)

    def forward(self, inp: torch.Tensor, coord: torch.Tensor,
                cell: torch.Tensor | None = None, chunk: int | None = None) -> torch.Tensor:
        """Training/eval forward: inp (B, C, h, w) in [-1, 1]; coord, cell (B, Q, 2).

        Returns (B, Q, out_dim) in normalised units (add 1, halve for [0, 1]).
        """
        lat = self.encode(inp)
        mod = self.modulations(lat, cell)
        return self.render(self.tables(lat, mod), coord, cell, chunk)
