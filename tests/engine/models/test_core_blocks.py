"""Blocks of an inference on one thread per core (engine/models/core_blocks.py)."""

from __future__ import annotations

import threading

import pytest
import torch

from engine.models.core_blocks import balanced_size, run_blocks


@pytest.fixture()
def two_threads():  # type: ignore[no-untyped-def]
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


def test_block_counts_are_a_multiple_of_the_threads(two_threads) -> None:
    # 568 rows in blocks of about 115 would be 5 blocks: one core idle for the last one.
    assert balanced_size(568, 115, align=2) == 96  # 6 blocks, the last one shorter
    assert balanced_size(512, 128, align=2) == 128  # already 4 blocks
    assert balanced_size(80656, 16384) == 13443  # 6 blocks
    assert balanced_size(3, 4, align=2) == 4  # under two aligned units: one block
    torch.set_num_threads(1)
    assert balanced_size(568, 115, align=2) == 115


def test_blocks_run_on_worker_threads_only_without_gradients(two_threads) -> None:
    seen: list[tuple[int, str]] = []

    def block(i: int) -> None:
        seen.append((i, threading.current_thread().name))
        assert torch.get_num_threads() == 1 or threading.current_thread() is main

    main = threading.current_thread()
    with torch.no_grad():
        run_blocks(block, range(4), torch.device("cpu"))
    assert sorted(i for i, _ in seen) == [0, 1, 2, 3]
    assert all(name != main.name for _, name in seen)
    assert torch.get_num_threads() == 2
    seen.clear()
    run_blocks(block, range(4), torch.device("cpu"))  # gradients on: the caller's thread
    assert [name for _, name in seen] == [main.name] * 4


def test_an_error_in_a_block_reaches_the_caller(two_threads) -> None:
    def block(i: int) -> None:
        if i == 2:
            raise MemoryError("block 2")

    with torch.no_grad(), pytest.raises(MemoryError, match="block 2"):
        run_blocks(block, range(4), torch.device("cpu"))
    assert torch.get_num_threads() == 2


def test_many_threads_make_at_most_four_workers_that_share_them() -> None:
    seen: list[tuple[str, int]] = []
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(8)
        with torch.no_grad():
            run_blocks(lambda i: seen.append((threading.current_thread().name,
                                              torch.get_num_threads())),
                       range(16), torch.device("cpu"))
        assert torch.get_num_threads() == 8
        assert balanced_size(100, 20) == 13  # 8 blocks, not 5: a multiple of the 4 workers
    finally:
        torch.set_num_threads(before)
    assert len(seen) == 16 and len({name for name, _ in seen}) <= 4
    assert {n for _, n in seen} == {2}
