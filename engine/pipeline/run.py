"""``upscale_raster``: one raster in, one super-resolved GeoTIFF (or VRT) out.

Stages: checks -> band statistics (once per raster) -> plan (blocks) -> render every block
(reader + renderer, in this process, in local worker processes or on Ray actors) -> sink ->
the output renamed into place. Two routes through the sink:

* direct: one process and a point-query model: each block is written into the output as soon as
  it is rendered (reading the next block and writing run in background threads while the model
  works);
* parts: workers, Ray, ``--resume``, a ``.vrt`` output, or a crop-based (blended) model: each
  block becomes a part file; the parts are then assembled (blended parts feather-blended) into
  the output, or referenced by a VRT.

Memory is set by the block, never by the raster: one block of one band goes through the model
at a time, and no stage holds a row or a column of the raster.
"""

from __future__ import annotations

import dataclasses
import os
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from osgeo import gdal

from engine.errors import EngineError, OutputError, ParameterError
from engine.io import gdal_raster as gr
from engine.io.windows import output_size, pixel_size
from engine.models.sr_model import SRModel
from engine.pipeline.block import BlockWorker, Job, ModelRef, check_cancel, default_threads
from engine.pipeline.executors import run_in_process, run_local_workers, run_ray
from engine.pipeline.parts import PartsFolder, make_manifest, parts_folder, weights_hash
from engine.pipeline.plan import GEOTIFF_BLOCK, BlockSpec, Plan, make_plan
from engine.pipeline.scale import Scale
from engine.pipeline.sink import (UncertaintyOutput, blend_block, part_path, read_part,
                                  to_output, write_final_part)
from engine.progress import Log, Progress, ProgressCallback, ignore

#: Samples per pixel of an uncertainty layer when ``samples`` is not given.
DEFAULT_SAMPLES = 4

#: GDAL block cache during a run (bytes): a few input blocks around the current window; written
#: output blocks are flushed as soon as they are complete.
GDAL_CACHE_BYTES = 16 * 2**20


