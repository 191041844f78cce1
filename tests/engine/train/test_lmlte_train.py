"""LMLTE training: loss goes down, seeds reproduce, resume continues exactly, checkpoints load."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import engine
from engine.errors import ModelError, ParameterError
from engine.models.checkpoints import read_checkpoint
from engine.train import config as cfgmod
from engine.train import lmlte
from rasters import ROOT, smooth_image

TINY_MODEL = {
    "name": "lmlte",
    "args": {
        "encoder_spec": {"name": "edsr-baseline",
                         "args": {"no_upsampling": True, "n_resblocks": 1, "n_feats": 8,
                                  "n_colors": 1}},
        "imnet_spec": {"name": "lmmlp", "args": {"out_dim": 1, "hidden_dim": 8,
                                                 "hidden_depth": 2, "mod_scale": True,
                                                 "mod_shift": True}},
        "hypernet_spec": {"name": "mlp", "args": {"out_dim": 48, "hidden_list": [16]}},
        "hidden_dim": 8, "local_ensemble": True, "cell_decode": True, "mod_input": True,
    },
}


@pytest.fixture
def rasters(geotiff):
    a = (smooth_image(96, 96, 2, seed=4) * 3000 + 50).astype(np.uint16)
    b = (smooth_image(80, 90, 1, seed=5) * 200).astype(np.float32)
    return [str(geotiff(a, name="a.tif")), str(geotiff(b, name="b.tif"))]


def tiny_config(rasters, out, **over):
    layer = {"data": rasters, "out": str(out), "epochs": 2, "iters_per_epoch": 3,
             "batch_size": 2, "lr_patch": 8, "sample_q": 48, "val_patch": 8,
             "val_scales": [2.0, 3.0], "val_per_source": 1, "holdout": 0.3, "threads": 1,
             "lr": 1e-3, "model": TINY_MODEL, "device": "cpu"}
    layer.update(over)
    return cfgmod.merge(lmlte.DEFAULTS, layer)


def _sd(path):
    return read_checkpoint(path)["model"]["sd"]


def test_a_few_steps_lower_the_loss(rasters, tmp_path):
    # Same fixed batch: the L1 loss must drop after some Adam steps.
    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = lmlte.build_network(TINY_MODEL["args"])
    from engine.train.data import PairSampler, load_sources

    sampler = PairSampler(load_sources(rasters), lr_patch=8, seed=0)
    batch = lmlte.make_batch(sampler.batch(4), 64, np.random.default_rng(0), torch.device("cpu"))
    opt = torch.optim.Adam(model.parameters(), 3e-3)
    losses = []
    for _ in range(15):
        loss = (model(batch["inp"], batch["coord"], batch["cell"]) - batch["gt"]).abs().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.7 * losses[0]


def test_batch_matches_the_official_protocol(rasters):
    from engine.train.data import PairSampler, load_sources

    pairs = PairSampler(load_sources(rasters), lr_patch=8, seed=1).batch(3)
    b = lmlte.make_batch(pairs, 40, np.random.default_rng(0), torch.device("cpu"))
    assert b["inp"].shape == (3, 1, 8, 8) and b["coord"].shape == (3, 40, 2)
    assert b["gt"].shape == (3, 40, 1)
    torch.testing.assert_close(b["inp"][0], (pairs[0].lr - 0.5) / 0.5)
    for i, p in enumerate(pairs):
        hh, ww = p.hr.shape[-2:]
        assert torch.allclose(b["cell"][i, :, 0], torch.tensor(2 / hh))
        assert torch.allclose(b["cell"][i, :, 1], torch.tensor(2 / ww))
        # Each target is the HR pixel whose centre is the query coordinate.
        r = ((b["coord"][i, :, 0] + 1) * hh / 2 - 0.5).round().long()
        c = ((b["coord"][i, :, 1] + 1) * ww / 2 - 0.5).round().long()
        torch.testing.assert_close(b["gt"][i, :, 0], (p.hr[0, r, c] - 0.5) / 0.5)


def test_training_writes_official_layout_and_loads(rasters, tmp_path):
    events = []
    best = lmlte.train(tiny_config(rasters, tmp_path / "run"), events.append)
    assert best.name == "epoch-best.pth" and (tmp_path / "run" / "epoch-last.pth").is_file()
    ck = read_checkpoint(best)
    assert ck["model"]["name"] == "lmlte" and set(ck["model"]) >= {"name", "args", "sd"}
    assert ck["optimizer"]["name"] == "adam" and "sd" in ck["optimizer"]
    assert isinstance(ck["epoch"], int) and 1 <= ck["epoch"] <= 2
    assert ck["model"]["args"] == TINY_MODEL["args"]
    names = {getattr(e, "name", None) for e in events}
    assert {"train_loss", "val_psnr"} <= names
    assert any(getattr(e, "message", "").startswith("epoch 2/2") for e in events)
    # The official-style loader (strict) and the public API read it.
    from engine.models.lmlte.checkpoint import network_from_checkpoint

    network_from_checkpoint(ck)
    model = engine.load_model(str(best), device="cpu")
    out = model.upscale(torch.rand(1, 1, 10, 12), size=(25, 30))
    assert out.shape == (1, 1, 25, 30)
    # Shipped-weights export keeps the layout and drops resume state and Adam moments.
    slim = tmp_path / "slim.pth"
    lmlte.export_weights(best, slim)
    s = read_checkpoint(slim)
    assert "arbsr" not in s and s["optimizer"]["sd"]["state"] == {}
    assert all(torch.equal(s["model"]["sd"][k], v) for k, v in ck["model"]["sd"].items())


def test_training_batches_larger_than_an_inference_block(rasters, tmp_path, monkeypatch):
    # Inference renders the latent MLP in blocks of LR pixels written into one output; a
    # training batch above a block (the defaults: 16 x 48² LR pixels) must keep its graph.
    from engine.models.lmlte import network

    monkeypatch.setattr(network, "MOD_BLOCK", 2 * 30)  # the tiny batch is 2 x 8² pixels
    best = lmlte.train(tiny_config(rasters, tmp_path / "run", epochs=1), lambda e: None)
    assert read_checkpoint(best)["epoch"] == 1


def test_same_seed_same_weights(rasters, tmp_path):
    a = lmlte.train(tiny_config(rasters, tmp_path / "a", epochs=1), lambda e: None)
    b = lmlte.train(tiny_config(rasters, tmp_path / "b", epochs=1), lambda e: None)
    c = lmlte.train(tiny_config(rasters, tmp_path / "c", epochs=1, seed=3), lambda e: None)
    sa, sb, sc = _sd(a), _sd(b), _sd(c)
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert any(not torch.equal(sa[k], sc[k]) for k in sa)


def test_resume_continues_exactly(rasters, tmp_path):
    full = lmlte.train(tiny_config(rasters, tmp_path / "full"), lambda e: None)
    # Stop after epoch 1 (time limit), then resume the same run for epoch 2.
    lmlte.train(tiny_config(rasters, tmp_path / "part", time_limit_min=1e-9), lambda e: None)
    part_last = tmp_path / "part" / "epoch-last.pth"
    assert read_checkpoint(part_last)["epoch"] == 1
    lmlte.train(tiny_config(rasters, tmp_path / "part", resume=str(part_last)), lambda e: None)
    a = _sd(tmp_path / "full" / "epoch-last.pth")
    b = _sd(part_last)
    assert read_checkpoint(part_last)["epoch"] == 2
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert (full.parent / "epoch-last.pth").is_file()


def test_fine_tune_starts_from_given_weights(rasters, tmp_path):
    base = lmlte.train(tiny_config(rasters, tmp_path / "base", epochs=1), lambda e: None)
    tuned = lmlte.train(tiny_config(rasters, tmp_path / "tuned", epochs=1, init=str(base),
                                    lr=1e-12, lr_min=1e-12, model=None), lambda e: None)
    a, b = _sd(base), _sd(tuned)
    # A vanishing learning rate: fine-tuned weights stay at the initial ones.
    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)
    assert read_checkpoint(tuned)["epoch"] == 1


def test_bad_inputs_give_clear_errors(rasters, tmp_path):
    bogus = tmp_path / "x.pth"
    torch.save({"model": {"name": "liif", "args": {}, "sd": {}}}, bogus)
    with pytest.raises(ModelError, match="not an LMLTE checkpoint"):
        lmlte.train(tiny_config(rasters, tmp_path / "r", init=str(bogus)), lambda e: None)
    with pytest.raises(ParameterError, match="either --resume"):
        tiny_config(rasters, tmp_path / "r", init="a", resume="b")
    with pytest.raises(ParameterError, match="channels"):
        lmlte.train(tiny_config(rasters, tmp_path / "r", channels=3), lambda e: None)


def test_bfloat16_training_keeps_float32_weights(rasters, tmp_path):
    # Autocast covers the forward pass only: the weights, their gradients and Adam's moments
    # stay float32, and the steps follow the float32 run closely without equalling it.
    ref = lmlte.train(tiny_config(rasters, tmp_path / "f32", epochs=1), lambda e: None)
    bf = lmlte.train(tiny_config(rasters, tmp_path / "bf16", epochs=1, precision="bfloat16"),
                     lambda e: None)
    a, b = _sd(ref), _sd(bf)
    assert all(b[k].dtype == a[k].dtype for k in a)
    assert any(not torch.equal(a[k], b[k]) for k in a)
    assert all(torch.allclose(a[k], b[k], atol=0.02) for k in a)
    assert read_checkpoint(bf)["arbsr"]["config"]["precision"] == "bfloat16"
    with pytest.raises(ParameterError, match="float16 would need loss scaling"):
        lmlte.train(tiny_config(rasters, tmp_path / "f16", precision="float16"), lambda e: None)


def test_cli_precision_flag_is_for_lmlte_only():
    import argparse

    from engine.commands import train as train_cmd

    parser = argparse.ArgumentParser()
    train_cmd.add_arguments(parser)
    args = parser.parse_args(["--family", "lmlte", "--data", "a.tif", "--precision", "bfloat16"])
    assert train_cmd.build_config(args)["precision"] == "bfloat16"
    args = parser.parse_args(["--family", "ldcsr", "--data", "a.tif", "--precision", "bfloat16"])
    with pytest.raises(ParameterError, match="not supported by the ldcsr trainer"):
        train_cmd.build_config(args)


def test_learning_rate_schedule():
    cfg = cfgmod.merge({}, {"lr": 1e-3, "lr_min": 0.0, "warmup_iters": 10})
    assert cfgmod.learning_rate(cfg, 0, 100) == pytest.approx(1e-4)
    assert cfgmod.learning_rate(cfg, 10, 100) == pytest.approx(1e-3)
    assert cfgmod.learning_rate(cfg, 55, 100) == pytest.approx(5e-4)
    assert cfgmod.learning_rate(cfg, 100, 100) == pytest.approx(0.0, abs=1e-12)


@pytest.mark.slow
def test_cli_trains_and_reports_json(rasters, tmp_path):
    cfg = tmp_path / "tiny.yaml"
    import yaml

    cfg.write_text(yaml.safe_dump({"model": TINY_MODEL, "iters_per_epoch": 2, "batch_size": 2,
                                   "lr_patch": 8, "sample_q": 32, "val_patch": 8,
                                   "val_scales": [2.0], "val_per_source": 1, "holdout": 0.3}))
    out = tmp_path / "cli"
    proc = subprocess.run(
        [sys.executable, "-m", "engine", "train", "--family", "lmlte", "--data", *rasters,
         "--out", str(out), "--config", str(cfg), "--epochs", "1", "--seed", "2",
         "--device", "cpu", "--threads", "1", "--progress", "json"],
        cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    events = [json.loads(line) for line in proc.stdout.splitlines()]
    assert events[-1]["event"] == "done" and Path(events[-1]["output"]).is_file()
    assert any(e["event"] == "metric" and e["name"] == "val_psnr" for e in events)
    bad = subprocess.run(
        [sys.executable, "-m", "engine", "train", "--family", "lmlte", "--data",
         str(tmp_path / "missing.tif"), "--out", str(out), "--progress", "none"],
        cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "does not exist" in bad.stderr


def test_per_axis_training_uses_the_inference_cell_convention(rasters, tmp_path):
    # Rows first everywhere: a per-axis pair's batch cell is (2/H, 2/W) and the training render
    # equals the API's (the one the pipeline and the official parity fixtures use) on a
    # non-square scale, so per-axis training teaches what inference asks.
    from engine.train.data import PairSampler, load_sources

    pairs = PairSampler(load_sources(rasters), lr_patch=8, per_axis=1.0, seed=2).batch(4)
    b = lmlte.make_batch(pairs, 40, np.random.default_rng(0), torch.device("cpu"))
    assert any(p.scale[0] != p.scale[1] for p in pairs)
    for i, p in enumerate(pairs):
        assert torch.allclose(b["cell"][i, 0], torch.tensor([2 / p.hr.shape[-2],
                                                             2 / p.hr.shape[-1]]))
    best = lmlte.train(tiny_config(rasters, tmp_path / "run", per_axis=0.5,
                                   val_scales=[2.0, [1.5, 3.0]]))
    ck = read_checkpoint(best)
    hist = ck["arbsr"]["history"][-1]
    assert "psnr_x1.5_3" in hist and "psnr_x2" in hist
    model = engine.load_model(str(best), device="cpu")
    lr = pairs[0].lr
    # The network's direct route (inference adds the transposed route's mean on top of it).
    torch.testing.assert_close(lmlte.predict(model.module, lr, (12, 32)).clamp(0, 1),
                               model.upscale(lr[None], (12, 32), axis_ensemble=False)[0],
                               atol=1e-6, rtol=0)


def test_cli_per_axis_flag():
    import argparse

    from engine.commands import train as train_cmd

    p = argparse.ArgumentParser()
    train_cmd.add_arguments(p)
    assert p.parse_args(["--per-axis"]).per_axis == 0.5
    assert p.parse_args(["--per-axis", "1"]).per_axis == 1.0
    assert p.parse_args([]).per_axis is None
    with pytest.raises(ParameterError, match="per_axis"):
        cfgmod.merge(lmlte.DEFAULTS, {"per_axis": 2.0})


def test_cli_resume_without_config_continues_with_the_runs_settings(rasters, tmp_path):
    # `engine train --resume epoch-last.pth` alone must go on with the run's data, epochs and
    # schedule, not with the family defaults (10 epochs would silently change the cosine).
    import argparse

    from engine.commands import train as train_cmd

    lmlte.train(tiny_config(rasters, tmp_path / "run", epochs=1, iters_per_epoch=2))
    p = argparse.ArgumentParser()
    train_cmd.add_arguments(p)
    cfg = train_cmd.build_config(p.parse_args(["--resume", str(tmp_path / "run" / "epoch-last.pth"),
                                               "--epochs", "3"]))
    assert cfg["data"] == list(rasters) and cfg["iters_per_epoch"] == 2
    assert cfg["epochs"] == 3 and cfg["lr_patch"] == 8 and cfg["init"] is None
    assert cfg["model"]["args"] == TINY_MODEL["args"]
