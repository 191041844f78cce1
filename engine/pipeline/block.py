"""One block, rendered: the function every executor runs (in-process, local workers, Ray actors).

A :class:`Job` is the picklable description of the whole run (input path, bands, plan, band
statistics, how to load the model, where parts go). A :class:`BlockWorker` is what one process
holds to render blocks of that job: the model loaded once, its own handle on the input raster and
the renderer. :meth:`BlockWorker.render` reads a block's input window (the reader), runs the model
(the renderer) and returns normalised values; :meth:`BlockWorker.write_part` sends the block to a
part file (the sink). Workers read their input windows themselves: only block specs travel.
"""

from __future__ import annotations

import contextlib
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from engine.errors import Cancelled
from engine.io import gdal_raster as gr
from engine.io.windows import nearest_input
from engine.models.sr_model import SRModel
from engine.normalization import BandStats, normalize
from engine.pipeline.plan import BlockSpec, Plan
from engine.pipeline.render import TileRenderer, fill_holes
from engine.pipeline.sink import part_path, to_output, write_blend_part, write_final_part


@dataclass(frozen=True)
class ModelRef:
    """How another process loads the job's model: a registered name or checkpoint path."""

    spec: str
    config: str | None = None
    device: str = "cpu"
    options: dict[str, Any] = field(default_factory=dict)

    def load(self) -> SRModel:
        from engine.models.registry import load_model

        return load_model(self.spec, device=self.device, config=self.config, runtime=True,
                          **self.options)


@dataclass(frozen=True)
class Job:
    """Everything a worker needs to render any block of one run."""

    input: str
    bands: tuple[int, ...]
    plan: Plan
    stats: tuple[BandStats, ...]
    write_mask: bool
    model: ModelRef | None = None
    steps: int | None = None
    half: bool = False
    parts: str | None = None
    temperature: float | None = None
    samples: int = 1  # > 1: render that many samples and add their standard deviation


class BlockWorker:
    """Renders blocks of ``job`` in this process.

    Args:
        job: the run.
        model: an already loaded model (in-process runs); else ``job.model`` is loaded.
        threads: CPU threads of the model in this process (None: leave its setting).
    """

    def __init__(self, job: Job, model: SRModel | None = None, threads: int | None = None
                 ) -> None:
        if model is None:
            if job.model is None:
                raise ValueError("the job names no model to load")
            model = job.model.load()
        if threads:
            model.set_threads(threads)
        self.job = job
        self.model = model
        self.ds = gr.open_raster(job.input)
        self.info = gr.describe(self.ds, list(job.bands))
        plan = job.plan
        self.renderer = TileRenderer(model, plan.width, plan.height, plan.out_w, plan.out_h,
                                     half=job.half, seed=plan.seed, steps=job.steps,
                                     temperature=job.temperature)
        self.fill = [s.lo for s in job.stats]
        self.lock = threading.Lock()  # one GDAL dataset: reads from one thread at a time

    def read(self, block: BlockSpec) -> tuple[np.ndarray, np.ndarray]:
        """The block's input window (data, valid)."""
        ys, xs = block.ys, block.xs
        with self.lock:
            return gr.read_window(self.ds, self.info, xs.crop0, ys.crop0, xs.crop_size,
                                  ys.crop_size)

    def render(self, block: BlockSpec, window: tuple[np.ndarray, np.ndarray] | None = None
               ) -> tuple[np.ndarray, np.ndarray]:
        """Normalised values over the block's rendered region (C, ext_h, ext_w) and the validity
        of its own pixels (C, h, w): an output pixel is valid when the input pixel its centre
        falls in is valid.

        With ``job.samples`` K > 1 the values have 2C channels: the seed's sample (the output),
        then the per-pixel standard deviation over K samples (normalised units)."""
        data, valid = window if window is not None else self.read(block)
        ys, xs = block.ys, block.xs
        lr = normalize(fill_holes(data, valid, self.fill), self.job.stats)
        with self._serial_blocks():
            draws = [self.renderer.render(lr, ys.crop0, xs.crop0, (ys.ext0, ys.ext1),
                                          (xs.ext0, xs.ext1), sample=k)
                     for k in range(max(1, self.job.samples))]
        values = draws[0]
        if len(draws) > 1:
            std = np.std(np.stack(draws), axis=0, ddof=1).astype(np.float32)
            values = np.concatenate([values, std])
        plan = self.job.plan
        iy = nearest_input(ys.out0, ys.out1, plan.height, plan.out_h) - ys.crop0
        ix = nearest_input(xs.out0, xs.out1, plan.width, plan.out_w) - xs.crop0
        return values, valid[:, iy][:, :, ix]

    def _serial_blocks(self) -> contextlib.AbstractContextManager[None]:
        # The model's blocks one after the other: the pipeline's reader and writer threads
        # already share the cores with it (engine.models.core_blocks). Imported only for torch
        # models: the torch-free runtime of `fast` must not load torch.
        if self.model.array_api != "torch":
            return contextlib.nullcontext()
        from engine.models.core_blocks import serial_blocks

        return serial_blocks()

    def output(self, values: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray,
                                                                     np.ndarray | None]:
        """Output pixels of a block's own region from its normalised values."""
        return to_output(values, valid, self.job.stats, self.info, self.job.write_mask)

    def write_part(self, block: BlockSpec) -> str:
        """Render ``block`` into its part file in ``job.parts``; returns the block's name.

        Idempotent: a block whose part exists is not rendered again (retries, resumed runs)."""
        folder = Path(self.job.parts or ".")
        kind = "blend" if self.job.plan.blended else "final"
        if part_path(folder, block, kind).exists():
            return block.name
        values, valid = self.render(block)
        if kind == "blend":
            write_blend_part(folder, block, self.info, self.job.plan, values, valid)
        else:
            data, mask = self.output(values, valid)
            write_final_part(folder, block, self.info, self.job.plan, data, mask)
        return block.name

    def close(self) -> None:
        self.ds = None


def check_cancel(cancel: threading.Event | None) -> None:
    if cancel is not None and cancel.is_set():
        raise Cancelled("cancelled: no output was written")


def default_threads(workers: int) -> int:
    """Torch threads per worker: the cores shared out, at least one."""
    return max(1, (os.cpu_count() or 1) // max(1, workers))


__all__ = ["BlockWorker", "Job", "ModelRef", "check_cancel", "default_threads"]
