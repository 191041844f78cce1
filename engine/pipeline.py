"""The raster pipeline: a GeoTIFF in, a super-resolved GeoTIFF out, tile by tile.

raster -> band selection -> per-band statistics (once per raster) -> tiles -> model -> writer.

* Tiles partition the output grid (:mod:`engine.io.windows`). Point-query models
  (``model.supports_grid``, e.g. LMLTE) render each tile's output pixel centres, mapped into an
  LR crop with ``model.halo`` pixels of context: the result does not depend on the tile size at
  any scale. Other models (diffusion) upscale overlapping LR crops, the crop result is sampled at
  the global output centres and the overlaps are feather-blended; stochastic models get a seed
  per tile derived from ``seed`` and the tile position (reproducible runs).
* Values: each band is normalised with :mod:`engine.normalization` statistics of the whole
  raster; the model runs with ``clamp=False``; results are denormalised, rounded and clipped to
  the input data type.
* Band rule: a 1-channel model processes every band on its own (bands in the batch); a 3-channel
  model processes a 3-band selection jointly as RGB; for any other band count each band is
  replicated to 3 channels and the 3 outputs are averaged (likewise for other channel counts).
* Nodata / masks / NaN: invalid pixels are filled with the nearest valid value before inference
  so they do not bleed into valid pixels; an output pixel is invalid when the input pixel its
  centre falls in is invalid (written as the nodata value, NaN for floats without one, or into
  a mask band).
* Memory is bounded by the tile size: point-query tiles are written as soon as they are rendered;
  blended (crop) tiles are accumulated one row of tiles at a time (bounded by tile height x
  raster width). Reading the next tile and writing run in background threads while the model
  works; GDAL's block cache is capped during the run.
* CUDA: autocast half precision when ``half`` (default: the model's ``options["half"]``, True);
  on out-of-memory the region is halved and retried, and later tiles start at that size.
* The output goes to a temporary file beside ``output``, renamed at the end; any failure or
  interruption removes it.
"""

from __future__ import annotations

import math
import os
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from osgeo import gdal

from engine.errors import Cancelled, ParameterError, ResourceError
from engine.io import gdal_raster as gr
from engine.io.blend import RowAccumulator
from engine.io.windows import (Span, alignment, centres, crop_for, feather, nearest_input, output_size,
                               pixel_size, split_axis)
from engine.models.descriptor import SRModel
from engine.normalization import BandStats, denormalize, normalize
from engine.progress import Log, Progress, ProgressCallback, ignore

#: Default output tile side in pixels (the LR tile is this divided by the scale).
DEFAULT_OUTPUT_TILE = 512
#: GDAL block cache during a run (bytes).
GDAL_CACHE_BYTES = 64 * 2**20
#: Smallest output region the out-of-memory back-off goes down to.
MIN_REGION = 16


@dataclass(frozen=True)
class Scale:
    """Per-axis scale factors (>= 1)."""

    x: float
    y: float


def resolve_scale(*, scale: float | None = None, scale_x: float | None = None,
                  scale_y: float | None = None, resolution: float | None = None,
                  geotransform: Sequence[float] | None = None) -> Scale:
    """Turn the user's scale options into a :class:`Scale`; values below 1 are refused.

    ``resolution`` is the target pixel size in map units (both axes); it needs a geotransform.
    """
    given = [v is not None for v in (scale, resolution)] + [scale_x is not None or
                                                            scale_y is not None]
    if sum(given) > 1:
        raise ParameterError("give only one of --scale, --scale-x/--scale-y or --resolution")
    if resolution is not None:
        _check_number("--resolution", resolution, positive_only=True)
        if geotransform is None:
            raise ParameterError("--resolution needs a georeferenced raster: use --scale instead")
        px, py = pixel_size(geotransform)
        sx, sy = px / resolution, py / resolution
        for name, v in (("x", sx), ("y", sy)):
            if v < 1:
                raise ParameterError(
                    f"--resolution {resolution:g} is coarser than the input pixel size along {name} "
                    f"({px if name == 'x' else py:g}): super-resolution needs a smaller pixel size")
        return Scale(sx, sy)
    if scale_x is not None or scale_y is not None:
        if scale_x is None or scale_y is None:
            raise ParameterError("give both --scale-x and --scale-y (or --scale for both axes)")
        _check_number("--scale-x", scale_x)
        _check_number("--scale-y", scale_y)
        return Scale(float(scale_x), float(scale_y))
    s = 2.0 if scale is None else scale
    _check_number("--scale", s)
    return Scale(float(s), float(s))


