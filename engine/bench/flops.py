"""How close the default model runs to the machine's floating-point limit, and what the CLI adds.

* **Limit**: the best of a few float32 2048 x 2048 matrix products (``torch.mm``) on all cores
  (torch's default threads, as the CLI runs), before and after the model runs (the higher
  one): the machine's attainable FLOP rate.
* **Model-only**: ``lmlte-default``'s :meth:`upscale` on a real WorldView-2 PAN crop (256² and
  1024² inputs, x2 / x3 / x4), the whole image in one call. FLOPs are counted with
  ``torch.utils.flop_counter`` on the 256² input (matrix products and convolutions, the work
  that counts); they grow exactly with the pixel counts, so the 1024² figure is 16 times that.
  Utilisation = counted FLOPs / seconds / limit. The model runs as users get it: through its
  compiled latent MLP and decoder when ``engine compile`` has built them on this machine
  (``"compiled": true``; ``make setup`` does), else eagerly; the counting pass is eager either
  way (the same operations).
* **CLI overhead**: ``python -m engine upscale`` with default options on a 2048² UInt16 GeoTIFF
  of the same imagery (start-up, reading, statistics, tiling, writing included; the throughput
  entry's raster) against the model-only time of that input at x2:
  ``cli_seconds / model_seconds - 1``.

``python -m engine bench --only flops`` (``make bench`` runs every entry).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

from engine.bench.pipeline import make_raster, measure

MODEL = "lmlte-default"
SIDES = (256, 1024)
CLI_SIDE = 2048
SCALES = (2, 3, 4)
#: Targets of the throughput issue: utilisation at x2 and at x3-x4, CLI overhead.
TARGET_X2, TARGET_X34, TARGET_OVERHEAD = 0.50, 0.35, 0.15


def flop_limit(repeat: int = 5) -> float:
    """Attainable float32 GFLOP/s: the best of ``repeat`` 2048³ matrix products."""
    import torch

    a, b = torch.rand(2048, 2048), torch.rand(2048, 2048)
    a @ b  # warm-up
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t0)
    return 2 * 2048 ** 3 / best / 1e9


def _crop(side: int, raster: Path | None = None) -> Any:
    """A real PAN crop (1, 1, side, side) in [0, 1] (the pipeline's percentile stretch), from
    the WorldView-2 PAN file or ``raster``."""
    import numpy as np
    import torch
    from osgeo import gdal

    from engine.bench.common import dgsamples_tif

    path = raster or dgsamples_tif("wv2_longmont_1k", "PAN")
    arr = gdal.Open(str(path)).ReadAsArray(0, 0, side, side).astype(np.float32)
    lo, hi = np.percentile(arr, [0.1, 99.9])
    return torch.from_numpy(np.clip((arr - lo) / (hi - lo), 0, 1))[None, None]


def best_seconds(model: Any, lr: Any, scale: int, runs: int) -> float:
    """Model-only seconds of ``model`` upscaling ``lr`` by ``scale``: best of ``runs`` after a
    small warm-up call."""
    model.upscale(lr[..., :32, :32], (32 * scale, 32 * scale))
    best = float("inf")
    for _ in range(runs):
        t0 = time.perf_counter()
        model.upscale(lr, (lr.shape[-2] * scale, lr.shape[-1] * scale))
        best = min(best, time.perf_counter() - t0)
    return best


def model_rows(model: Any, quick: bool) -> list[dict[str, Any]]:
    """Model-only seconds and counted GFLOP per input side and scale."""
    from torch.utils.flop_counter import FlopCounterMode

    sides = (64, 128) if quick else SIDES
    rows = []
    for s in SCALES:
        small = _crop(sides[0])
        counter = FlopCounterMode(display=False)
        with counter:
            model.upscale(small, (sides[0] * s, sides[0] * s))
        flops_small = counter.get_total_flops()
        for side in sides:
            lr = small if side == sides[0] else _crop(side)
            best = best_seconds(model, lr, s, runs=3 if side == sides[0] else 1)
            gflop = flops_small * (side / sides[0]) ** 2 / 1e9
            rows.append({"side": side, "scale": s, "seconds": round(best, 3),
                         "gflop": round(gflop, 2), "gflops": round(gflop / best, 1),
                         "out_mpix_per_s": round((side * s) ** 2 / 1e6 / best, 3)})
    return rows


def run(out_dir: Path, quick: bool) -> dict[str, Any]:
    """The bench JSON: limit, model-only rows, CLI overhead, targets."""
    import os

    import torch

    import engine

    # All cores, as the CLI child below runs (an entry run before may have set 1 thread).
    torch.set_num_threads(os.cpu_count() or 1)
    # The limit is measured before and after the model runs and the higher one kept: on a
    # shared machine one measurement alone varied from 93 to 186 GFLOP/s between runs.
    model = engine.load_model(MODEL, device="cpu")
    before = flop_limit()
    rows = model_rows(model, quick)
    limit = max(before, flop_limit())
    for r in rows:
        r["utilisation"] = round(r["gflops"] / limit, 3)
    side = 128 if quick else CLI_SIDE
    with tempfile.TemporaryDirectory(prefix="arbsr-flops-", dir=out_dir) as tmp:
        src = make_raster(Path(tmp) / f"pan{side}.tif", "PAN", side, side)
        cli = measure([src, Path(tmp) / "out.tif", "--model", MODEL, "--scale", 2])
        model_s = best_seconds(model, _crop(side, src), 2, runs=3 if quick else 1)
    overhead = cli["seconds"] / model_s - 1
    util = {f"{r['side']} x{r['scale']}": r["utilisation"] for r in rows}
    targets = {
        "utilisation": util,
        "cli_overhead_x2": round(overhead, 3),
        "ok": bool(all(r["utilisation"] >= (TARGET_X2 if r["scale"] == 2 else TARGET_X34)
                       for r in rows) and overhead <= TARGET_OVERHEAD),
    }
    return {"entry": "flops", "threads": torch.get_num_threads(), "quick": quick, "model": MODEL,
            "compiled": model.compiled() is not None,
            "limit_gflops": round(limit, 1), "rows": rows,
            "cli": {"side": side, "scale": 2, "model_only_seconds": round(model_s, 2), **cli},
            "targets": targets}


def markdown(result: dict[str, Any]) -> str:
    """Model-only utilisation per input and scale, then the CLI overhead."""
    path = "compiled" if result.get("compiled") else "eager"
    lines = [f"{result['model']} ({path}), {result['threads']} threads, limit "
             f"{result['limit_gflops']:.0f} GFLOP/s (float32 matrix product)", "",
             "| input | scale | model-only s | GFLOP | GFLOP/s | of the limit |",
             "|---|---|---|---|---|---|"]
    for r in result["rows"]:
        lines.append(f"| {r['side']}² | x{r['scale']} | {r['seconds']:.2f} | {r['gflop']:.1f} | "
                     f"{r['gflops']:.1f} | {100 * r['utilisation']:.0f} % |")
    cli = result["cli"]
    lines += ["", f"CLI on a {cli['side']}² raster at x2: {cli['seconds']:.2f} s against "
              f"{cli['model_only_seconds']:.2f} s model-only "
              f"({100 * result['targets']['cli_overhead_x2']:+.0f} %)"]
    return "\n".join(lines)


if __name__ == "__main__":  # python -m engine.bench.flops build/bench/flops.json
    import json
    import sys

    print(markdown(json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))))
