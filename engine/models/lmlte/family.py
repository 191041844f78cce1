"""The LMLTE family: official LMF ``.pth`` checkpoints (``{'model': {'name': 'lmlte', ...}}``)."""

from __future__ import annotations

from engine.models.family import Family
from engine.models.lmlte.support import FAMILY as FAMILY_ID
from engine.models.lmlte.support import detect, load

FAMILY = Family(id=FAMILY_ID, detect=detect, load=load)
