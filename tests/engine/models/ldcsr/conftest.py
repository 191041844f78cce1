"""Fixtures of the LDCSR tests (the reduced random-weight model of the parity fixtures)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from ldcsr_helpers import DATA, official_state  # noqa: E402


@pytest.fixture(scope="module")
def reduced_net():
    """LDCSRNet of the reduced config with the fixture weights (EMA UNet), eval mode, CPU."""
    from engine.models.ldcsr.config import load_yaml
    from engine.models.ldcsr.checkpoint import build

    torch.set_num_threads(1)
    net = build(load_yaml(DATA / "reduced_second_stage.yaml"), official_state())
    return net.eval()
