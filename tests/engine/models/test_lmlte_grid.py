"""The grid renderer of LMLTE (strided table views, engine/models/lmlte/grid.py) against the
point-query renderer: the same pixels at every scale it takes, the point path where it declines."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import engine
from engine.models.lmlte import checkpoint, grid, network
from engine.models.lmlte.checkpoint import build_lmlte, save_checkpoint
from lmlte_helpers import REFERENCE_ARGS, write_reference_checkpoint


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> engine.models.sr_model.SRModel:
    path = write_reference_checkpoint(tmp_path_factory.mktemp("grid") / "ref.pth")
    return engine.load_model(path, device="cpu")


def _both(model, fn, monkeypatch: pytest.MonkeyPatch) -> tuple[torch.Tensor, torch.Tensor, list]:
    """(grid render, point render, what render_grid returned per call) of ``fn()``."""
    used: list[bool] = []
    real = grid.render_grid

    def spy(*args, **kwargs):
        out = real(*args, **kwargs)
        used.append(out is not None)
        return out

    monkeypatch.setattr(checkpoint, "render_grid", spy)
    fast = fn()
    monkeypatch.setattr(checkpoint, "render_grid", lambda *a, **k: None)
    return fast, fn(), used


@pytest.mark.parametrize("size", [(20, 24), (30, 36), (40, 48), (50, 60), (60, 72), (80, 96),
                                  (160, 192), (40, 72), (30, 96), (80, 36)])
def test_grid_render_equals_point_queries(model, size, monkeypatch: pytest.MonkeyPatch) -> None:
    # x1, x1.5, x2, x2.5, x3, x4, x8 and the per-axis 2 x 3, 1.5 x 4, 4 x 1.5 (both routes).
    torch.manual_seed(0)
    lr = torch.rand(1, 3, 20, 24)
    fast, ref, used = _both(model, lambda: model.upscale(lr, size, clamp=False), monkeypatch)
    assert used and all(used), "the grid renderer declined a regular grid"
    assert float((fast - ref).abs().max()) <= 1e-6


def test_flipped_and_transposed_views_take_the_grid_path(model,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    torch.manual_seed(4)
    lr = torch.rand(1, 3, 20, 24)
    fast, ref, used = _both(model, lambda: model.upscale(lr, (50, 60), clamp=False,
                                                         self_ensemble=8), monkeypatch)
    assert len(used) == 8 and all(used)
    assert float((fast - ref).abs().max()) <= 1e-6


def test_tiles_and_batches_take_the_grid_path(model, monkeypatch: pytest.MonkeyPatch) -> None:
    torch.manual_seed(2)
    lr = torch.rand(2, 3, 18, 22)
    # A window of an x2.5 output that starts between classes (rows 7.., columns 3..), as the
    # pipeline's tiles do, with the edges of the LR tile inside the window.
    rows = (torch.arange(7, 45, dtype=torch.float64) + 0.5) / 2.5
    cols = (torch.arange(3, 55, dtype=torch.float64) + 0.5) / 2.5
    fast, ref, used = _both(
        model, lambda: model.upscale_grid(lr, rows, cols, (0.4, 0.4), clamp=False), monkeypatch)
    assert used and all(used)
    assert float((fast - ref).abs().max()) <= 1e-6
    alone, _, _ = _both(model, lambda: model.upscale_grid(lr[1:], rows, cols, (0.4, 0.4),
                                                        clamp=False), monkeypatch)
    assert float((fast[1:] - alone).abs().max()) <= 1e-6


@pytest.mark.parametrize("precision", [None, "bfloat16"])
def test_blocks_on_threads_give_the_serial_result(model, precision,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    # With more than one torch thread the CPU renders row blocks and encodes row stripes on a
    # thread pool (one torch thread each, engine.models.core_blocks); the caller's inference
    # and autocast modes must reach the workers, and its thread count must come back.
    monkeypatch.setattr(network, "ENCODE_STRIPE_PIXELS", 16 * 2 * 30)  # 16-row stripes
    monkeypatch.setattr(network, "MOD_BLOCK", 2 * 300)  # latent-MLP blocks of 300 LR pixels
    torch.manual_seed(5)
    lr = torch.rand(2, 3, 40, 30)
    opts = {"clamp": False, "chunk": 64, "precision": precision}  # many row blocks
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        serial = model.upscale(lr, (100, 75), **opts)
        torch.set_num_threads(2)
        pooled = model.upscale(lr, (100, 75), **opts)
        assert torch.get_num_threads() == 2
        with torch.inference_mode():
            inference = model.upscale(lr, (100, 75), **opts)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(threads)
    assert torch.equal(pooled, serial) and torch.equal(inference, serial)


def test_a_flop_counter_sees_the_blocks_of_every_thread(model,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    # Dispatch modes are per thread: under one (the throughput bench's FLOP counter) the blocks
    # run on the caller's thread, or their work would not be counted.
    from torch.utils.flop_counter import FlopCounterMode

    # Two 20-row stripes on one thread and on two (their halos' work is counted too).
    monkeypatch.setattr(network, "ENCODE_STRIPE_PIXELS", 20 * 30)
    lr = torch.rand(1, 3, 40, 30)
    threads = torch.get_num_threads()
    counts = []
    try:
        for n in (1, 2):
            torch.set_num_threads(n)
            counter = FlopCounterMode(display=False)
            with counter:
                model.upscale(lr, (100, 75), chunk=64)
            counts.append(counter.get_total_flops())
    finally:
        torch.set_num_threads(threads)
    assert counts[0] > 0 and counts[1] == counts[0]


def test_irregular_grids_fall_back_to_point_queries(model, monkeypatch: pytest.MonkeyPatch) -> None:
    lr = torch.rand(1, 3, 20, 24)
    # x3.35 (67/20) has 67 row classes: too many blocks for views; the point path renders it.
    fast, ref, used = _both(model, lambda: model.upscale(lr, (67, 80), clamp=False),
                            monkeypatch)
    assert used == [False]
    assert torch.equal(fast, ref)


def test_classes_follow_the_clamped_edges() -> None:
    # x2 rows of a 4-pixel axis, member looking up: the first output row is clamped onto row 0.
    assert grid._classes(torch.tensor([0, 0, 0, 1, 1, 2, 2, 3]).numpy(), 4) == (2, 1, (-1, 0))
    # A jump that no period explains.
    jump = torch.cat((torch.arange(20), torch.arange(21, 41))).numpy()
    assert grid._classes(jump, 41) is None


def test_a_model_without_the_local_ensemble(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    args = dict(REFERENCE_ARGS, local_ensemble=False)
    torch.manual_seed(3)
    path = save_checkpoint(tmp_path / "no_ensemble.pth", args, build_lmlte(args).state_dict())
    m = engine.load_model(path, device="cpu")
    lr = torch.rand(1, 3, 16, 16)
    fast, ref, used = _both(m, lambda: m.upscale(lr, (48, 48), clamp=False), monkeypatch)
    assert used and all(used)
    assert float((fast - ref).abs().max()) <= 1e-6
