"""``make bench`` entry for LMLTE: megapixels per second and peak memory per scale, +- CMSR.

Model: EDSR-baseline LMLTE with the official ``train_edsr-baseline-lmlte.yaml`` args (RGB) and
seed-0 weights (speed does not depend on the weight values). Input: a 256x256 RGB crop of
scikit-image's ``astronaut`` (64x64 with ``quick``; ``ARBSR_BENCH_SIDE`` overrides). Scales x2, x3.5, x4, x8; CMSR applies above
x4 only, with a table whose thresholds are the quartiles of this model's modulation means (a
random model's modulations are far below the thresholds of the official table, which would send
every pixel to the x1 level; the fixture README explains the same choice).

Each figure is the best of ``repeat`` runs (``ARBSR_BENCH_REPEAT``; 2 on CPU, 3 on CUDA).
Peak memory: on CUDA ``torch.cuda.max_memory_allocated`` above the loaded model; on CPU the peak
resident set size above the level before the call, sampled every 2 ms.

Side-by-side with the official implementation: set ``ARBSR_LMF_REFERENCE`` to a checkout of
HeZongyao/LMF; the entry then imports its ``models`` package (nothing is copied), loads the same
weights, renders the same sizes through the official ``forward(inp, coord, cell, bsize)`` with
the same query chunk, and reports the time ratio and the largest output difference.
"""

from __future__ import annotations

import os
import sys
import types
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from engine.bench.common import PeakMemory, timed  # noqa: F401  (PeakMemory: the tests' name)
from engine.models.lmlte.checkpoint import OFFICIAL_EDSR_B_ARGS, build_lmlte, checkpoint_dict
from engine.models.lmlte.coords import make_coord
from engine.models.lmlte.network import default_chunk

ARGS = OFFICIAL_EDSR_B_ARGS
SCALES = (2.0, 3.5, 4.0, 8.0)
#: The official default chunk (half a 4K frame) needs tens of GB at x8 on a CPU: the reference
#: runs with the same query chunk as ours (like for like, and memory-safe).


def _input(side: int) -> torch.Tensor:
    try:
        from skimage import data
        img = data.astronaut().astype(np.float32) / 255.0  # 512x512 RGB
    except Exception:  # scikit-image absent: a smooth synthetic image
        y, x = np.mgrid[0:512, 0:512] / 512.0
        img = np.stack([np.sin(6 * x + 3 * y), np.cos(5 * y), x * y], -1).astype(np.float32) * 0.5 + 0.5
    crop = img[100:100 + side, 150:150 + side] if side <= 256 else img[:side, :side]
    return torch.from_numpy(np.ascontiguousarray(crop.transpose(2, 0, 1)))[None]


def _quartile_table(model: Any, lr: torch.Tensor) -> dict[float, dict[float, float]]:
    from engine.models.lmlte import cmsr

    _, mod = model._prepare(lr.to(model.device), (2 / 8 / lr.shape[-2] * 2, 2 / 8 / lr.shape[-1] * 2))
    mm = cmsr.mod_mean(model.module, mod).flatten().float().cpu().numpy()
    q1, q2, q3 = (float(v) for v in np.quantile(mm, [0.25, 0.5, 0.75]))
    base = {1.0: q1, 2.0: q2, 4.0: q3, 6.0: 1.0}
    return {t: {**base, **({t: 1.0} if t > 6 else {})} for t in (6.0, 8.0, 12.0, 18.0)}


def _stub(name: str) -> types.ModuleType:
    """A placeholder package whose public attributes are inert callables."""
    mod = types.ModuleType(name)
    mod.__path__ = []  # type: ignore[attr-defined]

    def attr(key: str) -> Any:
        if key.startswith("__"):
            raise AttributeError(key)
        return lambda *a, **k: None

    mod.__getattr__ = attr  # type: ignore[attr-defined]
    return mod


def _official(ref_root: str) -> tuple[Any, Callable[..., Any]] | None:
    """Import the official ``models`` package from ``ref_root`` (stubbing timm if absent)."""
    root = Path(ref_root)
    if not (root / "models" / "lmlte.py").is_file():
        return None
    # Its package imports training-only dependencies at import time; stand in for the missing
    # ones (the LMLTE inference path does not use them).
    for name in ("tensorboardX", "torchvision", "torchvision.models", "torchvision.models.vgg",
                 "timm", "timm.models", "timm.models.layers"):
        try:
            __import__(name)
        except ImportError:
            sys.modules[name] = _stub(name)
            parent, _, child = name.rpartition(".")
            if parent in sys.modules:
                setattr(sys.modules[parent], child, sys.modules[name])
    layers = sys.modules["timm.models.layers"]
    if not hasattr(layers, "__file__"):
        layers.DropPath = torch.nn.Identity  # type: ignore[attr-defined]
        layers.to_2tuple = lambda v: tuple(v) if isinstance(v, (tuple, list)) else (v, v)  # type: ignore[attr-defined]
        layers.trunc_normal_ = torch.nn.init.trunc_normal_  # type: ignore[attr-defined]
    sys.path.insert(0, str(root))
    try:
        import models as lmf_models  # type: ignore[import-not-found]
    finally:
        sys.path.remove(str(root))
    return lmf_models, lmf_models.make


