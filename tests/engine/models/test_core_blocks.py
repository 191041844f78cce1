"""Blocks of an inference on one thread per core (engine/models/core_blocks.py)."""

from __future__ import annotations

import threading

import pytest
import torch

from engine.models.core_blocks import balanced_size, run_blocks, serial_blocks


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


def test_serial_blocks_keep_the_blocks_on_the_caller_thread(two_threads) -> None:
    names: list[str] = []
    with torch.no_grad(), serial_blocks():
        run_blocks(lambda i: names.append(threading.current_thread().name), range(4),
                   torch.device("cpu"))
        assert balanced_size(568, 115, align=2) == 115  # cut for one worker
        with serial_blocks():
            pass
        assert balanced_size(568, 115, align=2) == 115  # still serial after a nested block
    assert names == [threading.current_thread().name] * 4
    assert balanced_size(568, 115, align=2) == 96  # and pooled again outside


def test_the_raster_pipeline_renders_serial_blocks(two_threads, geotiff, tmp_path,
                                                   monkeypatch) -> None:
    """The pipeline's reader and writer threads share the cores with the model: its blocks
    then run on the thread that renders the tile (measured faster through the CLI)."""
    import engine
    import engine.models.lmlte.network as network
    from engine.pipeline import Scale, upscale_raster
    from rasters import smooth_image

    names: list[str] = []
    real = network.run_blocks

    def spy(fn, blocks, device):  # type: ignore[no-untyped-def]
        def recorded(item):  # type: ignore[no-untyped-def]
            names.append(threading.current_thread().name)
            fn(item)
        real(recorded, blocks, device)

    # The latent MLP of a tile of more than 16384 LR pixels (network.MOD_BLOCK) runs in blocks.
    monkeypatch.setattr(network, "run_blocks", spy)
    model = engine.load_model("lmlte-default")
    src = geotiff((smooth_image(200, 200) * 1000).astype("uint16"))
    upscale_raster(src, tmp_path / "out.tif", model, scale=Scale(x=4.0, y=4.0))
    assert len(names) >= 2 and set(names) == {threading.current_thread().name}
    names.clear()
    with torch.no_grad():  # the same model call outside the pipeline: one block per core
        model.upscale(torch.rand(1, 1, 160, 160), (640, 640))
    assert len(set(names)) == 2
