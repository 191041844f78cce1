"""LMLTE's grid decoder compiled for this machine's CPU.

Why: in eager torch the decoder of a tile is dozens of small operations per block of queries
(the render input's multiply-adds, cosine and sine, then per hidden layer a 16-wide product,
the modulation and the ReLU), each a pass over memory for a few operations per value: it ran
at about a fifth of the machine's FLOP rate, and at x4 it took two thirds of a job. Compiled
graphs of the same operations (AOTInductor) ran about as slowly: they keep the 16-wide
products as library calls with a pass over memory around each.

How: ``grid_decoder.cpp`` is one loop per query, from the LR pixel's latent-MLP record to the
blended output pixel, with every intermediate in registers: four queries share each weight
load, and a hidden layer is 32 vector multiply-adds per query. It renders output rows of any
grid with separable gathers (the nearest LR row of every output row and the nearest column of
every output column, from the point-query path's own ``grid_sample`` rounding), and shares the
rows among torch's threads (OpenMP: torch's own runtime). The encoder and the latent MLP stay
torch: oneDNN's convolutions run at 85-100 % of the machine's matrix-product rate, the latent
MLP's products at about half of it.

The decoder holds no weights: its sizes (hidden width, depth, output channels) are compile-time
constants, so one build serves every model of those sizes. Building needs a C++ compiler once,
a few seconds (``python -m engine compile``; ``make setup`` and the plugin's *Create engine
environment* run it); the library lives in the user's cache (:func:`cache_dir`), named by the
sizes, the CPU's instruction set and a digest of the source (a library built from other code
is never used). Without it (no compiler,
``ARBSR_COMPILED=0``) the eager path runs; both give the same pixels within 1e-6.
"""

from __future__ import annotations

import ctypes
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

import torch
from torch import nn

from engine.models.checkpoints import file_sha256
from engine.models.lmlte.coords import size_tensor
from engine.models.lmlte.grid import bilinear_skip, nearest
from engine.models.lmlte.network import LMLTE, lookup_map

#: Environment variable that turns the compiled decoder off ("0").
SWITCH = "ARBSR_COMPILED"
#: The decoder's source.
SOURCE = Path(__file__).with_name("grid_decoder.cpp")
#: Output pixels per decoder call (rows of the whole grid width) and thread.
ROW_PIXELS = 16384


def cache_dir() -> Path:
    """Folder of the compiled decoders: ``$ARBSR_CACHE_DIR/compiled``, else the platform's
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
    """Why ``net``'s decoder cannot be compiled, or None: the decoder covers the LMF layout
    (local ensemble, cell decoding, latent render input, every hidden layer scaled and shifted,
    float weights, a width that is a multiple of 16)."""
    im, hyper = net.imnet, net.hypernet
    if im is None or hyper is None:
        return "it has no modulated render MLP"
    if not (net.local_ensemble and net.cell_decode and net.mod_input and im.mod_scale
            and im.mod_shift):
        return ("it does not use the local ensemble, cell decoding, latent render input and "
                "scale-and-shift modulation")
    if not all(isinstance(m, (nn.Linear, nn.ReLU)) for m in [*im.layers, *hyper.layers]):
        return "its MLPs are quantised"
    if im.hidden_dim % 16:
        return "its render MLP's width is not a multiple of 16"
    return None


def _sizes(net: LMLTE) -> tuple[int, int, int]:
    """(hidden width, hidden depth, output channels) of the render MLP."""
    assert net.imnet is not None
    return net.imnet.hidden_dim, net.imnet.hidden_depth, net.out_dim


def library_path(net: LMLTE) -> Path:
    """Where the decoder for ``net``'s sizes is on this machine: named by the sizes, the CPU
    and the source's digest (the weights are arguments)."""
    hid, depth, out = _sizes(net)
    isa = torch.backends.cpu.get_cpu_capability().lower()
    source = file_sha256(SOURCE)[:12]
    return cache_dir() / (f"lmlte-decoder-h{hid}-d{depth}-o{out}-{platform.machine().lower()}"
                          f"-{isa}-{source}.so")


def compiler() -> str | None:
    """The C++ compiler that builds the decoder, or None."""
    return shutil.which("g++") or shutil.which("c++") or shutil.which("clang++")