def run(out_dir: Path, quick: bool = False) -> dict[str, Any]:
    """Run the benchmark; returns the JSON-able result (also written by ``engine bench``)."""
    import engine
    from engine.device import resolve_device

    device = resolve_device(os.environ.get("ARBSR_BENCH_DEVICE", "auto"))
    threads = int(os.environ.get("ARBSR_BENCH_THREADS", "1"))
    if device.type == "cpu":
        torch.set_num_threads(threads)
    side = int(os.environ.get("ARBSR_BENCH_SIDE", "64" if quick else "256"))
    repeat = int(os.environ.get("ARBSR_BENCH_REPEAT", "2" if device.type == "cpu" else "3"))
    out_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    net = build_lmlte(ARGS)
    ck_path = out_dir / "lmlte-bench-edsr-b-seed0.pth"
    torch.save(checkpoint_dict(ARGS, net.state_dict()), ck_path)
    model = engine.load_model(ck_path, device=str(device))
    lr = _input(side).to(device)
    table = _quartile_table(model, lr)

    reference = None
    ref_root = os.environ.get("ARBSR_LMF_REFERENCE")
    if ref_root:
        loaded = _official(ref_root)
        if loaded is not None:
            _mods, make = loaded
            if device.type == "cpu":
                # The reference hard-codes a move of its coordinate grid to the GPU; keep it on the CPU.
                torch.Tensor.cuda = lambda self, *a, **k: self  # type: ignore[method-assign]
            spec = checkpoint_dict(ARGS, net.state_dict())["model"]
            reference = make(spec, load_sd=True).to(device).eval()

    model.upscale(lr[..., :16, :16], (32, 32))  # warm-up (allocator, kernels)

    def encode() -> Any:
        with torch.no_grad():
            return model.module.encode((lr - 0.5) / 0.5)

    # The encoder is the same computation in both implementations; reported apart so that the
    # query-rendering part of each figure can be read off (seconds - encoder_seconds).
    enc_sec, _, _ = timed(encode, device, repeat)
    rows = []
    for s in SCALES:
        hh, ww = round(side * s), round(side * s)
        mp = hh * ww / 1e6
        sec, peak, ours = timed(lambda: model.upscale(lr, (hh, ww), cmsr=False),
                                device, repeat)
        row: dict[str, Any] = {"scale": s, "output": [hh, ww], "megapixels": mp,
                               "seconds": sec, "mp_per_s": mp / sec, "peak_mb": peak / 2 ** 20}
        if s > 4:
            stats: dict[str, Any] = {}
            sec_c, peak_c, out_c = timed(
                lambda: model.upscale(lr, (hh, ww), cmsr=table), device, repeat)
            row["cmsr"] = {"seconds": sec_c, "mp_per_s": mp / sec_c, "peak_mb": peak_c / 2 ** 20,
                           "max_abs_diff_vs_full": float((out_c - ours).abs().max())}
            del stats
        else:
            row["cmsr"] = "not used at or below x4 (as the official code)"
        if reference is not None:
            coord = make_coord(hh, ww, device).view(1, -1, 2)
            f = max(s / 4, 1.0)
            cell = torch.ones_like(coord)
            cell[..., 0] *= 2 / hh
            cell[..., 1] *= 2 / ww
            cell *= f
            inp = (lr - 0.5) / 0.5

            def official() -> torch.Tensor:
                with torch.no_grad():
                    pred = reference(inp, coord, cell, bsize=default_chunk(device))
                return (pred * 0.5 + 0.5).clamp(0, 1).view(1, hh, ww, 3).permute(0, 3, 1, 2)

            sec_o, peak_o, out_o = timed(official, device, repeat)
            row["official"] = {"seconds": sec_o, "mp_per_s": mp / sec_o, "peak_mb": peak_o / 2 ** 20,
                               "speedup": sec_o / sec,
                               "max_abs_diff": float((out_o - ours).abs().max())}
            del out_o, coord, cell
        rows.append(row)
        del ours
    return {
        "entry": "lmlte",
        "model": "edsr-baseline-lmlte (official args, seed-0 weights)",
        "input": [side, side],
        "device": str(device),
        "threads": torch.get_num_threads() if device.type == "cpu" else None,
        "chunk": default_chunk(device),
        "torch": torch.__version__,
        "official_compared": reference is not None,
        "repeat": repeat,
        "encoder_seconds": enc_sec,
        "results": rows,
    }