def upscale_raster(input_path: str | os.PathLike[str], output_path: str | os.PathLike[str],
                   model: SRModel, *, scale: Scale, bands: Sequence[int] | str | None = None,
                   tile: int | None = None, overwrite: bool = False, seed: int = 0,
                   steps: int | None = None, half: bool | None = None, cog: bool = False,
                   workers: int = 1, threads: int | None = None, ray: str | None = None,
                   resume: bool = False, model_ref: ModelRef | None = None,
                   temperature: float | None = None, samples: int | None = None,
                   uncertainty: str | os.PathLike[str] | None = None,
                   progress: ProgressCallback = ignore,
                   cancel: threading.Event | None = None) -> dict[str, Any]:
    """Super-resolve ``input_path`` into ``output_path`` (GeoTIFF, or VRT + parts) with ``model``.

    Args:
        scale: per-axis factors (>= 1); output size is round(w * sx) x round(h * sy).
        bands: 1-based band selection (default all), list or "1,2,3".
        tile: block side in INPUT pixels (default: the card's ``tile`` option, else 512 output
            pixels).
        half: autocast float16 on CUDA (default: ``model.options.get("half", True)``).
        cog: write a Cloud Optimised GeoTIFF.
        workers: processes (local) or Ray actors rendering blocks.
        threads: torch threads per worker (default: cores // workers).
        ray: ``None`` (this machine), ``"local"`` (a private Ray cluster for this job) or a Ray
            cluster address.
        resume: reuse the finished blocks of an interrupted run with the same settings.
        model_ref: how worker processes load ``model`` (default: by its name or path).
        temperature: weight of the sampled detail of the diffusion models that have one
            (0..1; 0 = deterministic).
        samples: samples drawn per pixel for ``uncertainty`` (default 4, at least 2).
        uncertainty: path of a Float32 GeoTIFF receiving the per-pixel standard deviation over
            ``samples`` samples, in the output's data units (stochastic models only). The
            output itself stays the ``seed`` sample.
        cancel: set it to stop at the next block (raises :class:`Cancelled`).

    Returns:
        results for the ``done`` event: output, size, pixel_size, scale, model, bands, tiles,
        blocks, reused_blocks.
    """
    started = time.perf_counter()
    if workers < 1:
        raise ParameterError(f"--workers must be at least 1, got {workers}")
    ds = gr.open_raster(input_path)
    sel = gr.parse_bands(bands if not isinstance(bands, (list, tuple)) else list(bands),
                         ds.RasterCount)
    info = gr.describe(ds, sel)
    out_w, out_h = output_size(info.width, scale.x), output_size(info.height, scale.y)
    out = gr.check_output_path(output_path, overwrite=overwrite, input_path=input_path)
    vrt = out.suffix.lower() == ".vrt"
    write_mask = any(m and nd is None and info.dtype.kind != "f"
                     for m, nd in zip(info.has_mask, info.nodata))
    gr.remove_stale_temporaries(out.parent)
    gr.check_disk_space(out, gr.estimated_bytes(out_w, out_h, len(sel), info.dtype, write_mask))
    lo, hi = model.scale_range
    if max(out_w / info.width, out_h / info.height) > hi + 1e-9:
        progress(Log(f"scale {max(scale.x, scale.y):g} is above the range model '{model.name}' "
                     f"was trained for (up to x{hi:g}): results may be blurry or show artefacts",
                     "warning"))
    if tile is None and model.options.get("tile"):
        # The card's block size (input pixels): e.g. fast, whose cost per call is small and
        # whose larger blocks recompute less halo (x4 on 2048²: 12.0 s instead of 14.6 s).
        tile = int(model.options["tile"])
    if tile is not None and tile < 1:
        raise ParameterError(f"--tile {tile} must be a positive number of pixels, e.g. 256")
    samples, unc_path = _check_sampling(model, out, input_path, temperature, samples,
                                        uncertainty, overwrite)
    progress(Progress(0.0, "statistics"))
    stats = gr.band_statistics(ds, info)
    ds = None
    if half is None:
        half = bool(model.options.get("half", True))
    plan = make_plan(info.width, info.height, out_w, out_h, halo=model.halo,
                     grid=model.supports_grid, tile=tile, seed=seed)
    if unc_path is not None and not plan.blended:
        # The standard deviation goes through the blend parts (one block: its own part).
        plan = dataclasses.replace(plan, blended=True)
    parallel = workers > 1 or ray is not None
    if parallel and model_ref is None:
        model_ref = ModelRef(model.name, device=str(model.device))
    # Workers (possibly on other machines) open the input by this path: make it absolute.
    src = os.path.abspath(input_path) if Path(input_path).exists() else str(input_path)
    job = Job(input=src, bands=tuple(sel), plan=plan, stats=tuple(stats),
              write_mask=write_mask, model=model_ref, steps=steps, half=half,
              temperature=temperature, samples=samples)

    old_cache = gdal.GetCacheMax()
    # GDAL's block cache defaults to 5% of RAM; a fixed budget keeps peak memory block-bound.
    gdal.SetCacheMax(min(old_cache, GDAL_CACHE_BYTES))
    try:
        if threads and not parallel:
            model.set_threads(threads)
        if not (parallel or resume or vrt or plan.blended):
            done = _direct(job, model, info, out, overwrite, cog, progress, cancel)
        else:
            done = _with_parts(job, model, info, out, overwrite=overwrite, cog=cog, vrt=vrt,
                               workers=workers, threads=threads, ray=ray, resume=resume,
                               tile=tile, uncertainty=unc_path, progress=progress,
                               cancel=cancel)
    finally:
        gdal.SetCacheMax(old_cache)
    gt = gr.scaled_geotransform(info.geotransform, info.width, info.height, out_w, out_h) \
        if info.geotransform else None
    return {
        "output": str(out),
        "width": out_w,
        "height": out_h,
        "size": [out_w, out_h],
        "pixel_size": list(pixel_size(gt)) if gt else None,
        "scale": [out_w / info.width, out_h / info.height],
        "model": model.name,
        "family": model.family,
        "bands": sel,
        "tiles": len(plan),
        "blocks": len(plan),
        "reused_blocks": done,
        "workers": workers,
        "uncertainty": str(unc_path) if unc_path is not None else None,
        "samples": samples,
        "seconds": time.perf_counter() - started,
    }


