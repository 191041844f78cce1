"""The LMLTE family: official LMF ``.pth`` checkpoints (``{'model': {'name': 'lmlte', ...}}``)."""

from __future__ import annotations

from engine.models.family import Family
from engine.models.lmlte.checkpoint import FAMILY_ID, detect, load

FAMILY = Family(id=FAMILY_ID, detect=detect, load=load)
