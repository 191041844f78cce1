"""Fixtures of the model-family tests."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture
def one_thread():  # type: ignore[no-untyped-def]
    """Tiny convolutions run fastest on one thread; more only spin on a shared CPU."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
