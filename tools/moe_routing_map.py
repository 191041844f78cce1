"""Picture of MoE-DiffSR routing over a real image: which expert each region goes to.

    python tools/moe_routing_map.py --image camera --scale 2 --out build/moe/routing_camera.png
    python tools/moe_routing_map.py --image wv2 --scale 2 --out build/moe/routing_wv2.png

``--image``: a scikit-image sample name (``camera``, ``astronaut``, ``coffee``, ... converted to
grey), ``wv2`` (a 256x256 crop of the WorldView-2 panchromatic sample of the ``dgsamples``
package, cut at run time: WorldView pixels may not be redistributed, so write such pictures only
under build/), or any GDAL-readable raster (first band, 0.1/99.9 percentile scaling).

The image is taken as HR, downsampled by ``--scale`` with the shared degradation, and
super-resolved by the model with seeded DDIM sampling while every step's routing is recorded.
Panels: LR (bicubic-upsampled for display), SR, HR; for the finest encoder and decoder blocks the
top-1 expert of each routing patch at the chosen step, as colours over the SR image, and the
share of each expert per gradient-magnitude tercile of the HR image (flat / medium / edges,
all steps); and the most used expert of every block at every step (routing by noise level).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def load_image(spec: str) -> np.ndarray:
    """(H, W) float64 in about [0, 1]."""
    if spec == "wv2":
        import dgsamples
        from osgeo import gdal

        gdal.UseExceptions()
        pan = sorted((Path(dgsamples.__file__).parent / "wv2_longmont_1k").glob("*_PAN/*.TIF"))[0]
        img = gdal.Open(str(pan)).ReadAsArray(600, 700, 256, 256).astype(np.float64)
    elif Path(spec).is_file():
        from osgeo import gdal

        gdal.UseExceptions()
        img = gdal.Open(spec).GetRasterBand(1).ReadAsArray().astype(np.float64)
    else:
        from skimage import color, data

        img = getattr(data, spec)()
        if img.ndim == 3:
            img = color.rgb2gray(img[..., :3])
        img = img.astype(np.float64)
    lo, hi = np.percentile(img, (0.1, 99.9))
    return (img - lo) / max(hi - lo, 1e-12)


def main(argv: list[str] | None = None) -> int:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import torch
    import torch.nn.functional as F

    import engine
    from engine.bench.moe import block_level, block_names, content_classes, sample_with_routing
    from engine.degradation import downsample

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--image", default="camera")
    p.add_argument("--model", default="moe")
    p.add_argument("--scale", type=float, default=2.0)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--size", type=int, default=256, help="HR side (centre crop)")
    p.add_argument("--at-step", type=int, default=-1, help="which sampling step to show")
    p.add_argument("--out", default="build/moe/routing.png")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    img = load_image(args.image)
    s = min(args.size, *img.shape)
    y0, x0 = (img.shape[0] - s) // 2, (img.shape[1] - s) // 2
    hr = img[y0:y0 + s, x0:x0 + s]
    h = w = int(round(s / args.scale))
    lr = downsample(torch.from_numpy(hr)[None, None].float(), (h, w))
    model = engine.load_model(args.model, device="cpu")
    sr, maps = sample_with_routing(model, lr, (s, s), steps=args.steps, seed=args.seed)
    sr = np.clip(sr, 0, 1)
    net = model.module
    blocks = net.moe_blocks()
    names = block_names(net)
    show = [0, len(blocks) - 1]  # finest encoder and decoder blocks
    step_maps = maps[args.at_step]
    cmap = plt.get_cmap("tab10", net.args["num_experts"])
    fig, axes = plt.subplots(2, 2 + len(show), figsize=(4 * (2 + len(show)), 8))
    up = F.interpolate(lr, size=(s, s), mode="bicubic", align_corners=False)[0, 0].numpy()
    axes[0, 0].imshow(np.clip(up, 0, 1), cmap="gray")
    axes[0, 0].set_title(f"LR x{args.scale:g} (bicubic)")
    axes[0, 1].imshow(sr, cmap="gray")
    axes[0, 1].set_title(f"MoE-DiffSR ({args.steps} steps)")
    axes[1, 0].imshow(np.clip(hr, 0, 1), cmap="gray")
    axes[1, 0].set_title("HR")
    for col, bi in enumerate(show, start=2):
        grid = step_maps[bi]
        px = net.unshuffle * net.patch * 2 ** block_level(net, bi)
        full = np.kron(grid, np.ones((px, px), int))[:s, :s]
        ax = axes[0, col]
        ax.imshow(sr, cmap="gray")
        ax.imshow(full, cmap=cmap, vmin=-0.5, vmax=net.args["num_experts"] - 0.5, alpha=0.45)
        ax.set_title(f"top-1 expert, block {names[bi]}, step {args.at_step % len(maps) + 1}")
        cls = content_classes(hr, px, grid.shape)
        share = np.zeros((3, net.args["num_experts"]))
        for c in range(3):
            sel = [grid_s[bi][cls == c] for grid_s in maps]  # every step
            vals = np.concatenate(sel)
            share[c] = np.bincount(vals, minlength=net.args["num_experts"]) / max(vals.size, 1)
        axb = axes[1, col]
        bottom = np.zeros(3)
        for e in range(net.args["num_experts"]):
            axb.bar(["flat", "medium", "edges"], share[:, e], bottom=bottom, color=cmap(e),
                    label=f"expert {e}")
            bottom += share[:, e]
        axb.set_title(f"block {names[bi]}: top-1 share by content (all steps)")
        axb.set_ylim(0, 1)
    # Most frequent top-1 expert of each block at each step: shows routing by noise level.
    ne = net.args["num_experts"]
    modal = np.array([[np.bincount(row[bi].ravel(), minlength=ne).argmax() for row in maps]
                      for bi in range(len(blocks))])
    ax = axes[1, 1]
    ax.imshow(modal, cmap=cmap, vmin=-0.5, vmax=ne - 0.5, aspect="auto", interpolation="nearest")
    ax.set_yticks(range(len(blocks)), names)
    ax.set_xlabel("sampling step (high noise -> low noise)")
    ax.set_title("most used expert per block and step")
    handles = [plt.Rectangle((0, 0), 1, 1, color=cmap(e)) for e in range(ne)]
    fig.legend(handles, [f"expert {e}" for e in range(ne)], loc="lower center", ncol=ne)
    for ax in (axes[0, 0], axes[0, 1], axes[1, 0], *axes[0, 2:]):
        ax.axis("off")
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=80)
    print(out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