def _check_sampling(model: SRModel, out: Path, input_path: str | os.PathLike[str],
                    temperature: float | None, samples: int | None,
                    uncertainty: str | os.PathLike[str] | None,
                    overwrite: bool) -> tuple[int, Path | None]:
    """(samples per pixel, checked uncertainty path or None) for the sampling options."""
    if temperature is not None:
        if not model.stochastic or "temperature" not in model.describe():
            raise ParameterError(f"--temperature applies to diffusion models with a detail "
                                 f"control (e.g. moe); '{model.name}' has none: leave it out")
        if not 0.0 <= temperature <= 1.0:
            raise ParameterError(f"--temperature must be between 0 and 1, got {temperature}")
    if uncertainty is None:
        if samples is not None and samples > 1:
            raise ParameterError("--samples is used with --uncertainty PATH: add the path of "
                                 "the uncertainty raster, or leave --samples out")
        return 1, None
    if not model.stochastic:
        raise ParameterError(f"--uncertainty needs a diffusion model (e.g. moe): '{model.name}' "
                             "is deterministic, so its samples would not differ")
    samples = DEFAULT_SAMPLES if samples is None else samples
    if samples < 2:
        raise ParameterError(f"--samples must be at least 2 for an uncertainty layer, got "
                             f"{samples}")
    path = gr.check_output_path(uncertainty, overwrite=overwrite, input_path=input_path)
    if path.resolve() == out.resolve():
        raise ParameterError("--uncertainty must be another file than the output")
    if path.suffix.lower() not in (".tif", ".tiff"):
        raise ParameterError(f"--uncertainty '{path.name}' must be a GeoTIFF (.tif)")
    return samples, path


def _report(progress: ProgressCallback, total: int, start: float = 0.02, stop: float = 0.96):
    count = [0]

    def step(_name: str = "") -> None:
        count[0] += 1
        progress(Progress(start + (stop - start) * count[0] / total,
                          f"block {count[0]}/{total}"))

    return step


def _direct(job: Job, model: SRModel, info: gr.RasterInfo, out: Path, overwrite: bool,
            cog: bool, progress: ProgressCallback, cancel: threading.Event | None) -> int:
    """Point-query model in this process: blocks written straight into the output."""
    plan = job.plan
    worker = BlockWorker(job, model=model)
    blocks = plan.blocks
    step = _report(progress, len(blocks))
    tmp = gr.temp_path(out)
    reader = ThreadPoolExecutor(1, thread_name_prefix="arbsr-read")
    writer = ThreadPoolExecutor(1, thread_name_prefix="arbsr-write")
    out_ds = None
    try:
        out_ds = gr.create_output(tmp, info, plan.out_w, plan.out_h, write_mask=job.write_mask)
        pending: Future[None] | None = None
        nxt = reader.submit(worker.read, blocks[0])
        for k, block in enumerate(blocks):
            check_cancel(cancel)
            window = nxt.result()
            if k + 1 < len(blocks):
                nxt = reader.submit(worker.read, blocks[k + 1])
            values, valid = worker.render(block, window)
            data, mask = worker.output(values, valid)
            _wait(pending)
            pending = writer.submit(gr.write_window, out_ds, block.xs.out0, block.ys.out0, data,
                                    mask, _whole_blocks(block, plan))
            step()
        _wait(pending)
        gr.close(out_ds)
        out_ds = None
        progress(Progress(0.99, "finishing"))
        gr.finalize(tmp, out, cog=cog, overwrite=overwrite)
    finally:
        reader.shutdown(wait=True, cancel_futures=True)
        writer.shutdown(wait=True, cancel_futures=True)
        with gr.quiet_gdal():
            out_ds = None
            worker.close()
        gr.remove_quietly(tmp)
    return 0


