"""MoE-DiffSR: shapes, sparse routing, balance loss, reproducible sampling, training signal."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from engine.errors import ModelError, ParameterError
from engine.models.moe import checkpoint
from engine.models.moe.network import MoEBlock, MoEDiffSRNet
from engine.models.moe import experts
from engine.models.moe.experts import ConvExpert, SparseMoE
from engine.models.moe.router import PatchRouter, Routing, balance_loss, z_loss
from engine.schedulers.ddim import DDIMScheduler

TINY = dict(channels=(8, 16), lr_channels=8, lr_blocks=1, temb_dim=16, num_experts=4,
            top_k=2, patch=4, halo=2)


pytestmark = pytest.mark.usefixtures("one_thread")


def tiny_net(seed: int = 0, **kw: object) -> MoEDiffSRNet:
    torch.manual_seed(seed)
    net = MoEDiffSRNet(**{**TINY, **kw})  # type: ignore[arg-type]
    # Non-zero output layers so that the network is not the identity at initialisation.
    for m in net.modules():
        if isinstance(m, ConvExpert):
            torch.nn.init.normal_(m.conv2.weight, std=0.05)
    torch.nn.init.normal_(net.out.weight, std=0.05)
    return net.eval()


def tiny_model(seed: int = 0) -> checkpoint.MoEModel:
    ck = checkpoint.make_checkpoint(tiny_net(seed))
    return checkpoint.load(ck, name="tiny", device=torch.device("cpu"), options={"steps": 3})


@pytest.mark.parametrize("lr_hw,out_hw", [((10, 12), (25, 30)), ((7, 7), (7, 7)),
                                          ((16, 16), (64, 64)), ((5, 9), (37, 11)),
                                          ((9, 8), (17, 29)), ((3, 3), (24, 24))])
def test_network_output_shape_any_size(lr_hw: tuple[int, int], out_hw: tuple[int, int]) -> None:
    net = tiny_net()
    lr = torch.rand(2, 1, *lr_hw) * 2 - 1
    up = F.interpolate(lr, size=out_hw, mode="bicubic", align_corners=False)
    y = net(torch.randn(2, 1, *out_hw), torch.tensor([3, 800]), up, lr, torch.tensor([2.0, 2.0]))
    assert y.shape == (2, 1, *out_hw)
    assert torch.isfinite(y).all()


@pytest.mark.parametrize("size", [(23, 23), (40, 17), (36, 36)])
def test_upscale_exact_size_range_and_bands(size: tuple[int, int]) -> None:
    model = tiny_model()
    lr = torch.rand(1, 3, 12, 10)
    out = model.upscale(lr, size, steps=2, seed=1)
    assert out.shape == (1, 3, *size) and out.dtype == torch.float32
    assert float(out.min()) >= 0 and float(out.max()) <= 1
    raw = model.upscale(lr, size, steps=2, seed=1, clamp=False)
    torch.testing.assert_close(raw.clamp(0, 1), out)


def test_upscale_is_band_wise() -> None:
    """Each band is super-resolved on its own: changing band 1 leaves band 0 unchanged."""
    model = tiny_model()
    lr = torch.rand(1, 2, 8, 8)
    other = lr.clone()
    other[:, 1] = torch.rand(8, 8)
    a = model.upscale(lr, (20, 20), steps=2, seed=5)
    b = model.upscale(other, (20, 20), steps=2, seed=5)
    torch.testing.assert_close(a[:, 0], b[:, 0], rtol=0, atol=1e-6)
    assert not torch.allclose(a[:, 1], b[:, 1])


def test_sampler_reproducible_and_seed_dependent() -> None:
    model = tiny_model()
    lr = torch.rand(1, 1, 9, 11)
    a = model.upscale(lr, (23, 29), seed=7)
    b = model.upscale(lr, (23, 29), seed=7)
    c = model.upscale(lr, (23, 29), seed=8)
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    model2 = tiny_model()  # a fresh load of the same weights gives the same pixels
    assert torch.equal(a, model2.upscale(lr, (23, 29), seed=7))


def test_steps_and_size_validation() -> None:
    model = tiny_model()
    with pytest.raises(ParameterError):
        model.upscale(torch.rand(1, 1, 4, 4), (8, 8), steps=0)
    with pytest.raises(ParameterError):
        model.upscale(torch.rand(1, 1, 4, 4), (0, 8))
    with pytest.raises(ParameterError):
        model.upscale(torch.rand(1, 4, 4), (8, 8))


def test_steps_change_the_result() -> None:
    model = tiny_model()
    lr = torch.rand(1, 1, 8, 8)
    assert not torch.equal(model.upscale(lr, (16, 16), steps=2), model.upscale(lr, (16, 16),
                                                                              steps=4))


def _forced_routing(n: int, experts: list[int], e_total: int, grid: tuple[int, int, int],
                    gates: tuple[float, float] = (0.75, 0.25)) -> Routing:
    idx = torch.tensor([experts] * n)
    g = torch.tensor([list(gates)] * n)
    logits = torch.zeros(n, e_total)
    return Routing(logits, logits.softmax(1), idx, g, grid)


def test_unselected_experts_are_never_called() -> None:
    torch.manual_seed(0)
    moe = SparseMoE(channels=8, temb_dim=16, num_experts=6, patch=4, halo=2)
    calls: dict[int, list[int]] = {e: [] for e in range(6)}
    for e, expert in enumerate(moe.experts):
        expert.register_forward_hook(lambda _m, inp, _o, e=e: calls[e].append(inp[0].shape[0]))
    h, temb = torch.randn(2, 8, 12, 16), torch.randn(2, 16)
    n = 2 * 3 * 4
    # Half of the patches go to experts (1, 4), the other half to (4, 2).
    idx = torch.tensor([[1, 4]] * (n // 2) + [[4, 2]] * (n // 2))
    gates = torch.full((n, 2), 0.5)
    routing = Routing(torch.zeros(n, 6), torch.full((n, 6), 1 / 6), idx, gates, (2, 3, 4))
    y = moe(h, temb, routing)
    assert y.shape == h.shape
    assert calls[0] == [] and calls[3] == [] and calls[5] == []
    assert calls[1] == [n // 2] and calls[2] == [n // 2] and calls[4] == [n]


@pytest.mark.parametrize("chunk", [128, 2])
def test_sparse_dispatch_equals_dense_reference(chunk: int, monkeypatch: pytest.MonkeyPatch
                                                ) -> None:
    """Gather/scatter gives what running every expert on every halo'd patch and mixing gives,
    also when an expert's patches are dispatched in several chunks."""
    monkeypatch.setattr(experts, "DISPATCH_CHUNK", chunk)
    torch.manual_seed(1)
    c, p, r, e = 4, 4, 2, 3
    moe = SparseMoE(channels=c, temb_dim=8, num_experts=e, patch=p, halo=r)
    for ex in moe.experts:
        torch.nn.init.normal_(ex.conv2.weight, std=0.2)
    h, temb = torch.randn(2, c, 8, 12), torch.randn(2, 8)
    n = 2 * 2 * 3
    g = torch.Generator().manual_seed(2)
    idx = torch.stack([torch.randperm(e, generator=g)[:2] for _ in range(n)])
    gates = torch.rand(n, 2, generator=g)
    gates = gates / gates.sum(1, keepdim=True)
    routing = Routing(torch.zeros(n, e), torch.full((n, e), 1 / e), idx, gates, (2, 2, 3))
    y = moe(h, temb, routing)
    padded = F.pad(h, (r, r, r, r))
    ref = torch.zeros_like(h)
    k = 0
    for b in range(2):
        for i in range(2):
            for j in range(3):
                patch = padded[b:b + 1, :, i * p:i * p + p + 2 * r, j * p:j * p + p + 2 * r]
                acc = 0
                for slot in range(2):
                    out = moe.experts[int(idx[k, slot])](patch, temb[b:b + 1])
                    acc = acc + gates[k, slot] * out[:, :, r:r + p, r:r + p]
                ref[b:b + 1, :, i * p:(i + 1) * p, j * p:(j + 1) * p] = acc
                k += 1
    torch.testing.assert_close(y, ref, atol=1e-5, rtol=1e-5)


