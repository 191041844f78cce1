"""Out-of-memory in a model, raised so that the raster pipeline backs off on CPU and CUDA alike.

The pipeline halves its tile when a model raises ``torch.OutOfMemoryError`` (CUDA's error). A
failed CPU allocation is a plain ``RuntimeError`` ("DefaultCPUAllocator: can't allocate memory"),
and a model's own back-off ends in a message; :class:`ModelOutOfMemory` is both at once: a
``torch.OutOfMemoryError`` for the pipeline's back-off and a :class:`ResourceError` whose line the
CLI prints when nobody backs off (a direct API call).
"""

from __future__ import annotations

import contextlib
from typing import Iterator

import torch

from engine.errors import ResourceError

#: Texts of allocation failures that torch raises as plain RuntimeError (CPU allocator, CUDA
#: errors raised from C++ helpers without the typed exception, and oneDNN, whose CPU
#: convolutions report a failed allocation of their working memory as a primitive they could
#: not create: seen with a capped address space on a tile whose half tiles fit).
_MESSAGES = ("out of memory", "can't allocate memory", "could not create a primitive")


class ModelOutOfMemory(torch.OutOfMemoryError, ResourceError):
    """A model ran out of memory (CPU or GPU) even after its own back-off."""


def is_out_of_memory(exc: BaseException) -> bool:
    """True for an allocation failure on any device."""
    if isinstance(exc, (torch.OutOfMemoryError, MemoryError)):
        return True
    text = str(exc).lower()
    return isinstance(exc, RuntimeError) and any(m in text for m in _MESSAGES)


@contextlib.contextmanager
def out_of_memory_as(message: str) -> Iterator[None]:
    """Within the block, any allocation failure is raised as :class:`ModelOutOfMemory(message)`."""
    try:
        yield
    except ModelOutOfMemory:
        raise
    except (RuntimeError, MemoryError) as exc:
        if not is_out_of_memory(exc):
            raise
        if torch.cuda.is_initialized():
            torch.cuda.empty_cache()
        raise ModelOutOfMemory(message) from exc


__all__ = ["ModelOutOfMemory", "is_out_of_memory", "out_of_memory_as"]
