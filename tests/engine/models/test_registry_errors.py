"""A family module that fails to import is an error that names it, never a silently skipped family.

A real family module (written to a tmp folder and registered in ``FAMILIES``, the registry's
extension point) imports a package that is not installed, as a family would whose optional
dependency is missing, or fails at import for another reason.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from engine.errors import ModelError
from engine.models import registry

MISSING = "arbsr_not_installed_dependency"
MODULE = "arbsr_family_with_missing_dependency"


@pytest.fixture
def broken_family(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    folder = tmp_path / "families"
    folder.mkdir()
    (folder / f"{MODULE}.py").write_text(
        f'"""A family whose dependency is missing."""\nimport {MISSING}\n\n\n'
        "def detect(checkpoint):\n    return 'broken' in checkpoint\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(folder))
    monkeypatch.setattr(registry, "FAMILIES", (("broken", MODULE),) + registry.FAMILIES)
    return MODULE


@pytest.mark.parametrize("suffix", [".pth", ".pt"])
def test_unloadable_file_names_the_module_that_failed_to_import(broken_family, tmp_path, suffix):
    path = tmp_path / f"weights{suffix}"
    torch.save({"broken": {"weights": torch.zeros(2)}}, path)
    with pytest.raises(ModelError) as info:
        registry.load_model(path)
    message = str(info.value)
    assert MODULE in message and f"No module named '{MISSING}'" in message
    assert "pip install" in message and "\n" not in message


def test_card_of_a_family_that_fails_to_import(broken_family, tmp_path, monkeypatch):
    cards = tmp_path / "cards"
    cards.mkdir()
    (cards / "w.pth").write_bytes(b"")
    (cards / "b.json").write_text(json.dumps({"name": "broken-model", "family": "broken",
                                              "file": "w.pth"}), encoding="utf-8")
    monkeypatch.setenv("ARBSR_MODELS_DIR", str(cards))
    with pytest.raises(ModelError, match=f"family 'broken' is unavailable: module {MODULE} "
                                         f"cannot be imported \\(No module named '{MISSING}'\\)"):
        registry.load_model("broken-model")


def test_a_broken_family_is_an_error_even_for_files_another_family_reads(broken_family,
                                                                          tmp_path):
    # The broken family comes first in detection order: skipping it could give the file to the
    # wrong family, so the registry says what is broken instead.
    path = tmp_path / "default.pth"
    shutil.copy(registry.RESOURCES / "lmlte-default.pth", path)
    with pytest.raises(ModelError) as info:
        registry.load_model(path)
    message = str(info.value)
    assert f"module {MODULE} cannot be imported (No module named '{MISSING}')" in message
    assert "\n" not in message


def test_any_error_at_import_names_the_module_and_its_cause(tmp_path, monkeypatch):
    folder = tmp_path / "families"
    folder.mkdir()
    (folder / "arbsr_family_that_raises.py").write_text(
        'raise RuntimeError("weights table missing\\nsecond line")\n', encoding="utf-8")
    monkeypatch.syspath_prepend(str(folder))
    monkeypatch.setattr(registry, "FAMILIES", (("raising", "arbsr_family_that_raises"),)
                        + registry.FAMILIES)
    with pytest.raises(ModelError, match=r"^model family 'raising' is unavailable: module "
                                         r"arbsr_family_that_raises cannot be imported "
                                         r"\(RuntimeError: weights table missing\); [^\n]*$"):
        registry.load_model(registry.RESOURCES / "lmlte-default.pth")


def test_unknown_layout_without_import_failures_keeps_its_message(tmp_path):
    path = tmp_path / "other.pth"
    torch.save({"something": torch.zeros(1)}, path)
    with pytest.raises(ModelError, match="not a checkpoint ArbSR can read"):
        registry.load_model(path)