def test_block_takes_its_input_in_parts_as_if_concatenated() -> None:
    """The decoder hands a block its features and skip apart; the projection equals the one of
    their concatenation (which is never made), forward and backward."""
    torch.manual_seed(3)
    block = MoEBlock(in_channels=12, out_channels=8, lr_channels=4, temb_dim=16,
                     num_experts=3, top_k=2, patch=4, halo=2)
    a = torch.randn(2, 8, 8, 12, requires_grad=True)
    b, f, temb = torch.randn(2, 4, 8, 12), torch.randn(2, 4, 8, 12), torch.randn(2, 16)
    whole = block(torch.cat([a, b], 1), f, temb)
    (ga,) = torch.autograd.grad(whole.square().sum(), a)
    parts = block((a, b), f, temb)
    (gp,) = torch.autograd.grad(parts.square().sum(), a)
    torch.testing.assert_close(parts, whole, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(gp, ga, atol=1e-5, rtol=1e-5)


def test_router_top_k_selection() -> None:
    torch.manual_seed(0)
    router = PatchRouter(channels=8, lr_channels=4, temb_dim=16, num_experts=8, top_k=2, patch=4)
    torch.nn.init.normal_(router.out.weight, std=1.0)
    rt = router(torch.randn(2, 8, 8, 12), torch.randn(2, 4, 8, 12), torch.randn(2, 16))
    assert rt.grid == (2, 2, 3) and rt.experts.shape == (12, 2) and rt.gates.shape == (12, 2)
    torch.testing.assert_close(rt.gates.sum(1), torch.ones(12))
    assert (rt.experts[:, 0] != rt.experts[:, 1]).all()
    assert torch.equal(rt.experts, rt.probs.topk(2, dim=1).indices)
    assert int(rt.counts().sum()) == 24
    with pytest.raises(ValueError):
        PatchRouter(channels=8, lr_channels=4, temb_dim=16, num_experts=2, top_k=3)


def test_router_sees_timestep_and_lr_features() -> None:
    torch.manual_seed(0)
    router = PatchRouter(channels=8, lr_channels=4, temb_dim=16, num_experts=8, patch=4)
    torch.nn.init.normal_(router.out.weight, std=1.0)
    h, f, t = torch.randn(1, 8, 8, 8), torch.randn(1, 4, 8, 8), torch.randn(1, 16)
    base = router(h, f, t).logits
    assert not torch.allclose(base, router(h, f, t + 1).logits)
    assert not torch.allclose(base, router(h, f + 1, t).logits)


def test_experts_receive_the_timestep() -> None:
    torch.manual_seed(0)
    ex = ConvExpert(channels=8, temb_dim=16)
    torch.nn.init.normal_(ex.conv2.weight, std=0.1)
    x = torch.randn(3, 8, 8, 8)
    assert not torch.allclose(ex(x, torch.zeros(3, 16)), ex(x, torch.ones(3, 16)))


def test_balance_loss_on_crafted_batches() -> None:
    e, n = 8, 64
    uniform = torch.full((n, e), 1 / e)
    spread = torch.stack([torch.arange(n) % e, (torch.arange(n) + 1) % e], 1)
    assert balance_loss(uniform, spread).item() == pytest.approx(1.0)
    collapsed = torch.zeros(n, e)
    collapsed[:, 0], collapsed[:, 1] = 0.9, 0.1
    to_two = torch.tensor([[0, 1]] * n)
    # f = (0.5, 0.5), P = (0.9, 0.1): E * (0.45 + 0.05) = 4.
    assert balance_loss(collapsed, to_two).item() == pytest.approx(e * 0.5)
    # Per-patch specialisation with a balanced batch is not penalised: each patch is sure of its
    # expert, but the batch uses all of them equally.
    sure = F.one_hot(torch.arange(n) % e, e).float() * 0.9 + 0.1 / e
    assert balance_loss(sure, spread).item() == pytest.approx(1.0, abs=0.15)
    # The gradient pushes probability away from the overloaded expert.
    logits = torch.zeros(n, e, requires_grad=True)
    balance_loss(logits.softmax(1), to_two).backward()
    assert logits.grad[:, 0].mean() > 0 > logits.grad[:, 2].mean()


def test_z_loss() -> None:
    small, big = torch.zeros(4, 8), torch.full((4, 8), 10.0)
    assert z_loss(small).item() == pytest.approx(np.log(8) ** 2, rel=1e-5)
    assert z_loss(big) > z_loss(small)


def test_aux_losses_and_usage_logged() -> None:
    net = tiny_net()
    lr = torch.rand(2, 1, 8, 8)
    net(torch.randn(2, 1, 16, 16), torch.tensor([1, 2]), F.interpolate(lr, size=(16, 16)), lr,
        torch.tensor([2.0, 2.0]))
    aux = net.aux_losses()
    assert set(aux) == {"balance", "z"} and float(aux["balance"].detach()) >= 1.0 - 1e-6
    usage = net.expert_usage()
    assert usage.shape == (len(net.moe_blocks()), 4)
    torch.testing.assert_close(usage.sum(1), torch.ones(len(net.moe_blocks())))


def test_tiny_overfit_loss_falls() -> None:
    from engine.train.moe import Batch, diffusion_loss

    torch.manual_seed(0)
    net = MoEDiffSRNet(**TINY).train()  # type: ignore[arg-type]
    sched = DDIMScheduler()
    g = torch.Generator().manual_seed(0)
    yy, xx = torch.meshgrid(torch.linspace(0, 6, 24), torch.linspace(0, 6, 24), indexing="ij")
    hr = (torch.sin(3 * xx) * torch.cos(2 * yy))[None, None].repeat(2, 1, 1, 1) * 0.8
    lr = F.interpolate(hr, size=(12, 12), mode="bicubic", align_corners=False, antialias=True)
    valid = torch.ones(2, 1, 24, 24)
    up = F.interpolate(lr, size=(24, 24), mode="bicubic", align_corners=False)
    batch = Batch(hr, lr, up, valid)
    t = torch.tensor([300, 600])
    noise = torch.randn(hr.shape, generator=g)
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    losses = []
    for _ in range(30):
        mse, aux = diffusion_loss(net, sched, batch, t, noise)
        loss = mse + 0.01 * aux["balance"] + 1e-3 * aux["z"]
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(mse.detach()))
    assert losses[-1] < 0.5 * losses[0]


