"""The family contract: one Family object per family, registered once, in a declared order."""

from __future__ import annotations

import pytest

from engine.errors import ModelError
from engine.models import registry
from engine.models.family import Family


def test_every_declared_family_loads_with_its_id() -> None:
    for fid, _module in registry.FAMILIES:
        family = registry.family_support(fid)
        assert isinstance(family, Family) and family.id == fid
        assert (family.detect and family.load) or (family.suffixes and family.load_file)


def test_duplicate_ids_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry, "FAMILIES", registry.FAMILIES + (("lmlte", "elsewhere"),))
    with pytest.raises(ModelError, match="registered twice: lmlte"):
        registry.family_support("moe")
    with pytest.raises(ModelError, match="registered twice: lmlte"):
        registry.load_model(registry.RESOURCES / "lmlte-default.pth")


def test_a_module_without_its_family_object_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry, "FAMILIES", (("lmlte", "engine.models.lmlte.checkpoint"),))
    with pytest.raises(ModelError, match="does not define FAMILY"):
        registry.family_support("lmlte")


def test_a_family_needs_a_way_to_load() -> None:
    with pytest.raises(ValueError, match="needs detect and load"):
        Family(id="nothing")
