"""The plugin loads through classFactory in a real QgsApplication and registers provider arbsr."""

from __future__ import annotations

import configparser
import time

import pytest
from qgis.core import QgsApplication, Qgis

from rasters import ROOT

ALGORITHMS = {"arbsr:upscale", "arbsr:evaluate", "arbsr:train"}


def test_metadata_is_loadable_by_qgis_322():
    meta = configparser.ConfigParser()
    meta.read(ROOT / "metadata.txt", encoding="utf-8")
    general = meta["general"]
    for key in ("name", "description", "version", "qgisMinimumVersion", "about", "author",
                "email", "repository"):
        assert general.get(key), key
    assert general["hasProcessingProvider"] == "yes"
    major, minor = (int(x) for x in general["qgisMinimumVersion"].split(".")[:2])
    assert (major, minor) <= (3, 22) and Qgis.versionInt() >= major * 10000 + minor * 100
    assert (ROOT / general["icon"]).is_file()


def test_class_factory_registers_and_unload_removes(qgis_iface, qgis_processing, monkeypatch):
    # the pytest-qgis 2.1.0 iface stub has addDockWidget but no removeDockWidget
    monkeypatch.setattr(qgis_iface, "removeDockWidget", lambda d: None, raising=False)
    menu: list = []  # nor the raster-menu methods
    monkeypatch.setattr(qgis_iface, "addPluginToRasterMenu",
                        lambda name, action: menu.append((name, action)), raising=False)
    monkeypatch.setattr(qgis_iface, "removePluginRasterMenu",
                        lambda name, action: menu.remove((name, action)), raising=False)
    import arbsr_qgis

    registry = QgsApplication.processingRegistry()
    before = registry.providerById("arbsr")
    if before is not None:  # the session provider fixture ran first: take it out meanwhile
        registry.removeProvider(before)
    plugin = arbsr_qgis.classFactory(qgis_iface)
    plugin.initGui()
    try:
        provider = registry.providerById("arbsr")
        assert provider is not None and provider.name() == "ArbSR"
        ids = {alg.id() for alg in provider.algorithms()}
        assert ALGORITHMS <= ids
        for alg_id in ALGORITHMS:
            alg = registry.algorithmById(alg_id)
            assert alg.shortHelpString() and not alg.icon().isNull()
            assert alg.create().id() == alg_id and alg.createInstance().name() == alg.name()
        assert plugin.dock is not None and plugin.action is not None
        assert menu == [("&ArbSR", plugin.action)]
        plugin.action.trigger()  # the menu entry / toolbar button shows the dock
        assert not plugin.dock.isHidden() and plugin.action.isChecked()
    finally:
        plugin.unload()
    assert menu == []
    assert registry.providerById("arbsr") is None
    if before is not None:
        from arbsr_qgis.provider import ArbsrProvider

        registry.addProvider(ArbsrProvider())


def test_processing_only_load_for_qgis_process(qgis_processing):
    """qgis_process calls classFactory(None) then initProcessing() only."""
    import arbsr_qgis

    registry = QgsApplication.processingRegistry()
    before = registry.providerById("arbsr")
    if before is not None:
        registry.removeProvider(before)
    plugin = arbsr_qgis.classFactory(None)
    plugin.initProcessing()
    assert registry.algorithmById("arbsr:upscale") is not None
    plugin.unload()
    assert registry.providerById("arbsr") is None
    if before is not None:
        from arbsr_qgis.provider import ArbsrProvider

        registry.addProvider(ArbsrProvider())


def test_settings_appear_in_processing_options(arbsr_provider):
    from processing.core.ProcessingConfig import ProcessingConfig

    from arbsr_qgis import settings

    for key in (settings.PYTHON, settings.DEVICE, settings.TILE, settings.WORKERS,
                settings.RAY_ADDRESS, settings.MODELS_DIR):
        assert key in ProcessingConfig.settings
        assert ProcessingConfig.settings[key].group == "ArbSR"
    assert settings.default_device() in settings.DEVICES
    assert settings.default_tile() >= 0
    assert settings.default_workers() == 1 and settings.default_ray_address() == ""
    with pytest.raises(ValueError, match="at least 1"):
        ProcessingConfig.settings[settings.WORKERS].setValue(0)


def test_provider_loads_at_once_whatever_the_engine_python_does(qgis_processing,
                                                                hanging_python):
    """Loading the provider (QGIS start-up, every qgis_process call) never waits on the engine:
    the model list comes from the model cards, not from a child process."""
    from arbsr_qgis.provider import ArbsrProvider

    registry = QgsApplication.processingRegistry()
    before = registry.providerById("arbsr")
    if before is not None:
        registry.removeProvider(before)
    try:
        start = time.monotonic()
        provider = ArbsrProvider()
        assert registry.addProvider(provider)
        alg = registry.createAlgorithmById("arbsr:upscale")
        seconds = time.monotonic() - start
        assert seconds < 1.0, f"loading the provider took {seconds:.1f} s"
        assert {"lmlte-default", "moe"} <= set(alg.parameterDefinition("MODEL").options())
    finally:
        registry.removeProvider("arbsr")
        if before is not None:
            registry.addProvider(ArbsrProvider())
