"""Feature encoders of the implicit decoders, built from official LMF ``encoder_spec`` dicts.

``make_encoder({'name': 'edsr-baseline' | 'edsr' | 'rdn' | 'swinir', 'args': {...}})`` returns an
``nn.Module`` with ``out_dim`` (feature channels) and ``receptive_radius`` (LR pixels of context
per side that change its output; used for the tiling halo); ``convolutional = True`` marks the
encoders for which that radius is exact (only convolutions), so that a caller may encode row
stripes with that much context instead of the whole image. Module names follow the official code
so official state dicts load with ``strict=True``. Unknown args are ignored; ``n_colors`` (not an
official argument: LMF hard-codes 3) selects band-wise single-channel models.
"""

from __future__ import annotations

import importlib
from typing import Any, Mapping

from torch import nn

from engine.errors import ModelError

#: encoder name -> (module, builder function)
ENCODERS: dict[str, tuple[str, str]] = {
    "edsr-baseline": ("engine.models.encoders.edsr", "make_edsr_baseline"),
    "edsr": ("engine.models.encoders.edsr", "make_edsr"),
    "rdn": ("engine.models.encoders.rdn", "make_rdn"),
    "swinir": ("engine.models.encoders.swinir", "make_swinir"),
}


def make_encoder(spec: Mapping[str, Any]) -> nn.Module:
    """Build the encoder described by an official ``encoder_spec``.

    Raises:
        ModelError: unknown encoder name.
    """
    name = spec.get("name")
    if name not in ENCODERS:
        raise ModelError(f"unsupported encoder '{name}' in the checkpoint: ArbSR builds "
                         f"{', '.join(ENCODERS)}")
    module_path, fn = ENCODERS[name]
    builder = getattr(importlib.import_module(module_path), fn)
    return builder(**dict(spec.get("args") or {}))