def _check_number(name: str, value: float, positive_only: bool = False) -> None:
    if not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ParameterError(f"{name} must be a finite number, got {value!r}")
    if positive_only:
        if value <= 0:
            raise ParameterError(f"{name} must be positive, got {value:g}")
        return
    if value < 1:
        raise ParameterError(f"{name} {value:g} is below 1: ArbSR only enlarges; use a scale of "
                             "1 or more (e.g. 2 or 3.5)")


def parse_number(name: str, text: str | float | None) -> float | None:
    """A CLI number given as text, with a one-line message for 'abc', 'nan' and the like."""
    if text is None:
        return None
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise ParameterError(f"{name} '{text}' is not a number: give e.g. 2 or 3.5") from None
    if not math.isfinite(value):
        raise ParameterError(f"{name} '{text}' is not a finite number: give e.g. 2 or 3.5")
    return value


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
    from scipy import ndimage

    out = data.astype(np.float64)
    for c in range(out.shape[0]):
        v = valid[c]
        if v.all():
            continue
        if not v.any():
            out[c] = fallback[c]
            continue
        idx = ndimage.distance_transform_edt(~v, return_distances=False, return_indices=True)
        out[c] = out[c][idx[0], idx[1]]
    return out


# ---------------------------------------------------------------------------------------------
# Rendering


def _is_oom(exc: BaseException) -> bool:
    if isinstance(exc, torch.OutOfMemoryError):
        return True
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()


