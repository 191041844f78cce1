"""The renderer: model calls on normalised LR crops, with the band rule and out-of-memory back-off.

* Band rule: a 1-channel model processes every band on its own; a 3-channel model processes a
  3-band selection jointly as RGB; for any other band count each band is replicated to 3 channels
  and the 3 outputs are averaged (likewise for other channel counts).
* Point-query models (``model.supports_grid``, e.g. LMLTE) render the global output pixel centres
  of a region from an LR crop with ``model.halo`` pixels of context: the result does not depend on
  the tile size at any scale. Other models (diffusion) upscale the crop; the result is sampled at
  the global output centres; stochastic models get a seed derived from the region's position.
* CUDA: autocast half precision when ``half``; on out-of-memory the region is halved and retried,
  and later regions start at that size.
"""

from __future__ import annotations

from contextlib import nullcontext
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from engine.errors import ResourceError
from engine.io.windows import alignment, centres, crop_for, output_size
from engine.models.sr_model import SRModel
from engine.pipeline.plan import block_seed

if TYPE_CHECKING:  # imported where used: a model with array_api "numpy" runs without torch
    import torch

#: Smallest output region the out-of-memory back-off goes down to.
MIN_REGION = 16
#: Seed offset between the extra samples of an uncertainty run.
SAMPLE_SEED_STRIDE = 104_729


# ---------------------------------------------------------------------------------------------
# Band rule


def to_model_batch(x: torch.Tensor, in_channels: int) -> tuple[torch.Tensor, str]:
    """Arrange normalised bands ``x`` (C, h, w) as the model's batch; returns (batch, rule)."""
    c = x.shape[0]
    if in_channels == 1:
        return x[:, None], "bandwise"
    if c == in_channels:
        return x[None], "joint"
    return x[:, None].expand(c, in_channels, *x.shape[1:]).contiguous(), "replicate"


def from_model_batch(y: torch.Tensor, rule: str) -> torch.Tensor:
    """Inverse of :func:`to_model_batch` for the model's output (B, C_out, H, W) -> (C, H, W)."""
    if rule == "bandwise":
        return y[:, 0] if y.shape[1] == 1 else y.mean(1)
    if rule == "joint":
        return y[0]
    return y.mean(1)


# ---------------------------------------------------------------------------------------------
# Holes


def fill_holes(data: np.ndarray, valid: np.ndarray, fallback: Sequence[float]) -> np.ndarray:
    """Float64 copy of ``data`` (C, h, w) with invalid pixels set to the nearest valid value."""
    out = data.astype(np.float64)
    for c in range(out.shape[0]):
        v = valid[c]
        if v.all():
            continue
        if not v.any():
            out[c] = fallback[c]
            continue
        from scipy import ndimage  # only for holes: importing it costs 0.1 s of a fast job

        idx = ndimage.distance_transform_edt(~v, return_distances=False, return_indices=True)
        out[c] = out[c][idx[0], idx[1]]
    return out


# ---------------------------------------------------------------------------------------------
# Rendering


def _sample_at(img: torch.Tensor, uy: np.ndarray, ux: np.ndarray) -> torch.Tensor:
    """Bilinear samples of ``img`` (B, C, H, W) at pixel-index positions uy x ux (exact at integers)."""
    import torch
    import torch.nn.functional as F

    if np.allclose(uy, np.round(uy), atol=1e-6) and np.allclose(ux, np.round(ux), atol=1e-6):
        iy = torch.from_numpy(np.clip(np.round(uy), 0, img.shape[2] - 1).astype(np.int64))
        ix = torch.from_numpy(np.clip(np.round(ux), 0, img.shape[3] - 1).astype(np.int64))
        return img[:, :, iy.to(img.device)][:, :, :, ix.to(img.device)]
    h, w = img.shape[2], img.shape[3]
    gy = torch.from_numpy((2 * np.clip(uy, 0, h - 1) + 1) / h - 1).float()
    gx = torch.from_numpy((2 * np.clip(ux, 0, w - 1) + 1) / w - 1).float()
    grid = torch.stack(torch.meshgrid(gy, gx, indexing="ij")[::-1], dim=-1)
    grid = grid[None].expand(img.shape[0], -1, -1, -1).to(img.device, img.dtype)
    return F.grid_sample(img, grid, mode="bilinear", padding_mode="border", align_corners=False)


