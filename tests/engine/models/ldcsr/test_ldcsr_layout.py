"""The default (paper) config builds exactly the official parameter layout (no weights)."""

from __future__ import annotations

import json

import torch
from ldcsr_helpers import DATA

from engine.models.ldcsr.checkpoint import to_lightning_state_dict
from engine.models.ldcsr.config import default_config, from_yaml_dict, load_yaml
from engine.models.ldcsr.network import LDCSRNet


def _layout() -> dict:
    return json.loads((DATA / "layout_default.json").read_text(encoding="utf-8"))


def test_default_config_matches_official_stage2_layout():
    layout = _layout()
    with torch.device("meta"):
        net = LDCSRNet(default_config())
    ours = [(k, list(v.shape), str(v.dtype).replace("torch.", ""))
            for k, v in to_lightning_state_dict(net).items()]
    ref = [tuple(k) for k in layout["stage2_checkpoint"]["keys"]]
    assert len(ours) == layout["stage2_checkpoint"]["n_keys"] == 1656
    assert [tuple(k) for k in ours] == ref  # names, shapes, dtypes and order


def test_default_config_matches_official_stage1_layout():
    layout = _layout()
    with torch.device("meta"):
        net = LDCSRNet(default_config())
    ours = {k: list(v.shape) for k, v in net.first_stage_model.state_dict().items()}
    ref = {k: s for k, s, _ in layout["stage1_checkpoint"]["keys"] if not k.startswith("loss.")}
    assert ours == ref


def test_param_counts():
    counts = _layout()["param_counts"]
    with torch.device("meta"):
        net = LDCSRNet(default_config())
    n = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert n(net.first_stage_model.encoder) == counts["first_stage_model.encoder"]
    assert n(net.first_stage_model.decoder) == counts["first_stage_model.decoder"]
    assert n(net.cond_stage_model) == counts["cond_stage_model"]
    assert n(net.unet) == counts["model.diffusion_model"]


def test_official_yaml_round_trip():
    layout = _layout()
    stage2 = {"model": layout["configs"]["stage2_resolved"]}
    assert from_yaml_dict(stage2) == default_config()
    reduced = load_yaml(DATA / "reduced_second_stage.yaml")
    assert from_yaml_dict(reduced.to_yaml_dict()) == reduced
    stage1 = load_yaml(DATA / "reduced_first_stage.yaml")
    assert stage1.encoder == reduced.encoder and stage1.decoder == reduced.decoder
