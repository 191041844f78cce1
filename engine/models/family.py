"""The model-family contract: what the registry needs to recognise and load a family's files.

Every family declares one :class:`Family` object (``FAMILY`` in its ``family.py``, or in the
format module of an exported format) and is listed once, in detection order, in
:data:`engine.models.registry.FAMILIES`. Modelled on spandrel's architecture objects.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping

from engine.models.sr_model import SRModel

#: ``detect(checkpoint) -> bool`` on the dict read from a checkpoint file.
Detect = Callable[[Mapping[str, Any]], bool]
#: ``load(checkpoint, *, name, device, config, options[, scale_range]) -> SRModel``, or for a
#: file-type family ``load_file(path, *, name, device, config, options, scale_range)``.
Load = Callable[..., SRModel]


@dataclass(frozen=True)
class Family:
    """One model family as the registry sees it.

    Attributes:
        id: registry id: ``SRModel.family`` and a model card's ``family``.
        detect: recognises the family's checkpoints by content (None for file-type families).
        load: builds the :class:`SRModel` of a checkpoint that ``detect`` accepted.
        suffixes: file suffixes that identify the family without unpickling anything
            (exported TorchScript / ONNX files); such a family has ``load_file`` instead.
        load_file: builds the :class:`SRModel` of a file with one of ``suffixes``.
    """

    id: str
    detect: Detect | None = None
    load: Load | None = None
    suffixes: tuple[str, ...] = ()
    load_file: Load | None = None

    def __post_init__(self) -> None:
        by_content = self.detect is not None and self.load is not None
        by_suffix = bool(self.suffixes) and self.load_file is not None
        if not (by_content or by_suffix):
            raise ValueError(f"family '{self.id}' needs detect and load, or suffixes and "
                             "load_file")


__all__ = ["Detect", "Family", "Load"]