def test_checkpoint_round_trip_and_detection(tmp_path: Path) -> None:
    import engine

    net = tiny_net(3)
    ck = checkpoint.make_checkpoint(net, DDIMScheduler(prediction_type="v"), step=5)
    assert checkpoint.detect(ck)
    assert not checkpoint.detect({"model": {"name": "lmlte", "args": {}, "sd": {}}})
    assert not checkpoint.detect({"state_dict": {}})
    path = tmp_path / "moe.pth"
    torch.save(ck, path)
    model = engine.load_model(str(path), device="cpu")
    assert model.family == "moe" and model.stochastic and model.in_channels == 1
    assert model.scale_range == (1.0, 8.0) and model.halo > 0
    assert model.module.args == net.args  # type: ignore[union-attr]
    for k, v in net.state_dict().items():
        assert torch.equal(model.module.state_dict()[k], v)


def test_mismatched_weights_raise_model_error() -> None:
    ck = checkpoint.make_checkpoint(tiny_net())
    ck["model"]["args"]["channels"] = [8, 24]
    with pytest.raises(ModelError, match="does not match"):
        checkpoint.load(ck, name="bad", device=torch.device("cpu"))


def test_train_smoke_on_a_raster(tmp_path: Path, geotiff) -> None:  # type: ignore[no-untyped-def]
    from engine.train.moe import train
    from rasters import smooth_image

    data = (smooth_image(96, 96, bands=2, seed=4) * 1000).astype("uint16")
    src = geotiff(data)
    cfg = {"data": [str(src)], "out": str(tmp_path / "run"), "lr_patch": 12, "batch_size": 2,
           "epochs": 2, "iters_per_epoch": 2, "val_patch": 12, "val_per_source": 1,
           "holdout": 0.3, "scale_min": 1.5, "scale_max": 2.5, "device": "cpu",
           "model": {k: list(v) if isinstance(v, tuple) else v for k, v in TINY.items()}}
    best = train(cfg)
    assert best.is_file() and (tmp_path / "run" / "moe-last.pth").is_file()
    history = json.loads((tmp_path / "run" / "history.json").read_text())
    assert [h["step"] for h in history] == [2, 4]
    assert len(history[0]["usage"]) == len(TINY["channels"]) * 2 + 1  # type: ignore[arg-type]
    model = checkpoint.load(torch.load(best, weights_only=True), name="b",
                         device=torch.device("cpu"))
    assert model.upscale(torch.rand(1, 1, 6, 6), (13, 13), steps=2).shape == (1, 1, 13, 13)


