"""Detection, loading and the SRModel behaviour of the LDCSR family."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from ldcsr_helpers import DATA, arr, official_checkpoint

from engine.errors import ModelError, ParameterError
from engine.models.ldcsr import checkpoint


@pytest.fixture(scope="module")
def ckpt_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("ldcsr") / "reduced.ckpt"
    torch.save(official_checkpoint(), path)
    return path


@pytest.fixture(scope="module")
def model(ckpt_path):
    import engine

    torch.set_num_threads(1)
    return engine.load_model(str(ckpt_path), device="cpu",
                             config=str(DATA / "reduced_second_stage.yaml"))


def test_detect_layouts():
    ck = official_checkpoint()
    assert checkpoint.detect(ck) and checkpoint.is_stage2(ck)
    s1 = torch.load(DATA / "reduced_seed0_first_stage.ckpt", weights_only=True)
    assert checkpoint.detect(s1) and checkpoint.is_stage1(s1) and not checkpoint.is_stage2(s1)
    assert not checkpoint.detect({"model": {"name": "lmlte", "args": {}, "sd": {}}})
    assert not checkpoint.detect({"state_dict": {"encoder.conv_in.weight": torch.zeros(1)}})


def test_official_checkpoint_loads_through_registry(model):
    assert model.family == "ldcsr"
    assert (model.in_channels, model.out_channels) == (3, 3)
    assert model.stochastic and model.halo > 0
    assert model.options.get("mode", "sample") == "sample"


def test_stage1_checkpoint_gives_actionable_error(tmp_path):
    import engine

    path = tmp_path / "s1.ckpt"
    torch.save(torch.load(DATA / "reduced_seed0_first_stage.ckpt", weights_only=True), path)
    with pytest.raises(ModelError, match="stage-1"):
        engine.load_model(str(path), config=str(DATA / "reduced_first_stage.yaml"))


def test_reduced_checkpoint_without_config_asks_for_yaml(ckpt_path):
    import engine

    with pytest.raises(ModelError, match="--config"):
        engine.load_model(str(ckpt_path))


def test_fast_mode_matches_fixture_in_01_range(model):
    z = np.load(DATA / "cond_srkd_x2.0.npz")
    out = model.upscale(arr(z["lr"]) * 0.5 + 0.5, (40, 40), mode="fast")
    assert out.shape == (1, 3, 40, 40)
    assert float((out - arr(z["sr_kd01"])).abs().max()) < 1e-4


def test_sample_mode_seeded_and_exact_size(model):
    z = np.load(DATA / "sample_x3.0.npz")
    lr = arr(z["lr01"])
    a = model.upscale(lr, (72, 71), seed=5)
    b = model.upscale(lr, (72, 71), seed=5)
    c = model.upscale(lr, (72, 71), seed=6)
    assert a.shape == (1, 3, 72, 71)
    assert torch.equal(a, b)
    assert float((a - c).abs().max()) > 0
    assert 0.0 <= float(a.min()) and float(a.max()) <= 1.0
    raw = model.upscale(lr, (72, 71), seed=5, clamp=False)
    assert torch.allclose(raw.clamp(0, 1), a)


def test_steps_and_mode_arguments(model):
    lr = torch.rand(1, 3, 24, 24, generator=torch.Generator().manual_seed(0))
    one = model.upscale(lr, (96, 96), seed=1, steps=1)
    four = model.upscale(lr, (96, 96), seed=1, steps=4)
    assert one.shape == four.shape and not torch.equal(one, four)
    fast1 = model.upscale(lr, (96, 96), mode="fast", seed=1)
    fast2 = model.upscale(lr, (96, 96), mode="fast", seed=2)
    assert torch.equal(fast1, fast2)
    with pytest.raises(ParameterError):
        model.upscale(lr, (96, 96), steps=5)
    with pytest.raises(ParameterError):
        model.upscale(lr, (96, 96), mode="ddim")


def test_small_outputs_are_padded_internally(model):
    lr = torch.rand(2, 3, 5, 7, generator=torch.Generator().manual_seed(1))
    out = model.upscale(lr, (13, 17), seed=0)
    assert out.shape == (2, 3, 13, 17)
    assert torch.isfinite(out).all()


def test_embedded_config_round_trip(tmp_path, model):
    """Our own checkpoints embed their config and reload without a YAML, identically."""
    import engine

    net = model.module
    ema = {k: v.detach().clone() for k, v in net.unet.named_parameters()}
    path = tmp_path / "ours.ckpt"
    torch.save({"state_dict": checkpoint.to_lightning_state_dict(net, ema),
                checkpoint.CONFIG_KEY: net.config.to_yaml_dict()}, path)
    again = engine.load_model(str(path), device="cpu", mode="fast")
    lr = torch.rand(1, 3, 20, 20, generator=torch.Generator().manual_seed(2))
    assert torch.equal(again.upscale(lr, (50, 50)), model.upscale(lr, (50, 50), mode="fast"))
    assert not again.stochastic


def test_half_option_is_ignored_on_cpu(ckpt_path):
    ck = torch.load(ckpt_path, weights_only=True)
    m = checkpoint.load(ck, name="x", device=torch.device("cpu"),
                        config=str(DATA / "reduced_second_stage.yaml"), options={"half": True})
    assert next(m.module.parameters()).dtype == torch.float32


def test_half_precision_unet_norm_runs_in_float32():
    from engine.models.ldcsr.denoiser import GroupNorm32

    norm = GroupNorm32(32).to(torch.bfloat16)
    x = torch.randn(1, 32, 4, 4).to(torch.bfloat16)
    assert norm(x).dtype == torch.bfloat16


def test_cards_are_registered():
    from engine.models.registry import find_card

    sample, fast = find_card("ldcsr"), find_card("ldcsr-fast")
    assert sample is not None and fast is not None
    assert sample.family == fast.family == "ldcsr"
    assert sample.options == {"mode": "sample"} and fast.options == {"mode": "fast"}
    assert sample.file == fast.file and sample.file.is_file()
    assert sample.file.stat().st_size < 10 * 2 ** 20


def test_bundled_weights_load_and_run():
    import engine

    torch.set_num_threads(1)
    fast = engine.load_model("ldcsr-fast")
    assert not fast.stochastic
    lr = torch.rand(1, 3, 12, 12, generator=torch.Generator().manual_seed(3))
    out = fast.upscale(lr, (30, 30))
    assert out.shape == (1, 3, 30, 30) and torch.isfinite(out).all()
    sample = engine.load_model("ldcsr")
    assert sample.stochastic
    assert torch.equal(sample.upscale(lr, (30, 30), seed=4), sample.upscale(lr, (30, 30), seed=4))


def test_paper_sized_checkpoint_needs_no_yaml():
    """An official default-size checkpoint without config resolves to the paper config."""
    from engine.models.ldcsr.config import default_config, reduced_config
    from engine.models.ldcsr.network import LDCSRNet

    with torch.device("meta"):
        paper = checkpoint.to_lightning_state_dict(LDCSRNet(default_config()))
        small = checkpoint.to_lightning_state_dict(LDCSRNet(reduced_config()))
    assert checkpoint.detect({"state_dict": paper})
    assert checkpoint.resolve_config({"state_dict": paper}, None) == default_config()
    with pytest.raises(ModelError, match="--config"):
        checkpoint.resolve_config({"state_dict": small}, None)
    stage1 = {"state_dict": {k[len("first_stage_model."):]: v for k, v in paper.items()
                             if k.startswith("first_stage_model.")}}
    assert checkpoint.is_stage1(stage1)
    assert checkpoint.resolve_config(stage1, None) == default_config()
