"""LMLTE's latent MLP and grid decoder compiled ahead of time for this machine (AOTInductor).

Why: in eager torch the decoder of a tile is dozens of small kernels per block of queries (the
render input's multiply-adds, cosine and sine, then per hidden layer a 16-wide product, the
modulation and the ReLU), each a pass over memory, around matrix products that alone run at
about 60 % of the machine's FLOP limit; the latent MLP likewise. Compiled, the gathers, the
elementwise work and the ensemble blend fuse into a few loops between the products, and the
per-LR-pixel tables of the eager path (:meth:`LMLTE.tables`) are not needed.

How: two graphs per model, each exported by ``torch.export`` with dynamic sizes and compiled
with its weights by AOTInductor into a package, a shared library that loads in a few
milliseconds without a compiler, without tracing and without importing the compiler stack
(so there is no first-call penalty, and the packages are used whenever they exist):

* :func:`latent_rows`: the latent MLP of a block of LR pixels, written as planes of the
  hidden width (:func:`mod_planes`), the layout the decoder gathers fastest;
* :func:`decode_rows`: output rows of a grid, with separable gathers (the nearest LR row of
  every output row and the nearest column of every output column, from the point-query
  path's own ``grid_sample`` rounding): no view plans, every scale.

The encoder stays eager (its convolutions already run at about 70 % of the limit).

Building the packages needs a C++ compiler and about a minute on 2 cores, once per model,
torch version and CPU (``python -m engine compile``; ``make setup`` builds them for
``lmlte-default``). They live
in the user's cache (:func:`cache_dir`), named by a hash of the MLPs' weights, the torch
version, the CPU's vector instruction set and :data:`FORMAT`. Without them (no compiler,
another torch, ``ARBSR_COMPILED=0``) the eager path runs; both give the same pixels within
1e-6.
"""

from __future__ import annotations

import copy
import hashlib
import math
import os
import platform
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from engine.models.lmlte.coords import size_tensor
from engine.models.lmlte.grid import bilinear_skip, nearest
from engine.models.lmlte.network import (ENSEMBLE_SIGNS, LMLTE, LMMLP, MLP, lookup_map,
                                         opposite_area_weights)

#: Version of the compiled graphs: bump when :func:`latent_rows` or :func:`decode_rows`
#: change, so that packages built from older code are not used.
FORMAT = 1
#: Environment variable that turns the compiled path off ("0").
SWITCH = "ARBSR_COMPILED"
#: The two graphs of a model, in file-name order.
PARTS = ("latent", "decoder")
#: Compiler settings: the gathered rows and columns come from the nearest-pixel lookup and are
#: always inside the grid, so the per-element bounds checks are left out (3.3 ms instead of
#: 4.1 ms per decoder block).
INDUCTOR = {"assert_indirect_indexing": False}
#: Output pixels per decoder call (rows of the whole grid width): 4 x 16384 member queries,
#: whose intermediates stay in a 2-core CPU's caches.
ROW_PIXELS = 16384
#: LR pixels per latent-MLP call.
LATENT_PIXELS = 16384


def cache_dir() -> Path:
    """Folder of the compiled packages: ``$ARBSR_CACHE_DIR/compiled``, else the platform's
    user cache (``$XDG_CACHE_HOME`` or ``~/.cache``; ``%LOCALAPPDATA%`` on Windows)."""
    root = os.environ.get("ARBSR_CACHE_DIR")
    if not root:
        if sys.platform == "win32":
            base = os.environ.get("LOCALAPPDATA") or str(Path.home() / "AppData" / "Local")
        else:
            base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        root = str(Path(base) / "arbsr")
    return Path(root) / "compiled"