class TileRenderer:
    """Runs the model on LR crops and returns normalised output regions.

    Args:
        model: the loaded :class:`SRModel`.
        width, height / out_w, out_h: input and output grid sizes.
        half: autocast half precision on CUDA.
        seed, steps, temperature: for stochastic models (None: the model's defaults).
    """

    def __init__(self, model: SRModel, width: int, height: int, out_w: int, out_h: int, *,
                 half: bool = False, seed: int = 0, steps: int | None = None,
                 temperature: float | None = None) -> None:
        self.model = model
        self.w, self.h, self.out_w, self.out_h = width, height, out_w, out_h
        self.device = model.device
        self.half = bool(half) and self.device.type == "cuda"
        self.seed = seed
        self.steps = steps
        self.temperature = temperature
        self.max_region: int | None = None  # learned by the out-of-memory back-off
        # Crop-based models: crops aligned so their output grid is a subset of the global one.
        grid = model.supports_grid
        self.align_y = 1 if grid else alignment(height, out_h)
        self.align_x = 1 if grid else alignment(width, out_w)

    def render(self, lr: np.ndarray, crop_y0: int, crop_x0: int, ys: tuple[int, int],
               xs: tuple[int, int], sample: int = 0) -> np.ndarray:
        """Output pixels rows ys x cols xs (C, ny, nx) float32 from ``lr`` (C, ch, cw) normalised
        whose top-left LR pixel is (crop_y0, crop_x0); halves the region on out-of-memory.

        ``sample`` k > 0 draws the k-th extra sample of a stochastic model (other seeds); sample
        0 is the one a run without extra samples gives."""
        ny, nx = ys[1] - ys[0], xs[1] - xs[0]
        if self.max_region is None or ny * nx <= self.max_region:
            try:
                return self._render_once(lr, crop_y0, crop_x0, ys, xs, sample)
            except BaseException as exc:  # noqa: BLE001 - only out-of-memory is handled here
                from engine.models.memory import is_out_of_memory

                if not is_out_of_memory(exc):
                    raise
                if self.device.type == "cuda":
                    import torch

                    torch.cuda.empty_cache()
                if max(ny, nx) <= MIN_REGION:
                    raise ResourceError("out of memory even on the smallest tile: use --device "
                                        "cpu, fewer --bands or a machine with more memory"
                                        ) from None
                self.max_region = max(MIN_REGION * MIN_REGION, (ny * nx) // 2)
        # Split along the longer axis and render each half from its own sub-crop.
        if ny >= nx:
            mid = ys[0] + ny // 2
            parts = [((ys[0], mid), xs), ((mid, ys[1]), xs)]
            axis = 1
        else:
            mid = xs[0] + nx // 2
            parts = [(ys, (xs[0], mid)), (ys, (mid, xs[1]))]
            axis = 2
        outs = [self.render(lr, crop_y0, crop_x0, py, px, sample) for py, px in parts]
        return np.concatenate(outs, axis=axis)

    def _prepare(self, lr: np.ndarray, crop_y0: int, crop_x0: int, ys: tuple[int, int],
                 xs: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                               tuple[int, int, int, int]]:
        halo = self.model.halo
        cy0, cy1 = crop_for(ys[0], ys[1], self.h, self.out_h, halo, self.align_y)
        cx0, cx1 = crop_for(xs[0], xs[1], self.w, self.out_w, halo, self.align_x)
        sub = lr[:, cy0 - crop_y0:cy1 - crop_y0, cx0 - crop_x0:cx1 - crop_x0]
        cy = centres(ys[0], ys[1], self.h, self.out_h) - cy0
        cx = centres(xs[0], xs[1], self.w, self.out_w) - cx0
        return sub, cy, cx, (ys[0], xs[0], cy1 - cy0, cx1 - cx0)

    def _render_once(self, lr: np.ndarray, crop_y0: int, crop_x0: int, ys: tuple[int, int],
                     xs: tuple[int, int], sample: int = 0) -> np.ndarray:
        sub, cy, cx, crop = self._prepare(lr, crop_y0, crop_x0, ys, xs)
        return self._run([sub], cy, cx, crop, sample)[0]

    def _run(self, subs: list[np.ndarray], cy: np.ndarray, cx: np.ndarray,
             crop: tuple[int, int, int, int], sample: int = 0) -> list[np.ndarray]:
        """Model call on same-shaped crops ``subs`` (each (C, ch, cw)) sharing local centres."""
        if self.model.array_api == "numpy":
            return self._run_numpy(subs, cy, cx)
        import torch

        parts = []
        rule = "joint"
        for sub in subs:
            x = torch.from_numpy(np.ascontiguousarray(sub, dtype=np.float32))
            b, rule = to_model_batch(x, self.model.in_channels)
            parts.append(b)
        batch = torch.cat(parts).to(self.device)
        # One image per model call: the model's working memory is then that of one band of one
        # tile, whatever the band count (an 8-band raster needs no more memory than 1 band).
        ys = [self._call(batch[i:i + 1], cy, cx, crop, sample) for i in range(batch.shape[0])]
        y = ys[0] if len(ys) == 1 else torch.cat(ys)  # one band: no copy
        outs = []
        start = 0
        for b in parts:
            chunk = from_model_batch(y[start:start + b.shape[0]], rule)
            start += b.shape[0]
            outs.append(chunk.detach().cpu().numpy().astype(np.float32, copy=False))
        return outs

    def _run_numpy(self, subs: list[np.ndarray], cy: np.ndarray, cx: np.ndarray
                   ) -> list[np.ndarray]:
        """:meth:`_run` for a torch-free point-query model (the fast model's CPU runtime), which
        takes and returns NumPy arrays; band-wise models only (the band rule's first case)."""
        if self.model.in_channels != 1 or not self.model.supports_grid:
            raise ValueError("NumPy models must be band-wise point-query models")
        pixel = (self.h / self.out_h, self.w / self.out_w)
        outs = []
        for sub in subs:
            x = np.ascontiguousarray(sub, dtype=np.float32)
            # One band per call, as in _run: working memory of one band of one tile.
            bands = [self.model.upscale_grid(x[c][None, None], cy, cx, pixel, clamp=False)[0, 0]
                     for c in range(x.shape[0])]
            outs.append(np.stack(bands).astype(np.float32, copy=False))
        return outs

    def _call(self, batch: torch.Tensor, cy: np.ndarray, cx: np.ndarray,
              crop: tuple[int, int, int, int], sample: int = 0) -> torch.Tensor:
        import torch

        out_y0, out_x0, ch, cw = crop
        amp = (torch.autocast("cuda", dtype=torch.float16) if self.half else nullcontext())
        with torch.inference_mode(), amp:
            if self.model.supports_grid:
                y = self.model.upscale_grid(batch, torch.from_numpy(cy), torch.from_numpy(cx),
                                            (self.h / self.out_h, self.w / self.out_w),
                                            clamp=False)
            else:
                size = (output_size(ch, self.out_h / self.h), output_size(cw, self.out_w / self.w))
                kwargs: dict[str, Any] = {}
                if self.model.stochastic:
                    # Extra samples take the seeds of far-away "runs": sample 0 is unchanged.
                    kwargs["seed"] = block_seed(self.seed + sample * SAMPLE_SEED_STRIDE, out_y0,
                                                out_x0)
                    if self.steps is not None:
                        kwargs["steps"] = self.steps
                    if self.temperature is not None:
                        kwargs["temperature"] = self.temperature
                full = self.model.upscale(batch, size, clamp=False, **kwargs)
                # Crop-local output pixel k is centred at LR (k + 0.5) * ch / H; sample the
                # global centres there (exact whenever the grids coincide, e.g. integer scales).
                uy = cy * size[0] / ch - 0.5
                ux = cx * size[1] / cw - 0.5
                y = _sample_at(full.float(), uy, ux)
        return y.float()


__all__ = ["MIN_REGION", "TileRenderer", "fill_holes", "from_model_batch", "to_model_batch"]