def _sample_at(img: torch.Tensor, uy: np.ndarray, ux: np.ndarray) -> torch.Tensor:
    """Bilinear samples of ``img`` (B, C, H, W) at pixel-index positions uy x ux (exact at integers)."""
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
        seed, steps: for stochastic models.
    """

    def __init__(self, model: SRModel, width: int, height: int, out_w: int, out_h: int, *,
                 half: bool = False, seed: int = 0, steps: int | None = None) -> None:
        self.model = model
        self.w, self.h, self.out_w, self.out_h = width, height, out_w, out_h
        self.device = model.device
        self.half = bool(half) and self.device.type == "cuda"
        self.seed = seed
        self.steps = steps
        self.max_region: int | None = None  # learned by the out-of-memory back-off
        # Crop-based models: crops aligned so their output grid is a subset of the global one.
        grid = model.supports_grid
        self.align_y = 1 if grid else alignment(height, out_h)
        self.align_x = 1 if grid else alignment(width, out_w)

    def render(self, lr: np.ndarray, crop_y0: int, crop_x0: int, ys: tuple[int, int],
               xs: tuple[int, int]) -> np.ndarray:
        """Output pixels rows ys x cols xs (C, ny, nx) float32 from ``lr`` (C, ch, cw) normalised
        whose top-left LR pixel is (crop_y0, crop_x0); halves the region on out-of-memory."""
        ny, nx = ys[1] - ys[0], xs[1] - xs[0]
        if self.max_region is None or ny * nx <= self.max_region:
            try:
                return self._render_once(lr, crop_y0, crop_x0, ys, xs)
            except BaseException as exc:  # noqa: BLE001 - only out-of-memory is handled here
                if not _is_oom(exc):
                    raise
                if self.device.type == "cuda":
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
        outs = [self.render(lr, crop_y0, crop_x0, py, px) for py, px in parts]
        return np.concatenate(outs, axis=axis)

    def render_many(self, items: list[tuple[np.ndarray, int, int, tuple[int, int],
                                            tuple[int, int]]]) -> list[np.ndarray]:
        """:meth:`render` for several tiles; tiles whose crops and local output centres are
        identical (interior tiles at integer-period scales) go through the model as one batch."""
        if len(items) == 1 or self.model.stochastic or self.max_region is not None:
            return [self.render(*it) for it in items]
        results: list[np.ndarray | None] = [None] * len(items)
        groups: dict[tuple[Any, ...], list[int]] = {}
        preps = [self._prepare(*it) for it in items]
        for i, (sub, cy, cx, _crop) in enumerate(preps):
            groups.setdefault((sub.shape, cy.tobytes(), cx.tobytes()), []).append(i)
        for idx in groups.values():
            if len(idx) > 1:
                try:
                    outs = self._run([preps[i][0] for i in idx], *preps[idx[0]][1:])
                except BaseException as exc:  # noqa: BLE001 - only out-of-memory is handled
                    if not _is_oom(exc):
                        raise
                    if self.device.type == "cuda":
                        torch.cuda.empty_cache()
                    outs = [self.render(*items[i]) for i in idx]
            else:
                outs = [self.render(*items[idx[0]])]
            for i, o in zip(idx, outs):
                results[i] = o
        return [r for r in results if r is not None]

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
                     xs: tuple[int, int]) -> np.ndarray:
        sub, cy, cx, crop = self._prepare(lr, crop_y0, crop_x0, ys, xs)
        return self._run([sub], cy, cx, crop)[0]

    def _run(self, subs: list[np.ndarray], cy: np.ndarray, cx: np.ndarray,
             crop: tuple[int, int, int, int]) -> list[np.ndarray]:
        """Model call on same-shaped crops ``subs`` (each (C, ch, cw)) sharing local centres."""
        parts = []
        rule = "joint"
        for sub in subs:
            x = torch.from_numpy(np.ascontiguousarray(sub, dtype=np.float32))
            b, rule = to_model_batch(x, self.model.in_channels)
            parts.append(b)
        batch = torch.cat(parts).to(self.device)
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
                    kwargs["seed"] = tile_seed(self.seed, out_y0, out_x0)
                    if self.steps is not None:
                        kwargs["steps"] = self.steps
                full = self.model.upscale(batch, size, clamp=False, **kwargs)
                # Crop-local output pixel k is centred at LR (k + 0.5) * ch / H; sample the
                # global centres there (exact whenever the grids coincide, e.g. integer scales).
                uy = cy * size[0] / ch - 0.5
                ux = cx * size[1] / cw - 0.5
                y = _sample_at(full.float(), uy, ux)
        y = y.float()
        outs = []
        start = 0
        for b in parts:
            chunk = from_model_batch(y[start:start + b.shape[0]], rule)
            start += b.shape[0]
            outs.append(chunk.detach().cpu().numpy().astype(np.float32, copy=False))
        return outs


def tile_seed(seed: int, row: int, col: int) -> int:
    """Seed of the tile whose rendered region starts at output (row, col): reproducible."""
    return int((seed * 1_000_003 + row * 65_537 + col * 257) % (2**31 - 1))


# ---------------------------------------------------------------------------------------------
# The whole raster


@dataclass
class _Tile:
    ys: Span
    xs: Span
    data: np.ndarray
    valid: np.ndarray


def upscale_raster(input_path: str | os.PathLike[str], output_path: str | os.PathLike[str],
                   model: SRModel, *, scale: Scale, bands: Sequence[int] | str | None = None,
                   tile: int | None = None, overwrite: bool = False, seed: int = 0,
                   steps: int | None = None, half: bool | None = None, cog: bool = False,
                   batch: int = 4, progress: ProgressCallback = ignore,
                   cancel: threading.Event | None = None) -> dict[str, Any]:
    """Super-resolve ``input_path`` into ``output_path`` (GeoTIFF) with ``model``.

    Args:
        scale: per-axis factors (>= 1); output size is round(w * sx) x round(h * sy).
        bands: 1-based band selection (default all), list or "1,2,3".
        tile: tile side in INPUT pixels (default: DEFAULT_OUTPUT_TILE / scale).
        half: autocast float16 on CUDA (default: ``model.options.get("half", True)``).
        cog: write a Cloud Optimised GeoTIFF.
        batch: tiles rendered per model call when their crops line up (interior tiles).
        cancel: set it to stop at the next tile (raises :class:`Cancelled`).

    Returns:
        results for the ``done`` event: output, size, pixel_size, scale, model, bands, tiles.

    Raises:
        InputError, ParameterError, OutputError, ResourceError, Cancelled.
    """
    started = time.perf_counter()
    ds = gr.open_raster(input_path)
    sel = gr.parse_bands(bands if not isinstance(bands, (list, tuple)) else list(bands),
                         ds.RasterCount)
    info = gr.describe(ds, sel)
    out_w, out_h = output_size(info.width, scale.x), output_size(info.height, scale.y)
    out = gr.check_output_path(output_path, overwrite=overwrite, input_path=input_path)
    write_mask = any(m and nd is None and info.dtype.kind != "f"
                     for m, nd in zip(info.has_mask, info.nodata))
    gr.check_disk_space(out, gr.estimated_bytes(out_w, out_h, len(sel), info.dtype, write_mask))
    lo, hi = model.scale_range
    if max(out_w / info.width, out_h / info.height) > hi + 1e-9:
        progress(Log(f"scale {max(scale.x, scale.y):g} is above the range model '{model.name}' "
                     f"was trained for (up to x{hi:g}): results may be blurry or show artefacts",
                     "warning"))
    if tile is None:
        tile = max(16, int(math.ceil(DEFAULT_OUTPUT_TILE / max(scale.x, scale.y))))
    if tile < 1:
        raise ParameterError(f"--tile {tile} must be a positive number of pixels, e.g. 256")
    progress(Progress(0.0, "statistics"))
    stats = gr.band_statistics(ds, info)
    if half is None:
        half = bool(model.options.get("half", True))
    renderer = TileRenderer(model, info.width, info.height, out_w, out_h, half=half, seed=seed,
                            steps=steps)
    grid = model.supports_grid
    sx_eff, sy_eff = out_w / info.width, out_h / info.height
    ov_x = 0 if grid else int(math.ceil(min(model.halo, 8) * sx_eff))
    ov_y = 0 if grid else int(math.ceil(min(model.halo, 8) * sy_eff))
    # The reader fetches crop = union of every sub-region's needs; halo covers both paths.
    col_spans = split_axis(info.width, out_w, tile, halo=model.halo, overlap=ov_x,
                           align=renderer.align_x)
    row_spans = split_axis(info.height, out_h, tile, halo=model.halo, overlap=ov_y,
                           align=renderer.align_y)
    order = [(ys, xs) for ys in row_spans for xs in col_spans]
    fill_values = [s.lo for s in stats]

    tmp = gr.temp_path(out)
    out_ds = None
    # GDAL's block cache defaults to 5% of RAM; a fixed budget keeps peak memory tile-bound.
    old_cache = gdal.GetCacheMax()
    gdal.SetCacheMax(min(old_cache, GDAL_CACHE_BYTES))
    reader = ThreadPoolExecutor(1, thread_name_prefix="arbsr-read")
    writer = ThreadPoolExecutor(1, thread_name_prefix="arbsr-write")
    pending_write: Future[None] | None = None
    try:
        out_ds = gr.create_output(tmp, info, out_w, out_h, write_mask=write_mask)
        direct = ov_x == 0 and ov_y == 0
        acc = RowAccumulator(len(sel), out_w)

        def read(k: int) -> _Tile:
            ys, xs = order[k]
            data, valid = gr.read_window(ds, info, xs.crop0, ys.crop0, xs.crop_size,
                                         ys.crop_size)
            return _Tile(ys, xs, data, valid)

        def write(first: int, x0: int, values: np.ndarray, valid: np.ndarray) -> None:
            data = np.empty(values.shape, info.dtype)
            for r in range(0, values.shape[1], 64):  # 64-row chunks keep float64 temporaries small
                raw = denormalize(values[:, r:r + 64], stats)
                data[:, r:r + 64] = gr.to_dtype(raw, info.dtype)
            for c in range(data.shape[0]):
                bad = ~valid[c]
                if bad.any():
                    if info.nodata[c] is not None:
                        data[c][bad] = info.nodata[c]
                    elif info.dtype.kind == "f":
                        data[c][bad] = np.nan
            mask = valid.any(0) if write_mask else None
            gr.write_window(out_ds, x0, first, data, mask)

        nxt = reader.submit(read, 0)
        k = 0
        group: list[tuple[_Tile, np.ndarray]] = []
        while k < len(order):
            if not group:
                # Up to `batch` tiles are read (one ahead in the background) and rendered together.
                tiles = []
                while len(tiles) < max(1, batch) and k + len(tiles) < len(order):
                    if cancel is not None and cancel.is_set():
                        raise Cancelled("cancelled: no output was written")
                    tiles.append(nxt.result())
                    if k + len(tiles) < len(order):
                        nxt = reader.submit(read, k + len(tiles))
                group = list(zip(tiles, _process_many(tiles, stats, fill_values, renderer)))
            t, values = group.pop(0)
            valid = _output_valid(t, info.width, info.height, out_w, out_h)
            if direct:
                # Point-query tiles own exactly what they render: write them as they come.
                if pending_write is not None:
                    pending_write.result()
                pending_write = writer.submit(write, t.ys.out0, t.xs.out0, values, valid)
            else:
                acc.add(t.ys, t.xs, values, feather(t.ys, ov_y), feather(t.xs, ov_x), valid)
            if not direct and t.xs is col_spans[-1]:
                row_idx = row_spans.index(t.ys)
                final = out_h if row_idx + 1 == len(row_spans) else row_spans[row_idx + 1].ext0
                if final > acc.base:
                    first, vals, vmask = acc.pop(final)
                    if pending_write is not None:
                        pending_write.result()
                    pending_write = writer.submit(write, first, 0, vals, vmask)
            k += 1
            progress(Progress(0.02 + 0.96 * k / len(order), f"tile {k}/{len(order)}"))
        if pending_write is not None:
            pending_write.result()
            pending_write = None
        out_ds.FlushCache()
        out_ds = None
        progress(Progress(0.99, "finishing"))
        gr.finalize(tmp, out, cog=cog)
    finally:
        reader.shutdown(wait=True, cancel_futures=True)
        writer.shutdown(wait=True, cancel_futures=True)
        out_ds = None
        ds = None
        gdal.SetCacheMax(old_cache)
        if tmp.exists() or Path(str(tmp) + ".aux.xml").exists():
            gr.remove_quietly(tmp)
    gt = gr.scaled_geotransform(info.geotransform, info.width, info.height, out_w, out_h) \
        if info.geotransform else None
    px = list(pixel_size(gt)) if gt else None
    return {
        "output": str(out),
        "width": out_w,
        "height": out_h,
        "size": [out_w, out_h],
        "pixel_size": px,
        "scale": [out_w / info.width, out_h / info.height],
        "model": model.name,
        "family": model.family,
        "bands": sel,
        "tiles": len(order),
        "seconds": time.perf_counter() - started,
    }


def _process_many(tiles: list[_Tile], stats: list[BandStats], fill: list[float],
                  renderer: TileRenderer) -> list[np.ndarray]:
    items = []
    for t in tiles:
        lr = normalize(fill_holes(t.data, t.valid, fill), stats)
        items.append((lr, t.ys.crop0, t.xs.crop0, (t.ys.ext0, t.ys.ext1), (t.xs.ext0, t.xs.ext1)))
    return renderer.render_many(items)


def _output_valid(t: _Tile, w: int, h: int, out_w: int, out_h: int) -> np.ndarray:
    iy = nearest_input(t.ys.out0, t.ys.out1, h, out_h) - t.ys.crop0
    ix = nearest_input(t.xs.out0, t.xs.out1, w, out_w) - t.xs.crop0
    return t.valid[:, iy][:, :, ix]


__all__ = ["DEFAULT_OUTPUT_TILE", "Scale", "TileRenderer", "fill_holes", "from_model_batch",
           "parse_number", "resolve_scale", "tile_seed", "to_model_batch", "upscale_raster"]
