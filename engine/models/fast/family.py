"""The ``fast`` family: learned resampling checkpoints (``{'model': {'name': 'fast-resampler'}}``)."""

from __future__ import annotations

from engine.models.family import Family
from engine.models.fast.checkpoint import FAMILY as FAMILY_ID
from engine.models.fast.checkpoint import detect, load

FAMILY = Family(id=FAMILY_ID, detect=detect, load=load)
