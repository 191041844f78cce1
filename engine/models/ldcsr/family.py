"""The LDCSR family: Lightning ``.ckpt`` checkpoints, stage 2 (and stage 1, to say what it is)."""

from __future__ import annotations

from engine.models.family import Family
from engine.models.ldcsr.checkpoint import detect, load

FAMILY = Family(id="ldcsr", detect=detect, load=load)