def test_refiner_training_embeds_the_base_and_resumes_exactly(
        tmp_path: Path, geotiff) -> None:  # type: ignore[no-untyped-def]
    """A refiner run over lmlte-default, interrupted and resumed, equals the uninterrupted run."""
    import engine
    from engine.train.moe import train
    from rasters import smooth_image

    src = geotiff((smooth_image(96, 96, bands=2, seed=4) * 1000).astype("uint16"))
    cfg = {"data": [str(src)], "lr_patch": 12, "batch_size": 2, "epochs": 2,
           "iters_per_epoch": 2, "val_patch": 12, "val_per_source": 1, "holdout": 0.3,
           "scale_min": 1.5, "scale_max": 2.5, "per_axis": 0.5, "device": "cpu",
           "base": "lmlte-default", "val_steps": 2,
           "model": {k: list(v) if isinstance(v, tuple) else v for k, v in TINY.items()}}
    whole = train({**cfg, "out": str(tmp_path / "whole")})
    train({**cfg, "out": str(tmp_path / "part"), "epochs": 1})
    resumed = train({**cfg, "out": str(tmp_path / "part"),
                     "resume": str(tmp_path / "part" / "moe-state.pth")})
    a = torch.load(tmp_path / "whole" / "moe-last.pth", weights_only=True)
    b = torch.load(tmp_path / "part" / "moe-last.pth", weights_only=True)
    for k, v in a["model"]["sd"].items():
        assert torch.equal(b["model"]["sd"][k], v), k
    history = json.loads((tmp_path / "part" / "history.json").read_text())
    assert [h["step"] for h in history] == [2, 4]
    assert "val_psnr_t0" in history[-1] and "val_psnr_base" in history[-1]
    # The base travels inside the checkpoint and is what the sampler refines.
    ck = torch.load(whole, weights_only=True)
    assert ck["base"]["family"] == "lmlte"
    model = checkpoint.load(ck, name="r", device=torch.device("cpu"))
    assert model.base is not None and model.base.family == "lmlte"
    base = engine.load_model("lmlte-default", device="cpu")
    lr = torch.rand(1, 1, 10, 10)
    # The zero-initialised output layer was trained only 4 steps: the refiner at temperature 0
    # stays within a small distance of its base.
    ref = base.upscale(lr, (17, 23), clamp=False)
    out = model.upscale(lr, (17, 23), clamp=False, steps=2, temperature=0.0)
    assert out.shape == (1, 1, 17, 23) and float((out - ref).abs().max()) < 0.05
    assert resumed == tmp_path / "part" / "moe-best.pth"


