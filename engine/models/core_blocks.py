"""Independent blocks of an inference, one per CPU core.

torch runs every operation on all its intra-op threads. The operations of a tile's decoder and
of a striped encoder are small (16- to 32-channel maps of a few ten thousand pixels), and on
them much of that time went to handing work over between the threads. Running independent
blocks (output rows, encoder stripes) on one Python thread per core, each with torch on one
thread, keeps every core on its own block and its working set in that core's cache. torch
releases the GIL inside its kernels, so the threads overlap.

The blocks must write disjoint parts of their output: the result is then bit for bit the serial
one, whatever the order.

At most :data:`MAX_WORKERS` blocks run at once, each on ``threads // workers`` torch threads: a
Python thread holds the GIL while it dispatches an operation, so many of them would queue on
it. Measured on 2 cores only; the cap is a precaution for larger CPUs.

Within :func:`serial_blocks` the blocks run one after the other on the caller's thread, torch on
all its threads. The raster pipeline uses it: it keeps a reader and a writer thread busy beside
the model, on tiles of at most a few hundred pixels a side, and there the block threads did
not pay (CLI on 2 cores, alternating runs: 2048² x4 59.7-71.6 s, mean 63.5, against 49.2-63.6 s,
mean 54.5, serial; x2 26.3-27.4 s against 24.2-25.1 s; 1024² x4 15.0-17.4 s against
13.8-17.7 s, with a third of the system time) while whole-image calls gain (model only, 1024²
x2 4.0-4.2 s against 4.9-5.0 s serial).
"""

from __future__ import annotations

import contextlib
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Iterable, Iterator, TypeVar

import torch
from torch.utils._python_dispatch import _get_current_dispatch_mode

T = TypeVar("T")

#: Most blocks in flight (Python threads).
MAX_WORKERS = 4


_local = threading.local()


@contextlib.contextmanager
def serial_blocks() -> Iterator[None]:
    """Within the block, :func:`run_blocks` on this thread runs its blocks serially and
    :func:`balanced_size` cuts for one worker."""
    before = getattr(_local, "serial", False)
    _local.serial = True
    try:
        yield
    finally:
        _local.serial = before


def _workers() -> int:
    if getattr(_local, "serial", False):
        return 1
    return min(MAX_WORKERS, torch.get_num_threads())


def balanced_size(total: int, size: int, align: int = 1) -> int:
    """A block size of at most about ``size`` (a multiple of ``align``) that cuts ``total`` into
    a multiple of the workers of :func:`run_blocks`: 5 blocks on 2 cores would leave one core
    idle for the last block."""
    workers = _workers()
    if workers < 2 or total < 2 * align:
        return size
    count = -(-(-(-total // max(1, size))) // workers) * workers  # rounded up twice
    per = -(-total // count)
    return max(align, -(-per // align) * align)


def run_blocks(fn: Callable[[T], None], blocks: Iterable[T], device: torch.device) -> None:
    """``fn(block)`` for every block: on a pool of up to :data:`MAX_WORKERS` threads on the
    CPU, serially on GPUs, on one thread, with gradients (autograd graphs stay on the caller's
    thread), while tracing or under a dispatch mode, within :func:`serial_blocks`, or for a
    single block."""
    items = list(blocks)
    threads, workers = torch.get_num_threads(), min(_workers(), len(items))
    # A trace, or a dispatch mode such as torch's FLOP counter, sees only its own thread.
    if device.type != "cpu" or workers < 2 or torch.is_grad_enabled() \
            or torch.jit.is_tracing() or _get_current_dispatch_mode() is not None:
        for item in items:
            fn(item)
        return
    # Grad, inference and autocast modes are per thread: the workers take the caller's (an
    # inference tensor cannot be written outside inference mode; a reduced precision must
    # apply to every block).
    inference = torch.is_inference_mode_enabled()
    autocast = torch.is_autocast_enabled("cpu")
    low = torch.get_autocast_dtype("cpu")

    def in_caller_mode(item: T) -> None:
        with torch.inference_mode(inference), torch.no_grad(), \
                torch.autocast("cpu", dtype=low, enabled=autocast):
            fn(item)

    # Process-wide: each worker's operations run on its share of the threads.
    torch.set_num_threads(max(1, threads // workers))
    try:
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(in_caller_mode, items))
    finally:
        torch.set_num_threads(threads)


__all__ = ["MAX_WORKERS", "balanced_size", "run_blocks", "serial_blocks"]
