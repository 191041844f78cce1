#!/usr/bin/env python
"""The MoE-DiffSR card's picture: what the detail control and the uncertainty layer look like.

On a held-out scikit-image photo (``camera``, public domain; WorldView pixels may not be
redistributed), LR by the card's antialiased bicubic at ``--scale``: the HR truth, GDAL cubic,
``lmlte-default``, ``moe`` at temperature 0 and at the card's default, and the uncertainty layer
(std over ``--samples`` samples at the default temperature), with each panel's PSNR and
gradient-magnitude ratio to the truth.

    .venv/bin/python tools/moe_detail_picture.py --out resources/screenshots/moe-detail-camera.png
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="build/moe/moe-detail-camera.png")
    ap.add_argument("--model", default="moe")
    ap.add_argument("--scale", type=int, default=4)
    ap.add_argument("--samples", type=int, default=4)
    args = ap.parse_args(argv)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import torch
    from skimage import data as skdata

    import engine
    from engine.degradation import downsample
    from engine.metrics.baselines import gdal_resample
    from engine.metrics.psnr import psnr
    from engine.metrics.sharpness import gradient_ratio
    from engine.pipeline.render import SAMPLE_SEED_STRIDE

    torch.set_num_threads(2)
    hr = skdata.camera()[96:288, 160:352].astype(np.float64) / 255.0  # the tripod and the coat
    s = args.scale
    lr = downsample(torch.from_numpy(hr)[None, None].float(), (hr.shape[0] // s,
                                                               hr.shape[1] // s))
    size = hr.shape
    moe = engine.load_model(args.model, device="cpu")
    default_t = float(moe.describe()["temperature"])
    lmlte = engine.load_model("lmlte-default", device="cpu")
    with torch.no_grad():
        panels = {"GDAL cubic": gdal_resample(lr[0, 0].numpy(), size, "cubic"),
                  "lmlte-default": lmlte.upscale(lr, size)[0, 0].double().numpy(),
                  "moe T=0": moe.upscale(lr, size, temperature=0.0, seed=0)[0, 0].double().numpy()}
        draws = [moe.upscale(lr, size, temperature=default_t, seed=SAMPLE_SEED_STRIDE * k)
                 [0, 0].double().numpy() for k in range(args.samples)]
    panels[f"moe T={default_t:g}"] = draws[0]
    std = np.std(np.stack(draws), axis=0, ddof=1)
    fig, axes = plt.subplots(2, 3, figsize=(12, 8.4))
    axes = axes.ravel()
    b = s
    axes[0].imshow(hr, cmap="gray", vmin=0, vmax=1)
    axes[0].set_title(f"HR truth ({size[1]}x{size[0]})")
    for ax, (name, img) in zip(axes[1:], panels.items()):
        img = np.clip(img, 0, 1)
        ax.imshow(img, cmap="gray", vmin=0, vmax=1)
        ax.set_title(f"{name}: {psnr(img, hr, shave=b):.2f} dB, "
                     f"GMR {gradient_ratio(img[b:-b, b:-b], hr[b:-b, b:-b]):.2f}")
    im = axes[5].imshow(std, cmap="magma")
    axes[5].set_title(f"uncertainty: std of {args.samples} samples")
    fig.colorbar(im, ax=axes[5], fraction=0.046)
    for ax in axes:
        ax.set_axis_off()
    fig.suptitle(f"scikit-image camera, x{s} (LR {lr.shape[-1]}x{lr.shape[-2]}), seed 0; "
                 "GMR = gradient-magnitude ratio to the truth (1 = as sharp)")
    fig.tight_layout()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=80)
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