def unsupported(net: LMLTE) -> str | None:
    """Why ``net`` cannot be compiled, or None: the graphs cover the LMF layout (local
    ensemble, cell decoding, latent render input, every hidden layer scaled and shifted,
    float weights)."""
    im, hyper = net.imnet, net.hypernet
    if im is None or hyper is None:
        return "it has no modulated render MLP"
    if not (net.local_ensemble and net.cell_decode and net.mod_input and im.mod_scale
            and im.mod_shift):
        return ("it does not use the local ensemble, cell decoding, latent render input and "
                "scale-and-shift modulation")
    if not all(isinstance(m, (nn.Linear, nn.ReLU)) for m in [*im.layers, *hyper.layers]):
        return "its MLPs are quantised"
    return None


def package_paths(net: LMLTE) -> dict[str, Path]:
    """Where ``net``'s packages are on this machine, per part: named by the MLPs' weights (the
    only weights in the graphs), torch, CPU and format."""
    assert net.imnet is not None and net.hypernet is not None
    digest = hashlib.sha256()
    for prefix, module in (("hypernet.", net.hypernet), ("imnet.", net.imnet)):
        for key, value in sorted(module.state_dict().items()):
            digest.update((prefix + key).encode())
            digest.update(str(tuple(value.shape)).encode())
            digest.update(value.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
    isa = torch.backends.cpu.get_cpu_capability().lower()
    stem = (f"lmlte-{digest.hexdigest()[:20]}-torch{torch.__version__.replace('+', '-')}"
            f"-{platform.machine().lower()}-{isa}-v{FORMAT}")
    return {part: cache_dir() / f"{stem}.{part}.pt2" for part in PARTS}


# ---------------------------------------------------------------------------------------------
# The graphs


def pair_sums(channels: int) -> torch.Tensor:
    """(C, C / 2) matrix whose product with frequency rows sums their (2j, 2j + 1) pairs."""
    out = torch.zeros(channels, channels // 2)
    idx = torch.arange(channels // 2)
    out[2 * idx, idx] = 1.0
    out[2 * idx + 1, idx] = 1.0
    return out


def latent_rows(hypernet: MLP, pairs: torch.Tensor, coef: torch.Tensor, freq: torch.Tensor,
                phase: torch.Tensor, hidden: int) -> torch.Tensor:
    """The latent MLP of N LR pixels, as :meth:`LMLTE._latent_mlp` -> (P, N, hidden) planes.

    ``coef``, ``freq``: (N, C) rows of the encoder's coefficient and frequency maps; ``phase``
    (C / 2,): the cell's phase term; ``pairs``: :func:`pair_sums`. The pair sums are a product
    with a 0/1 matrix, exactly the sums of the eager path (each sum has one rounding; the
    zeros add nothing), because strided pair loads kept the compiler from vectorising the
    cosines and sines that follow (0.53 s of scalar calls for a 1024² input). Planes of the
    hidden width instead of the eager path's channel-last (N, M) rows: a gathered pixel then
    reads one cache line per plane instead of a stretch of a 640-byte record (2.9 ms instead
    of 3.3 ms per decoder block of 16k outputs at x4)."""
    n = freq.shape[0]
    f = torch.mm(freq, pairs) + phase
    basis = torch.cat((torch.cos(math.pi * f), torch.sin(math.pi * f)), dim=-1)
    mod = hypernet.layers(coef * basis)
    return mod.view(n, -1, hidden).permute(1, 0, 2).contiguous()


def decode_rows(imnet: LMMLP, planes: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor,
                rel_y: torch.Tensor, rel_x: torch.Tensor, phase: torch.Tensor) -> torch.Tensor:
    """The blended render-MLP output of an output grid block -> (1, n, W, out_dim).

    ``planes``: the latent MLP's output of one band as (P, h, w, hidden) planes: per hidden
    layer k the scale (plane k) and the shift (plane depth + k) modulation, then the render
    input's coefficients and frequency pairs (the LMF layout, ``mod_input``); ``rows`` (K, n)
    / ``cols`` (K, W): per ensemble member, the LR row / column every output row / column
    reads; ``rel_y`` (K, n) / ``rel_x`` (K, W): its offset in LR pixels; ``phase``: the
    cell's phase term (times pi). The members are rendered as one batch, so each layer is one
    product of 4 n W rows. The arithmetic per pixel is that of :meth:`LMLTE.tables` and the
    point-query path."""
    depth = imnet.hidden_depth
    px = planes[:, rows[:, :, None], cols[:, None, :]]  # (P, K, n, W, hidden)
    freq = px[2 * depth + 1]
    x = LMLTE.render_input(px[2 * depth], freq[..., 0::2] * math.pi, freq[..., 1::2] * math.pi,
                           rel_y[:, :, None, None], rel_x[:, None, :, None], phase)
    mods = []
    for k in range(depth):
        scale = px[k] + 1.0
        mods.append((scale, torch.addcmul(px[depth + k], scale, imnet.layers[2 * k].bias)))
    pred = imnet(x, mods)  # (K, n, W, out_dim)
    area = (rel_y[:, :, None] * rel_x[:, None, :]).abs() + 1e-9
    out = None
    for member, weight in enumerate(opposite_area_weights(area)):
        term = pred[member] * weight.unsqueeze(-1)
        out = term if out is None else out + term
    assert out is not None
    return out[None]


class _Latent(nn.Module):
    def __init__(self, hypernet: MLP, channels: int, hidden: int) -> None:
        super().__init__()
        self.hypernet = hypernet
        self.register_buffer("pairs", pair_sums(channels))
        self.hidden = hidden

    def forward(self, coef: torch.Tensor, freq: torch.Tensor,
                phase: torch.Tensor) -> torch.Tensor:
        return latent_rows(self.hypernet, self.pairs, coef, freq, phase, self.hidden)


class _Decoder(nn.Module):
    def __init__(self, imnet: LMMLP) -> None:
        super().__init__()
        self.imnet = imnet

    def forward(self, planes: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor,
                rel_y: torch.Tensor, rel_x: torch.Tensor, phase: torch.Tensor) -> torch.Tensor:
        return decode_rows(self.imnet, planes, rows, cols, rel_y, rel_x, phase)


def _programs(net: LMLTE) -> dict[str, Any]:
    """Both graphs exported, on float32 CPU copies of the MLPs (the caller's model stays as it
    is). The examples are hints for the compiler, so they have the sizes of a real block: a
    tiny example compiled loops that ran on one core. Sizes are above 1 and all different, so
    that none is frozen into the graph; one band per decoder call, as a dynamic batch made its
    loops 30 % slower."""
    from torch.export import Dim, export

    assert net.imnet is not None and net.hypernet is not None
    imnet = copy.deepcopy(net.imnet).float().cpu().eval()
    hypernet = copy.deepcopy(net.hypernet).float().cpu().eval()
    hd, ch = imnet.hidden_dim, net.hidden_dim
    planes = (net.mod_dim + 2 * hd) // hd
    g = torch.Generator().manual_seed(0)
    k = len(ENSEMBLE_SIGNS)
    h, w, n, width = 256, 255, ROW_PIXELS // 1020, 1020
    decoder_args = (torch.rand(planes, h, w, hd, generator=g),
                    torch.randint(0, h, (k, n), generator=g),
                    torch.randint(0, w, (k, width), generator=g),
                    torch.rand(k, n, generator=g) - 0.5, torch.rand(k, width, generator=g) - 0.5,
                    torch.rand(hd // 2, generator=g))
    rows, cols = Dim("rows", min=1), Dim("cols", min=1)
    decoder_shapes = ({1: Dim("height", min=1), 2: Dim("width", min=1)}, {1: rows}, {1: cols},
                      {1: rows}, {1: cols}, None)
    pixels = Dim("pixels", min=1)
    latent_args = (torch.rand(LATENT_PIXELS - 3, ch, generator=g),
                   torch.rand(LATENT_PIXELS - 3, ch, generator=g),
                   torch.rand(ch // 2, generator=g))
    with torch.no_grad():
        return {
            "latent": export(_Latent(hypernet, ch, hd), latent_args,
                             dynamic_shapes=({0: pixels}, {0: pixels}, None)),
            "decoder": export(_Decoder(imnet), decoder_args, dynamic_shapes=decoder_shapes),
        }


def build(net: LMLTE) -> dict[str, Path]:
    """Export and compile ``net``'s latent MLP and decoder into their places in
    :func:`cache_dir`; each written to a temporary file and renamed. Needs a C++ compiler.

    Raises:
        ValueError: the network is not of the compiled layout (:func:`unsupported`).
    """
    why = unsupported(net)
    if why:
        raise ValueError(f"this model cannot be compiled: {why}")
    paths = package_paths(net)
    with warnings.catch_warnings():
        # torch.export's deprecation notices (FutureWarning, from its pytree code, again when
        # the packages pickle their specs) say nothing to the user.
        warnings.simplefilter("ignore", FutureWarning)
        programs = _programs(net)
        for part, program in programs.items():
            _package(program, paths[part])
    return paths


def _package(program: Any, path: Path) -> None:
    """Compiles ``program`` into ``path`` through a temporary file, so that a build that fails
    or is stopped never leaves a half-written package where the loader looks."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=".pt2", dir=path.parent)
    os.close(fd)
    try:
        torch._inductor.aoti_compile_and_package(program, package_path=tmp,
                                                 inductor_configs=INDUCTOR)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


# ---------------------------------------------------------------------------------------------
# Running them


class CompiledLMLTE:
    """A model's loaded packages: :meth:`latent` and :meth:`decoder`. Their inputs must be
    contiguous: a compiled graph indexes them with the strides of the export example and does
    not check them (a row slice of a stacked index tensor gave wrong pixels)."""

    def __init__(self, paths: dict[str, Path]) -> None:
        # The packages' own loader: torch._inductor.aoti_load_package wraps the same object
        # but imports the compiler stack first (1.1 s of every job).
        self.paths = paths
        self._run = {part: torch._C._aoti.AOTIModelPackageLoader(str(paths[part]), "model",
                                                                  False, 1, -1).boxed_run
                     for part in PARTS}

    def latent(self, coef: torch.Tensor, freq: torch.Tensor, phase: torch.Tensor
               ) -> torch.Tensor:
        """:func:`latent_rows`."""
        return self._run["latent"]([t.contiguous() for t in (coef, freq, phase)])[0]

    def decoder(self, planes: torch.Tensor, *block: torch.Tensor) -> torch.Tensor:
        """:func:`decode_rows` of one band's ``planes``."""
        return self._run["decoder"]([t.contiguous() for t in (planes, *block)])[0]


def load(net: LMLTE) -> CompiledLMLTE | None:
    """The compiled packages of ``net`` on this machine, or None (not built, switched off, or
    a package that does not load: then a warning says so and the eager path runs)."""
    if os.environ.get(SWITCH, "1") == "0" or unsupported(net) is not None:
        return None
    paths = package_paths(net)
    if not all(p.is_file() for p in paths.values()):
        return None
    try:
        return CompiledLMLTE(paths)
    except Exception as exc:  # a damaged or foreign package must not stop the job
        warnings.warn(f"compiled model {paths['decoder'].name} does not load "
                      f"({str(exc).splitlines()[0][:120]}); using the eager path: rebuild it "
                      "with 'python -m engine compile'", RuntimeWarning, stacklevel=2)
        return None


def usable(x: torch.Tensor) -> bool:
    """True when a model may render ``x`` (its input) through the compiled packages: float32
    on the CPU, no autocast, no gradients, no export trace and no dispatch mode (a FLOP
    counter counts the eager operations)."""
    from torch.utils._python_dispatch import _get_current_dispatch_mode

    return (x.device.type == "cpu" and x.dtype == torch.float32
            and not torch.is_autocast_enabled("cpu") and not torch.is_grad_enabled()
            and not torch.jit.is_tracing() and _get_current_dispatch_mode() is None)


def planes_of(net: LMLTE, compiled: CompiledLMLTE, latent: dict[str, Any],
              cell_yx: tuple[float, float]) -> torch.Tensor:
    """The latent MLP of every LR pixel of ``latent`` (:meth:`LMLTE.encode`) for the cell
    ``cell_yx`` -> (B, P, h, w, hidden) planes."""
    coef, freq = latent["coef"], latent["freq"]
    bs, ch, h, w = coef.shape
    assert net.imnet is not None
    hd = net.imnet.hidden_dim
    phase = net.phase(torch.tensor([cell_yx], dtype=torch.float32, device=coef.device)
                      * size_tensor(h, w, torch.float32, coef.device))[0]
    coef_l = coef.permute(0, 2, 3, 1).reshape(bs, h * w, ch)  # views of channels-last maps
    freq_l = freq.permute(0, 2, 3, 1).reshape(bs, h * w, ch)
    planes = coef.new_empty(bs, (net.mod_dim + 2 * hd) // hd, h * w, hd)
    for b in range(bs):
        for r0 in range(0, h * w, LATENT_PIXELS):
            r1 = min(h * w, r0 + LATENT_PIXELS)
            planes[b, :, r0:r1] = compiled.latent(coef_l[b, r0:r1], freq_l[b, r0:r1], phase)
    return planes.view(bs, -1, h, w, hd)


def _member_axes(net: LMLTE, h: int, w: int, ys: torch.Tensor, xs: torch.Tensor
                 ) -> tuple[torch.Tensor, ...]:
    """Per ensemble member (first axis): the LR row of every output row, its offset in LR
    pixels, and the same for the columns, with the point-query path's clamp and rounding."""
    lookup = lookup_map(h, w, 1, ys.device)
    rows, rel_y, cols, rel_x = [], [], [], []
    for offset in net.ensemble_offsets(h, w, ys.device):
        index, rel = nearest(lookup, ys, offset[0], 0, h, w + 2)
        rows.append(index)
        rel_y.append(rel)
        index, rel = nearest(lookup, xs, offset[1], 1, w, w + 2)
        cols.append(index)
        rel_x.append(rel)
    return torch.stack(rows), torch.stack(rel_y), torch.stack(cols), torch.stack(rel_x)


def render(net: LMLTE, compiled: CompiledLMLTE, inp: torch.Tensor, ys: torch.Tensor,
           xs: torch.Tensor, cell_yx: tuple[float, float]) -> torch.Tensor:
    """The grid ``ys`` x ``xs`` (any grid; float32 normalised coordinates) of ``inp``
    (B, C, h, w) in [-1, 1] with the (clipped) cell ``cell_yx`` -> (B, out_dim, H, W) float32:
    the eager encoder, then the compiled latent MLP and decoder."""
    bs, _, h, w = inp.shape
    dev = ys.device
    latent = net.encode(inp)
    planes = planes_of(net, compiled, latent, cell_yx)
    del latent
    rows, rel_y, cols, rel_x = _member_axes(net, h, w, ys, xs)
    phase = net.cell_phase(torch.tensor([cell_yx], dtype=torch.float32, device=dev)
                           * size_tensor(h, w, torch.float32, dev))[0]
    hh, ww = ys.numel(), xs.numel()
    out = torch.empty(bs, net.out_dim, hh, ww, dtype=torch.float32, device=dev)
    step = max(1, ROW_PIXELS // max(ww, 1))
    for lo in range(0, hh, step):
        hi = min(hh, lo + step)
        skip = bilinear_skip(inp, ys[lo:hi], xs)
        block = rows[:, lo:hi], cols, rel_y[:, lo:hi], rel_x, phase
        for b in range(bs):
            pred = compiled.decoder(planes[b], *block)
            out[b:b + 1, :, lo:hi] = pred.permute(0, 3, 1, 2) + skip[b:b + 1]
    return out


__all__ = ["CompiledLMLTE", "FORMAT", "PARTS", "SWITCH", "build", "cache_dir", "decode_rows",
           "latent_rows", "load", "package_paths", "render", "unsupported",
           "usable"]