def _isa_flags() -> list[str]:
    """Compiler flags for the vector instructions in the library's name (torch's reading of
    this CPU), never ``-march=native``: a cache shared by machines of one instruction set must
    run on all of them. The decoder's vectors are 8 floats wide: AVX2 with FMA serves AVX-512
    CPUs as well; other CPUs get the compiler's baseline (SSE2, NEON)."""
    isa = torch.backends.cpu.get_cpu_capability().lower()
    if platform.machine().lower() in ("x86_64", "amd64") and isa.startswith(("avx2", "avx512")):
        return ["-mavx2", "-mfma"]
    return []


def build(net: LMLTE) -> Path:
    """Builds the decoder for ``net``'s sizes into :func:`library_path`, through a temporary
    file renamed at the end, so that a build that fails or is stopped never leaves a
    half-written library where the loader looks.

    Raises:
        ValueError: the network is not of the compiled layout (:func:`unsupported`).
        RuntimeError: no compiler, or the build failed.
    """
    why = unsupported(net)
    if why:
        raise ValueError(f"this model cannot be compiled: {why}")
    cxx = compiler()
    if cxx is None:
        raise RuntimeError("no C++ compiler (g++, c++ or clang++) on the PATH")
    path = library_path(net)
    path.parent.mkdir(parents=True, exist_ok=True)
    hid, depth, out = _sizes(net)
    fd, tmp = tempfile.mkstemp(suffix=".so", dir=path.parent)
    os.close(fd)
    try:
        base = [cxx, "-O3", "-std=c++17", "-shared", "-fPIC", *_isa_flags(), f"-DHID={hid}",
                f"-DDEPTH={depth}", f"-DOUT={out}", str(SOURCE), "-o", tmp]
        # Without OpenMP (a compiler that lacks it) the rows run on one thread.
        proc = subprocess.run(base[:1] + ["-fopenmp"] + base[1:], capture_output=True, text=True)
        if proc.returncode != 0:
            proc = subprocess.run(base, capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"building the decoder failed: {proc.stderr.strip()[-500:]}")
        _digest_path(path).unlink(missing_ok=True)
        os.replace(tmp, path)
        _digest_path(path).write_text(file_sha256(path))
        # What this build replaces: the same decoder built from older source, and the
        # compiled graphs of earlier releases (AOTInductor packages, a few MB per model).
        stem = path.name.rsplit("-", 1)[0]
        for old in [*path.parent.glob(f"{stem}-*.so*"), *path.parent.glob("lmlte-*.pt2")]:
            if old.name not in (path.name, _digest_path(path).name):
                old.unlink(missing_ok=True)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def _digest_path(path: Path) -> Path:
    """The checksum written beside a library when its build completed."""
    return path.with_name(path.name + ".sha256")


def _pointer(t: torch.Tensor) -> ctypes.c_void_p:
    return ctypes.c_void_p(t.data_ptr())