def _whole_blocks(block: BlockSpec, plan: Plan) -> bool:
    """True when ``block`` covers whole blocks of the output GeoTIFF (so they can be flushed):
    its size is a multiple of the GeoTIFF block or it ends at the raster's edge."""
    def ok(span: Any, n: int) -> bool:
        return span.out0 % GEOTIFF_BLOCK == 0 and (span.out1 % GEOTIFF_BLOCK == 0 or
                                                   span.out1 == n)
    return ok(block.xs, plan.out_w) and ok(block.ys, plan.out_h)


def _wait(pending: Future[None] | None) -> None:
    """Wait for a background write; its error is raised without the traceback, whose frames
    would keep the failed output dataset open (and make it report the error again on close)."""
    if pending is None:
        return
    try:
        pending.result()
    except EngineError as exc:
        raise exc.with_traceback(None) from None


def _with_parts(job: Job, model: SRModel, info: gr.RasterInfo, out: Path, *, overwrite: bool,
                cog: bool, vrt: bool, workers: int, threads: int | None, ray: str | None,
                resume: bool, tile: int | None, uncertainty: Path | None,
                progress: ProgressCallback, cancel: threading.Event | None) -> int:
    """Blocks rendered into part files (any executor) and assembled into the output. Returns the
    number of blocks reused from an earlier run."""
    plan = job.plan
    # Parts a user may resume live in '<output>.parts'; a blended single run uses a hidden one.
    keep = resume or vrt or workers > 1 or ray is not None
    folder = parts_folder(out) if keep else gr.temp_path(out, ".parts")
    spec = model.name if job.model is None else job.model.spec
    manifest = make_manifest(input_path=job.input, plan=plan, bands=list(job.bands),
                             model=spec, weights=weights_hash(spec), steps=job.steps,
                             data_type=info.type_name, tile=tile,
                             temperature=job.temperature, samples=job.samples)
    parts = PartsFolder(folder, manifest)
    parts.open(resume=resume)
    job = Job(**{**job.__dict__, "parts": str(folder)})
    finished = parts.finished(plan)
    todo = [b for b in plan.blocks if b.name not in finished]
    reused = len(plan) - len(todo)
    if reused:
        progress(Log(f"resuming: {reused} of {len(plan)} blocks already done"))
    step = _report(progress, len(plan), 0.02, 0.95)
    ok = False
    assembler = Assembler(job, info, folder, out, vrt=vrt, uncertainty=uncertainty)
    try:
        def done(name: str) -> None:
            assembler.add(name)
            step()

        for name in sorted(finished):
            done(name)
        if ray is not None:
            run_ray(job, todo, ray, workers, threads or default_threads(workers), done, cancel)
        elif workers > 1 and len(todo) > 1:
            run_local_workers(job, todo, workers, threads or default_threads(workers), done,
                              cancel)
        else:
            worker = BlockWorker(job, model=model)
            try:
                run_in_process(worker, todo, done, cancel)
            finally:
                worker.close()
        progress(Progress(0.95, "assembling"))
        assembler.finish(overwrite=overwrite, cog=cog, cancel=cancel)
        ok = True
    finally:
        assembler.close()
        if ok and not vrt:
            parts.remove()
        elif keep:
            parts.release()
        else:
            parts.remove()
    return reused


