"""LMLTE against the official reference fixtures, plus the API contract of the loaded model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import engine
from engine.errors import ModelError, ParameterError
from engine.models.lmlte import checkpoint, network
from engine.models.lmlte.checkpoint import load_lmlte
from engine.models.lmlte.coords import cell_size, make_coord
from lmlte_helpers import CASES, DATA, REFERENCE_ARGS, TOL, load_case, max_err, write_reference_checkpoint


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def ref_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_reference_checkpoint(tmp_path_factory.mktemp("lmlte") / "edsr-b_lmlte_seed0.pth")


@pytest.fixture(scope="module")
def model(ref_path: Path) -> engine.models.sr_model.SRModel:
    return engine.load_model(ref_path, device="cpu")


@pytest.mark.parametrize("name", CASES)
def test_reference_case(model, name: str) -> None:
    d = load_case(name)
    hh, ww = (int(v) for v in d["out_size"])
    h, w = d["inp"].shape[-2:]
    # Output size rule: Python round of h * scale.
    assert (hh, ww) == (round(h * float(d["scale"][0])), round(w * float(d["scale"][1])))
    # Coordinates and cells bit for bit.
    assert torch.equal(make_coord(hh, ww).view(-1, 2), torch.from_numpy(d["coord"]))
    cell = (cell_size(hh, float(d["cell_factor"])), cell_size(ww, float(d["cell_factor"])))
    assert np.array_equal(np.float32(cell), d["cell"][0])
    lr = torch.from_numpy(d["inp"])[None]
    # The official code renders the direct route only (no transposed-route mean, which our
    # models add at non-square output pixels, e.g. case x2_x3).
    raw = model.upscale(lr, (hh, ww), clamp=False, axis_ensemble=False)[0].numpy()
    assert max_err(raw, d["expected_unclamped"], d["ulp_sensitive"]) <= TOL
    out = model.upscale(lr, (hh, ww), axis_ensemble=False)[0].numpy()
    assert max_err(out, d["expected"], d["ulp_sensitive"]) <= TOL
    assert out.min() >= 0 and out.max() <= 1


def test_network_forward_with_fixture_queries(ref_path: Path) -> None:
    d = load_case("x2.5")
    net = load_lmlte(ref_path).eval()
    inp = (torch.from_numpy(d["inp"])[None] - 0.5) / 0.5
    with torch.no_grad():
        pred = net(inp, torch.from_numpy(d["coord"])[None], torch.from_numpy(d["cell"])[None])
    hh, ww = (int(v) for v in d["out_size"])
    out = (pred[0] * 0.5 + 0.5).t().reshape(3, hh, ww).numpy()
    assert max_err(out, d["expected_unclamped"], d["ulp_sensitive"]) <= TOL
    # gen_feat + query is the same computation.
    with torch.no_grad():
        net.gen_feat(inp)
        q = net.query(torch.from_numpy(d["coord"])[None], torch.from_numpy(d["cell"])[None], chunk=500)
    assert torch.allclose(q, pred, atol=1e-6, rtol=0)


def test_train_mode_matches_eval_mode(ref_path: Path) -> None:
    d = load_case("x3")
    net = load_lmlte(ref_path)
    inp = (torch.from_numpy(d["inp"])[None] - 0.5) / 0.5
    coord, cell = torch.from_numpy(d["coord"])[None, ::4], torch.from_numpy(d["cell"])[None, ::4]
    net.train()
    train_out = net(inp, coord, cell)
    assert train_out.requires_grad
    train_out.abs().mean().backward()  # differentiable end to end
    assert net.imnet.layers[0].weight.grad is not None
    net.eval()
    with torch.no_grad():
        eval_out = net(inp, coord, cell)
    assert torch.allclose(train_out.detach(), eval_out, atol=1e-6, rtol=0)


def test_chunking_and_batch_do_not_change_the_result(model) -> None:
    lr = torch.from_numpy(load_case("x2_x3")["inp"])[None, :, 4:16, 6:20]
    size = (27, 41)
    full = model.upscale(lr, size, clamp=False)
    small = model.upscale(lr, size, clamp=False, chunk=1000)
    tiny = model.upscale(lr, size, clamp=False, chunk=30)  # chunks narrower than one row
    assert torch.allclose(full, small, atol=1e-6, rtol=0)
    assert torch.allclose(full, tiny, atol=1e-6, rtol=0)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(network, "MOD_BLOCK", 50)  # the latent MLP in several blocks of LR pixels
        blocks = model.upscale(lr, size, clamp=False)
    assert torch.allclose(full, blocks, atol=1e-6, rtol=0)
    batch = torch.cat([lr, lr.flip(-1)], 0)
    both = model.upscale(batch, size, clamp=False)
    assert torch.allclose(both[:1], full, atol=1e-6, rtol=0)
    alone = model.upscale(lr.flip(-1), size, clamp=False)
    assert torch.allclose(both[1:], alone, atol=1e-6, rtol=0)


def test_striped_encoder_and_table_buffers_give_the_whole_image_result(
        model, monkeypatch: pytest.MonkeyPatch) -> None:
    # Inference encodes row stripes with the receptive radius as context and writes the tables
    # into padded buffers; training (grad enabled) runs the whole image through plain ops.
    net = model.module
    torch.manual_seed(0)
    inp = torch.rand(2, 3, 150, 20) * 2 - 1
    stripes: list[int] = []
    real = net.encoder.forward
    monkeypatch.setattr(net.encoder, "forward", lambda x: stripes.append(x.shape[-2]) or real(x))
    monkeypatch.setattr(network, "ENCODE_STRIPE_PIXELS", 16 * 2 * 20)  # 16 rows per stripe
    with torch.no_grad():
        latent = net.encode(inp)
        mod = net.modulations(latent, torch.full((2, 1, 2), 0.01))
        tables = net.tables(latent, mod)
    halo = net.encoder.receptive_radius + 1
    assert len(stripes) == 10 and max(stripes) == 16 + 2 * halo < 150
    with torch.enable_grad():
        whole = net.encode(inp)
        assert len(stripes) == 11 and stripes[-1] == 150
        plain = net.tables(whole, net.modulations(whole, torch.full((2, 1, 2), 0.01)))
    for name in ("coef", "freq"):
        assert torch.allclose(latent[name], whole[name].detach(), atol=1e-6, rtol=0)
    for name in network.RENDER_TABLES:
        assert torch.allclose(tables[name], plain[name].detach(), atol=1e-6, rtol=0)
    for (s1, t1), (s2, t2) in zip(tables["mods"], plain["mods"]):
        assert torch.allclose(s1, s2.detach(), atol=1e-6, rtol=0)
        assert torch.allclose(t1, t2.detach(), atol=1e-6, rtol=0)


def test_query_chunks_bound_the_working_set(model, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[int] = []
    real = network.LMLTE._render_chunk

    def spy(self, t, coord, cell):
        seen.append(coord.shape[1])
        return real(self, t, coord, cell)

    monkeypatch.setattr(network.LMLTE, "_render_chunk", spy)
    lr = torch.rand(1, 3, 16, 20)
    out = model.upscale(lr, (100, 130), chunk=2000)
    assert out.shape == (1, 3, 100, 130)
    # x6.25 by x6.5: non-square pixels, so both routes (direct, transposed) render every pixel.
    assert max(seen) <= 2000 and sum(seen) == 2 * 100 * 130


def test_upscale_grid_matches_upscale_and_tiles_are_seamless(model) -> None:
    torch.manual_seed(1)
    lr = torch.rand(1, 3, 30, 34)
    sy, sx = 2.3, 3.1
    hh, ww = round(30 * sy), round(34 * sx)
    dy, dx = 30 / hh, 34 / ww
    rows = (torch.arange(hh, dtype=torch.float64) + 0.5) * dy
    cols = (torch.arange(ww, dtype=torch.float64) + 0.5) * dx
    grid = model.upscale_grid(lr, rows, cols, (dy, dx), clamp=False)
    ref = model.upscale(lr, (hh, ww), clamp=False)
    assert grid.shape == ref.shape
    # Coordinates differ in the last bit only (float64 vs the float32 reference formula).
    assert torch.allclose(grid, ref, atol=1e-4, rtol=0)
    # A tile with enough LR context renders the same pixels as the whole image.
    halo = model.halo
    assert halo >= 20
    r0, r1, c0, c1 = 20, 50, 30, 80  # output window
    y0 = 0
    x0 = max(0, int(cols[c0]) - halo)
    x1 = min(34, int(cols[c1 - 1]) + halo + 1)
    tile = lr[:, :, y0:, x0:x1]
    part = model.upscale_grid(tile, rows[r0:r1] - y0, cols[c0:c1] - x0, (dy, dx), clamp=False)
    assert torch.allclose(part, grid[:, :, r0:r1, c0:c1], atol=1e-5, rtol=0)


def test_checkpoint_round_trip(ref_path: Path, tmp_path: Path) -> None:
    ck = torch.load(ref_path, weights_only=True)
    assert set(ck) >= {"model", "optimizer", "epoch"}
    assert ck["model"]["name"] == "lmlte" and ck["model"]["args"] == REFERENCE_ARGS
    assert len(ck["model"]["sd"]) == 100
    net = load_lmlte(ref_path)
    # Unknown args (the reference test.py adds cmsr_spec) are ignored.
    ck["model"]["args"]["cmsr_spec"] = {"mse_threshold": 2e-5}
    torch.save(ck, tmp_path / "with_spec.pth")
    again = load_lmlte(tmp_path / "with_spec.pth")
    out = checkpoint.save_checkpoint(tmp_path / "saved.pth", REFERENCE_ARGS, again.state_dict(), epoch=3)
    back = torch.load(out, weights_only=True)
    assert back["epoch"] == 3 and back["model"]["args"] == REFERENCE_ARGS
    assert list(back["model"]["sd"]) == list(ck["model"]["sd"])
    assert all(torch.equal(back["model"]["sd"][k], v) for k, v in net.state_dict().items())
    lr = torch.rand(1, 3, 12, 14)
    a = engine.load_model(ref_path).upscale(lr, (30, 33))
    b = engine.load_model(out).upscale(lr, (30, 33))
    assert torch.equal(a, b)


def test_bad_files_give_one_clear_error(tmp_path: Path, ref_path: Path) -> None:
    text = tmp_path / "notes.pth"
    text.write_text("not a checkpoint")
    with pytest.raises(ModelError, match="not a PyTorch checkpoint"):
        engine.load_model(text)
    other = tmp_path / "other.pth"
    torch.save({"weights": torch.zeros(3)}, other)
    with pytest.raises(ModelError, match="is not a checkpoint ArbSR can read"):
        engine.load_model(other)
    ck = torch.load(ref_path, weights_only=True)
    del ck["model"]["sd"]["coef.weight"]
    broken = tmp_path / "broken.pth"
    torch.save(ck, broken)
    with pytest.raises(ModelError, match="do not match its LMLTE args"):
        engine.load_model(broken)
    with pytest.raises(ModelError, match="not an LMF LMLTE checkpoint"):
        checkpoint.network_from_checkpoint({"model": {"name": "liif"}})


def test_input_checks(model) -> None:
    with pytest.raises(ParameterError, match="band"):
        model.upscale(torch.rand(1, 1, 8, 8), (16, 16))
    with pytest.raises(ParameterError):
        model.upscale(torch.rand(1, 3, 8, 8), (0, 16))
    # Unknown keyword arguments of other families are accepted and ignored.
    assert model.upscale(torch.rand(3, 8, 8), (9, 13), seed=3, steps=4).shape == (1, 3, 9, 13)


def test_autocast_precision_runs_close_to_float32(model) -> None:
    lr = torch.from_numpy(load_case("x2")["inp"])[None, :, :12, :16]
    ref = model.upscale(lr, (24, 32))
    bf = model.upscale(lr, (24, 32), precision="bfloat16")
    assert bf.dtype == torch.float32 and bf.shape == ref.shape
    assert (bf - ref).abs().mean() < 0.02
    with pytest.raises(ParameterError, match="precision"):
        model.upscale(lr, (24, 32), precision="int4")


def test_out_of_memory_halves_the_chunk(model, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    real = type(model)._render_rows

    def flaky(self, tables, ys, xs, cell, chunk):
        calls.append(chunk)
        if chunk > 5000:
            raise torch.OutOfMemoryError("simulated")
        return real(self, tables, ys, xs, cell, chunk)

    monkeypatch.setattr(type(model), "_render_rows", flaky)
    out = model.upscale(torch.rand(1, 3, 10, 10), (40, 40), chunk=20000)
    assert out.shape == (1, 3, 40, 40) and calls == [20000, 10000, 5000]


def test_default_model_is_a_one_band_lmlte() -> None:
    m = engine.load_model("lmlte-default")
    assert (m.family, m.in_channels, m.out_channels) == ("lmlte", 1, 1)
    assert m.supports_grid and m.halo > 0
    enc = m.module.encoder
    assert enc.n_colors == 1
    out = m.upscale(torch.rand(2, 1, 9, 11), (20, 17))
    assert out.shape == (2, 1, 20, 17)


def test_fixture_files_present() -> None:
    assert (DATA / "README.md").is_file() and (DATA / "state_dict_layouts.json").is_file()


def test_non_square_pixels_do_not_depend_on_the_axis_order(model) -> None:
    """At --scale-x != --scale-y the result is the mean of the direct and the transposed route,
    so transposing the input (and swapping the scales) transposes the output; the network's
    direct route alone does not have that symmetry. Square pixels keep the direct route."""
    torch.manual_seed(5)
    lr = torch.rand(1, 3, 11, 14)
    out = model.upscale(lr, (33, 21), clamp=False)
    out_t = model.upscale(lr.transpose(-1, -2), (21, 33), clamp=False).transpose(-1, -2)
    assert torch.allclose(out, out_t, atol=1e-6)
    direct = model.upscale(lr, (33, 21), clamp=False, axis_ensemble=False)
    direct_t = model.upscale(lr.transpose(-1, -2), (21, 33), clamp=False,
                             axis_ensemble=False).transpose(-1, -2)
    assert (direct - direct_t).abs().max() > 1e-3
    assert torch.allclose(out, (direct + direct_t) / 2, atol=1e-6)
    rows, cols = torch.arange(33) * (11 / 33) + 11 / 66, torch.arange(21) * (14 / 21) + 14 / 42
    grid = model.upscale_grid(lr, rows, cols, (11 / 33, 14 / 21), clamp=False)
    assert torch.allclose(grid, out, atol=1e-5)
    square = (22, 28)
    assert torch.equal(model.upscale(lr, square, clamp=False),
                       model.upscale(lr, square, clamp=False, axis_ensemble=False))


def test_self_ensemble_views_average_flips_and_transposes(model) -> None:
    """self_ensemble=4: the mean of the input, its 180° rotation, its transpose and the
    transposed rotation, each upscaled and mapped back; 8 views make the model equivariant
    to every flip and transpose; tiles rendered with views are seamless."""
    torch.manual_seed(7)
    lr = torch.rand(1, 3, 10, 13)
    size = (25, 33)  # x2.5 by x2.54: non-square pixels

    def mapped(t: int) -> torch.Tensor:
        x = lr.flip(-1, -2) if t & 3 else lr
        if t & 4:
            out = model.upscale(x.transpose(-1, -2), size[::-1], clamp=False,
                                axis_ensemble=False).transpose(-1, -2)
        else:
            out = model.upscale(x, size, clamp=False, axis_ensemble=False)
        return out.flip(-1, -2) if t & 3 else out

    want = sum(mapped(t) for t in (0, 3, 4, 7)) / 4
    got = model.upscale(lr, size, clamp=False, self_ensemble=4)
    assert torch.allclose(got, want, atol=1e-5)
    eight = model.upscale(lr, size, clamp=False, self_ensemble=8)
    flipped = model.upscale(lr.flip(-1), size, clamp=False, self_ensemble=8).flip(-1)
    assert torch.allclose(eight, flipped, atol=1e-5)
    rows = (torch.arange(25) + 0.5) * (10 / 25)
    cols = (torch.arange(33) + 0.5) * (13 / 33)
    window = model.upscale_grid(lr, rows[5:17], cols[9:30], (10 / 25, 13 / 33), clamp=False,
                                self_ensemble=4)
    assert torch.allclose(window, got[..., 5:17, 9:30], atol=1e-5)
    with pytest.raises(ParameterError, match="1, 2, 4 or 8"):
        model.upscale(lr, size, self_ensemble=3)


def test_rounded_output_sizes_count_as_square_pixels(model) -> None:
    # 41 x 60 at x2.5 -> 102 x 150 (102.5 rounded): pixels 0.5 % off square render one route,
    # as an exactly square job does; a per-axis request (x2.5 by x3) renders two.
    from engine.models.lmlte.coords import non_square_pixels

    assert not non_square_pixels(41, 60, (2 / 102, 2 / 150))
    assert non_square_pixels(41, 60, (2 / 102, 2 / 180))
    lr = torch.rand(1, 3, 41, 60)
    assert torch.equal(model.upscale(lr, (102, 150), clamp=False),
                       model.upscale(lr, (102, 150), clamp=False, axis_ensemble=False))
