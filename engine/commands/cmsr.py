"""``python -m engine cmsr``: build a CMSR table for an LMLTE checkpoint from your own rasters.

CMSR (controllable multi-scale rendering) renders smooth pixels of a >x4 output at a coarser
scale and resamples them. Which pixels may be rendered coarse depends on the model and the
imagery, so the table is measured: for each target scale, LR crops of the given rasters are
rendered at the target and at every coarser decode scale; a modulation bin is allowed at a coarse
scale while the MSE (normalised [-1, 1] units, as in LMF) stays below ``--mse``. The result is the
official YAML layout, usable with ``engine.load_model(path, cmsr=TABLE)``, from a model card in
``$ARBSR_MODELS_DIR`` with ``"options": {"cmsr": "/absolute/path/table.yaml"}`` (then
``upscale --model NAME``), and by the official ``test.py --cmsr_path``.

    python -m engine cmsr --model CKPT|NAME --data A.tif [B.tif ...] --out table.yaml
        [--mse 2e-5] [--scales 6 8 12 18] [--patch 48] [--crops 8] [--bands 1,2,3]
        [--device auto] [--seed 0]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from engine.errors import ModelError, OutputError, ParameterError
from engine.progress import Done, Log, Progress, ProgressCallback

HELP = "build a CMSR table (faster rendering above x4) for an LMLTE model from your rasters"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default=None, help="LMLTE model name or checkpoint (default: the "
                   "bundled default model)")
    p.add_argument("--data", nargs="+", required=True, metavar="RASTER",
                   help="rasters representative of what you will super-resolve")
    p.add_argument("--out", required=True, help="output YAML table (updated if it exists)")
    p.add_argument("--mse", type=float, default=2e-5,
                   help="MSE threshold in [-1, 1] units (official default 2e-5; larger = faster)")
    p.add_argument("--scales", type=float, nargs="+", default=[6, 8, 12, 18],
                   help="target scales to build tables for (each > 4)")
    p.add_argument("--patch", type=int, default=48, help="LR crop side in pixels")
    p.add_argument("--crops", type=int, default=8, help="crops per raster")
    p.add_argument("--bands", default=None, help="1-based bands to use, e.g. 1,2,3 (default all)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    p.add_argument("--seed", type=int, default=0, help="seed of the crop positions")


def _crops(data: np.ndarray, valid: np.ndarray, patch: int, n: int,
           rng: np.random.Generator) -> list[np.ndarray]:
    """Up to ``n`` fully valid (bands, patch, patch) crops (the whole raster if smaller)."""
    _, rows, cols = data.shape
    ph, pw = min(patch, rows), min(patch, cols)
    out: list[np.ndarray] = []
    for _ in range(n * 20):
        if len(out) >= n:
            break
        y = int(rng.integers(0, rows - ph + 1))
        x = int(rng.integers(0, cols - pw + 1))
        if valid[y:y + ph, x:x + pw].all():
            out.append(data[:, y:y + ph, x:x + pw])
    return out


def build_tables(model, sources, *, scales: list[float], mse: float, patch: int, crops: int,
                 seed: int, tables: dict | None = None,
                 progress: ProgressCallback = lambda e: None) -> dict:
    """Update (or start) CMSR tables for ``scales`` from crops of ``sources``.

    Band-wise (1-channel) models see each band alone; 3-channel models see bands 1-3 (a 1-band
    raster is replicated to three channels).
    """
    from engine.models.lmlte import cmsr

    rng = np.random.default_rng(seed)
    net = model.module
    cin = model.in_channels
    images: list[torch.Tensor] = []
    for src in sources:
        for crop in _crops(src.data, src.valid, patch, crops, rng):
            t = torch.from_numpy(np.ascontiguousarray(crop, dtype=np.float32))
            if cin == 1:
                images += [t[b:b + 1] for b in range(t.shape[0])]
            else:
                t = t[:cin] if t.shape[0] >= cin else t[:1].expand(cin, -1, -1)
                images.append(t)
    if not images:
        raise ParameterError("no fully valid crop found in the rasters: use a smaller --patch "
                             "or rasters with fewer nodata pixels")
    tables = dict(tables or {})
    total = len(scales) * len(images)
    done = 0
    for s in sorted(scales):
        table = dict(tables.get(float(s)) or cmsr.initial_table(s))
        for img in images:
            inp = ((img[None] - 0.5) / 0.5).to(model.device)
            with torch.no_grad():
                cmsr.update_table(net, inp, float(s), table, mse)
            done += 1
            progress(Progress(done / total, f"x{s:g}: crop {done}/{total}"))
        tables[float(s)] = table
    return tables


def run(args: argparse.Namespace, progress: ProgressCallback) -> Done:
    import engine
    from engine.models.lmlte import cmsr
    from engine.train.data import load_sources

    start = time.perf_counter()
    if args.mse <= 0:
        raise ParameterError(f"--mse must be positive, got {args.mse}")
    if any(s <= 4 for s in args.scales):
        raise ParameterError("CMSR is only used above x4: give --scales larger than 4")
    if args.patch < 8 or args.crops < 1:
        raise ParameterError("--patch must be at least 8 and --crops at least 1")
    out = Path(args.out)
    if not out.parent.is_dir():
        raise OutputError(f"folder '{out.parent}' does not exist: create it or choose another --out")
    model = engine.load_model(args.model, device=args.device)
    if model.family != "lmlte":
        raise ModelError(f"model '{model.name}' is a {model.family} model: CMSR tables are for "
                         "LMLTE models")
    bands = [int(b) for b in args.bands.split(",")] if args.bands else None
    sources = load_sources(args.data, bands=bands, min_size=8)
    existing = cmsr.load_table(out) if out.exists() else None
    if existing:
        progress(Log(f"updating the existing table {out}", "info"))
    tables = build_tables(model, sources, scales=list(args.scales), mse=args.mse,
                          patch=args.patch, crops=args.crops, seed=args.seed, tables=existing,
                          progress=progress)
    tmp = out.with_name(out.name + ".tmp")
    try:
        cmsr.save_table(tmp, tables)
        tmp.replace(out)
    finally:
        tmp.unlink(missing_ok=True)
    return Done(output=str(out), seconds=time.perf_counter() - start,
                results={"tables": {f"{k:g}": {f"{s:g}": v for s, v in t.items()}
                                    for k, t in tables.items()}})
