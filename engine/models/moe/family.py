"""The MoE-DiffSR family: checkpoints ``{'model': {'name': 'moe-diffsr', 'args', 'sd'}, ...}``."""

from __future__ import annotations

from engine.models.family import Family
from engine.models.moe.checkpoint import detect, load

FAMILY = Family(id="moe", detect=detect, load=load)
