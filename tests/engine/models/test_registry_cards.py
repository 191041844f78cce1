"""Model cards: one key, ``scales``, from the card file to ``engine models`` and the loaded model."""

from __future__ import annotations

import json
import shutil

import pytest

from engine.models import registry


def test_bundled_cards_name_their_scales_as_the_cli_lists_them() -> None:
    for path in sorted(registry.RESOURCES.glob("*.json")):
        card = json.loads(path.read_text(encoding="utf-8"))
        assert "scales" in card and "scale_range" not in card, path.name


@pytest.mark.parametrize("key", ["scales", "scale_range"])  # scale_range: older user cards
def test_the_cards_scales_are_listed_and_become_the_models_scale_range(tmp_path, monkeypatch, key):
    shutil.copy(registry.RESOURCES / "lmlte-default.pth", tmp_path / "w.pth")
    (tmp_path / "narrow.json").write_text(json.dumps(
        {"name": "lmlte-narrow", "family": "lmlte", "file": "w.pth", "bands": 1,
         key: [1.5, 3]}), encoding="utf-8")
    monkeypatch.setenv("ARBSR_MODELS_DIR", str(tmp_path))
    listed = registry.find_card("lmlte-narrow").to_json()
    assert listed["scales"] == [1.5, 3] and "scale_range" not in listed
    assert registry.load_model("lmlte-narrow").scale_range == (1.5, 3.0)