def test_temperature_zero_is_deterministic_and_seeds_reproduce() -> None:
    model = tiny_model()
    lr = torch.rand(1, 1, 9, 7)
    t0 = [model.upscale(lr, (20, 15), seed=s, temperature=0.0) for s in (0, 1, 2)]
    assert torch.equal(t0[0], t0[1]) and torch.equal(t0[0], t0[2])
    hot = [model.upscale(lr, (20, 15), seed=s, temperature=1.0) for s in (5, 5, 6)]
    assert torch.equal(hot[0], hot[1]) and not torch.equal(hot[0], hot[2])
    # Temperature scales the noise: half way, the sample lies between the two.
    half = model.upscale(lr, (20, 15), seed=5, temperature=0.5)
    assert float((half - t0[0]).abs().mean()) < float((hot[0] - t0[0]).abs().mean())
    with pytest.raises(ParameterError, match="temperature"):
        model.upscale(lr, (20, 15), temperature=1.5)


@pytest.mark.slow
def test_train_and_upscale_through_the_cli(tmp_path: Path,
                                           geotiff) -> None:  # type: ignore[no-untyped-def]
    """python -m engine train --family moe, then upscale a raster at a fractional scale."""
    from rasters import ROOT, smooth_image

    src = geotiff((smooth_image(80, 80, seed=2) * 4000).astype("uint16"))
    cfg = tmp_path / "tiny.yaml"
    cfg.write_text(json.dumps({"family": "moe", "model": {k: list(v) if isinstance(v, tuple)
                                                          else v for k, v in TINY.items()}}))
    env = {"PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"}
    run = subprocess.run([sys.executable, "-m", "engine", "train", "--config", str(cfg),
                          "--data", str(src), "--out", str(tmp_path / "run"), "--epochs", "1",
                          "--iters-per-epoch", "2", "--batch-size", "2", "--patch", "12",
                          "--threads", "1", "--device", "cpu", "--progress", "json"],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    done = json.loads(run.stdout.strip().splitlines()[-1])
    assert done["event"] == "done" and Path(done["output"]).is_file()
    out = tmp_path / "up.tif"
    args = [sys.executable, "-m", "engine", "upscale", str(src), str(out), "--scale", "1.7",
            "--model", done["output"], "--steps", "2", "--seed", "3", "--device", "cpu",
            "--progress", "json"]
    first = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert first.returncode == 0, first.stderr
    from osgeo import gdal

    ds = gdal.Open(str(out))
    assert (ds.RasterXSize, ds.RasterYSize) == (136, 136)
    a = ds.ReadAsArray()
    ds = None
    again = subprocess.run(args + ["--overwrite"], cwd=ROOT, env=env, capture_output=True,
                           text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    assert np.array_equal(gdal.Open(str(out)).ReadAsArray(), a)  # same seed, same pixels


def test_bundled_weights_load_and_sample() -> None:
    """The registered demonstration model: band-wise, exact fractional size, seeded."""
    import engine

    model = engine.load_model("moe", device="cpu")
    assert model.family == "moe" and model.options["steps"] == 8
    assert model.base is not None and model.base.family == "lmlte"  # the v2 refiner
    lr = torch.rand(1, 2, 8, 9, generator=torch.Generator().manual_seed(0))
    a = model.upscale(lr, (13, 20), steps=2, seed=4)
    assert a.shape == (1, 2, 13, 20)
    assert torch.equal(a, model.upscale(lr, (13, 20), steps=2, seed=4))
    # The residual is small next to the image: the result stays close to bicubic.
    up = F.interpolate(lr, size=(13, 20), mode="bicubic", align_corners=False).clamp(0, 1)
    assert float((a - up).abs().mean()) < 0.1


@pytest.mark.slow
def test_bundled_refiner_keeps_its_card_promises_on_held_out_worldview2() -> None:
    """On the card's WorldView-2 protocol at x2 (12 band images): temperature 0 scores as
    lmlte-default, the card's temperature within 1 dB of it and sharper (GMR closer to 1)."""
    import engine
    from engine.bench.common import wv2_single_band_pairs
    from engine.metrics.psnr import psnr
    from engine.metrics.sharpness import gradient_ratio

    moe, lmlte = engine.load_model("moe"), engine.load_model("lmlte-default")
    scores: dict[str, list[tuple[float, float]]] = {"base": [], "t0": [], "card": []}
    for _scale, hr, lr in wv2_single_band_pairs((2,)):
        with torch.no_grad():
            outs = {"base": lmlte.upscale(lr, hr.shape),
                    "t0": moe.upscale(lr, hr.shape, temperature=0.0),
                    "card": moe.upscale(lr, hr.shape)}
        ref = np.clip(hr, 0, 1)
        for k, out in outs.items():
            x = out[0, 0].double().numpy()
            scores[k].append((psnr(x, ref, shave=2),
                              gradient_ratio(x[2:-2, 2:-2], ref[2:-2, 2:-2])))
    mean = {k: np.mean(v, axis=0) for k, v in scores.items()}
    assert mean["t0"][0] >= mean["base"][0] - 0.2, mean
    assert mean["card"][0] >= mean["base"][0] - 1.0, mean
    assert abs(1 - mean["card"][1]) < abs(1 - mean["base"][1]), mean