class CompiledLMLTE:
    """A model's compiled decoder: the loaded library and the weights it is given."""

    def __init__(self, path: Path, net: LMLTE) -> None:
        assert net.imnet is not None
        self.path = path
        library = ctypes.CDLL(str(path))
        self._prepare, self._decode = library.lmlte_prepare_records, library.lmlte_decode_rows
        self._prepare.restype = self._decode.restype = None
        im = net.imnet
        hidden = [im.layers[2 * k] for k in range(im.hidden_depth)]
        last = im.layers[-1]

        def cpu(t: torch.Tensor) -> torch.Tensor:
            return t.detach().to("cpu", torch.float32).contiguous()

        # Hidden layers transposed ([layer][in][out]), the output layer.
        self._weights = (cpu(torch.stack([m.weight.t() for m in hidden])), cpu(last.weight),
                         cpu(last.bias))
        self._biases = cpu(torch.stack([m.bias for m in hidden]))

    def prepare(self, mods: torch.Tensor) -> None:
        """Turns the latent MLP's output ``mods`` (..., M), contiguous float32, in place into
        the decoder's records: per LR pixel the arithmetic of :meth:`LMLTE.tables` (scale
        ``1 + s``, shift with the bias folded in, frequencies times pi), once."""
        assert mods.is_contiguous() and mods.dtype == torch.float32
        self._prepare(_pointer(mods), ctypes.c_int64(mods.numel() // mods.shape[-1]),
                      _pointer(self._biases), ctypes.c_int64(torch.get_num_threads()))

    def decode(self, mods: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor,
               rel_y: torch.Tensor, rel_x: torch.Tensor, phase: torch.Tensor,
               out: torch.Tensor) -> None:
        """Output rows of one band, added to ``out`` (out_dim, n, W), a float32 view with unit
        column stride that holds the bilinear LR skip.

        ``mods`` (h, w, M): the records of :meth:`prepare`, contiguous; ``rows`` (K, n) /
        ``cols`` (K, W): per ensemble member, the LR row / column every output row / column
        reads; ``rel_y`` (K, n) / ``rel_x`` (K, W): its offset in LR pixels; ``phase``: the
        cell's phase term (times pi). The rows are shared among torch's threads."""
        assert out.stride(-1) == 1 and out.dtype == torch.float32 and mods.is_contiguous()
        assert mods.dtype == torch.float32 and rows.dtype == cols.dtype == torch.int64
        rows, cols = rows.contiguous(), cols.contiguous()
        rel_y, rel_x, phase = rel_y.contiguous(), rel_x.contiguous(), phase.contiguous()
        weight, out_w, out_b = self._weights
        i64 = ctypes.c_int64
        # ctypes releases the GIL for the call: other Python threads go on meanwhile.
        self._decode(_pointer(mods), i64(mods.shape[1]), _pointer(rows), _pointer(cols),
                     _pointer(rel_y), _pointer(rel_x), i64(rows.shape[1]), i64(cols.shape[1]),
                     _pointer(phase), _pointer(weight), _pointer(out_w),
                     _pointer(out_b), _pointer(out), i64(out.stride(0)), i64(out.stride(1)),
                     i64(torch.get_num_threads()))


def load(net: LMLTE) -> CompiledLMLTE | None:
    """The compiled decoder of ``net`` on this machine, or None (not built, switched off, or a
    library that does not load: then a warning says so and the eager path runs)."""
    if os.environ.get(SWITCH, "1") == "0" or unsupported(net) is not None:
        return None
    path = library_path(net)
    if not path.is_file():
        return None
    try:
        # Checked before loading: a truncated or foreign library crashes the process (a bus
        # error) instead of failing to load.
        digest = _digest_path(path)
        if not digest.is_file() or digest.read_text().strip() != file_sha256(path):
            raise OSError("its checksum does not match")
        return CompiledLMLTE(path, net)
    except Exception as exc:  # a damaged or foreign library must not stop the job
        warnings.warn(f"compiled decoder {path.name} does not load "
                      f"({str(exc).splitlines()[0][:120]}); using the eager path: rebuild it "
                      "with 'python -m engine compile --force'", RuntimeWarning, stacklevel=2)
        return None


def usable(x: torch.Tensor) -> bool:
    """True when a model may render ``x`` (its input) through the compiled decoder: float32
    on the CPU, no autocast, no gradients, no export trace and no dispatch mode (a FLOP
    counter counts the eager operations)."""
    from torch.utils._python_dispatch import _get_current_dispatch_mode

    return (x.device.type == "cpu" and x.dtype == torch.float32
            and not torch.is_autocast_enabled("cpu") and not torch.is_grad_enabled()
            and not torch.jit.is_tracing() and _get_current_dispatch_mode() is None)


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
    the encoder and the latent MLP of the eager path, then the compiled decoder."""
    bs, _, h, w = inp.shape
    dev = ys.device
    latent = net.encode(inp)
    cell = torch.tensor([[cell_yx]], dtype=torch.float32, device=dev)
    # (B, M, h, w) views of channel-last (B, h, w, M) records: the decoder's layout.
    mods = net.modulations(latent, cell)
    del latent
    assert mods is not None
    mods = mods.permute(0, 2, 3, 1).contiguous()
    compiled.prepare(mods)
    rows, rel_y, cols, rel_x = _member_axes(net, h, w, ys, xs)
    phase = net.cell_phase(cell[0] * size_tensor(h, w, torch.float32, dev))[0]
    hh, ww = ys.numel(), xs.numel()
    out = torch.empty(bs, net.out_dim, hh, ww, dtype=torch.float32, device=dev)
    step = max(1, ROW_PIXELS * torch.get_num_threads() // max(ww, 1))
    for lo in range(0, hh, step):
        hi = min(hh, lo + step)
        out[:, :, lo:hi] = bilinear_skip(inp, ys[lo:hi], xs)
        for b in range(bs):
            compiled.decode(mods[b], rows[:, lo:hi], cols, rel_y[:, lo:hi], rel_x, phase,
                            out[b, :, lo:hi])
    return out


__all__ = ["CompiledLMLTE", "SOURCE", "SWITCH", "build", "cache_dir", "compiler",
           "library_path", "load", "render", "unsupported", "usable"]
