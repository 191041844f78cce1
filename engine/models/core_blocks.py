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
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Iterable, TypeVar

import torch
from torch.utils._python_dispatch import _get_current_dispatch_mode

T = TypeVar("T")

#: Most blocks in flight (Python threads).
MAX_WORKERS = 4


def _workers() -> int:
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
    thread), while tracing or under a dispatch mode, or for a single block."""
    items = list(blocks)
    threads, workers = torch.get_num_threads(), min(_workers(), len(items))
    # A trace, or a dispatch mode such as torch's FLOP counter, sees only its own thread.
    if device.type != "cpu" or threads < 2 or len(items) < 2 or torch.is_grad_enabled() \
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


__all__ = ["MAX_WORKERS", "balanced_size", "run_blocks"]