class Assembler:
    """Builds the output from the part files.

    Final parts are copied into the output GeoTIFF as soon as they exist, in a background
    thread while other blocks render (they cover whole GeoTIFF blocks, so the order does not
    matter). Blended parts are blended once all are there. A VRT output references the final
    parts instead of copying them.
    """

    def __init__(self, job: Job, info: gr.RasterInfo, folder: Path, out: Path, *,
                 vrt: bool, uncertainty: Path | None = None) -> None:
        self.job, self.info, self.folder, self.out, self.vrt = job, info, folder, out, vrt
        self.plan = job.plan
        self.blocks = {b.name: b for b in self.plan.blocks}
        self.tmp = gr.temp_path(out, ".tmp.vrt" if vrt else ".tmp.tif")
        self.out_ds = None if vrt else gr.create_output(
            self.tmp, info, self.plan.out_w, self.plan.out_h, write_mask=job.write_mask)
        self.copy = not vrt and not self.plan.blended
        self.std = (UncertaintyOutput(uncertainty, info, self.plan, job.stats)
                    if uncertainty is not None else None)
        self.writer = ThreadPoolExecutor(1, thread_name_prefix="arbsr-assemble")
        self.pending: list[Future[None]] = []

    def add(self, name: str) -> None:
        """Block ``name``'s part is complete."""
        if self.copy:
            self.pending.append(self.writer.submit(self._copy, self.blocks[name]))
            while self.pending and self.pending[0].done():
                _wait(self.pending.pop(0))

    def _copy(self, block: BlockSpec) -> None:
        path = part_path(self.folder, block)
        data = read_part(path)
        mask = None
        if self.job.write_mask:
            pds = gdal.Open(str(path))
            mask = pds.GetRasterBand(1).GetMaskBand().ReadAsArray() > 0
            pds = None
        self._write(block, data, mask)

    def _write(self, block: BlockSpec, data: np.ndarray, mask: np.ndarray | None) -> None:
        gr.write_window(self.out_ds, block.xs.out0, block.ys.out0, data, mask,
                        _whole_blocks(block, self.plan))

    def finish(self, *, overwrite: bool, cog: bool, cancel: threading.Event | None) -> None:
        """Wait for the copies, blend what needs blending, and move the output into place."""
        for f in self.pending:
            _wait(f)
        self.pending.clear()
        if self.plan.blended:
            c = len(self.job.bands)
            for block in self.plan.blocks:
                check_cancel(cancel)
                values, valid = blend_block(self.folder, self.plan, block,
                                            c if self.std is None else 2 * c)
                if self.std is not None:
                    self.std.write(block, values[c:], valid)
                    values = values[:c]
                data, mask = to_output(values, valid, self.job.stats, self.info,
                                       self.job.write_mask)
                if self.vrt:
                    write_final_part(self.folder, block, self.info, self.plan, data, mask)
                else:
                    self._write(block, data, mask)
        if self.vrt:
            _write_vrt(self.tmp, self.info, self.plan, self.folder)
        else:
            gr.close(self.out_ds)
            self.out_ds = None
        if self.std is None:
            gr.finalize(self.tmp, self.out, cog=cog and not self.vrt, overwrite=overwrite)
            return
        self.std.finish(overwrite=overwrite)
        try:
            gr.finalize(self.tmp, self.out, cog=cog and not self.vrt, overwrite=overwrite)
        except BaseException:
            gr.remove_quietly(self.std.path)  # no uncertainty layer without its output
            raise

    def close(self) -> None:
        """Stop the copies and remove the temporary output (a no-op after :meth:`finish`)."""
        self.writer.shutdown(wait=True, cancel_futures=True)
        with gr.quiet_gdal():
            self.out_ds = None
        gr.remove_quietly(self.tmp)
        if self.std is not None:
            self.std.close()


def _write_vrt(path: Path, info: gr.RasterInfo, plan: Plan, folder: Path) -> None:
    """A VRT over the final parts (paths relative to the VRT), with the band metadata."""
    files = [str(part_path(folder, b)) for b in plan.blocks]
    ds = gdal.BuildVRT(str(path), files)
    if ds is None:
        raise OutputError(f"cannot write the VRT '{path}': check the folder")
    gr.copy_metadata(ds, info)
    ds = None
    # The VRT is written next to the output and renamed: make its source paths relative.
    text = path.read_text(encoding="utf-8")
    prefix = str(folder.parent) + os.sep
    text = text.replace(f'relativeToVRT="0">{prefix}', 'relativeToVRT="1">')
    path.write_text(text, encoding="utf-8")


__all__ = ["GDAL_CACHE_BYTES", "upscale_raster"]
