"""Translations: the French .ts is complete and current, its .qm compiled from it, and QGIS in
the French locale shows the plugin in French (qgis_process and the desktop plugin objects)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from qgis.core import QgsApplication, QgsSettings

from rasters import ROOT
from tests.plugin.conftest import plugin_folder, qgis_process, qgis_process_env

I18N = ROOT / "arbsr_qgis" / "i18n"
TS = I18N / "arbsr_qgis_fr.ts"
UPDATE = ("run 'make transup', translate the new strings in arbsr_qgis/i18n/arbsr_qgis_fr.ts "
          "(Qt Linguist or a text editor), then 'make transcompile'")


def messages(ts: Path) -> dict[tuple[str, str], str]:
    root = ET.parse(ts).getroot()
    out = {}
    for context in root.iter("context"):
        name = context.findtext("name")
        for message in context.iter("message"):
            translation = message.find("translation")
            unfinished = translation.get("type") in ("unfinished", "obsolete")
            out[(name, message.findtext("source"))] = "" if unfinished else (translation.text or "")
    return out


def test_french_translation_is_complete_and_current(tmp_path):
    if shutil.which("pylupdate5") is None:
        pytest.skip("pylupdate5 missing (make setup installs pyqt5-dev-tools)")
    fresh = tmp_path / "fresh.ts"
    shutil.copy(TS, fresh)
    sources = sorted(str(p) for p in (ROOT / "arbsr_qgis").rglob("*.py")
                     if "__pycache__" not in p.parts)
    subprocess.run(["pylupdate5", "-noobsolete", *sources, "-ts", str(fresh)], check=True,
                   capture_output=True)
    committed, current = messages(TS), messages(fresh)
    assert set(current) == set(committed), f"strings changed in the code: {UPDATE}"
    untranslated = [key for key, text in committed.items() if not text.strip()]
    assert not untranslated, f"{len(untranslated)} untranslated, e.g. {untranslated[:3]}: {UPDATE}"
    for (context, source), text in committed.items():  # placeholders survive translation
        assert sorted(re.findall(r"\{[^}]*\}", source)) == sorted(re.findall(r"\{[^}]*\}", text)), source


def test_qm_is_compiled_from_the_ts(tmp_path):
    if shutil.which("lrelease") is None:
        pytest.skip("lrelease missing (make setup installs qttools5-dev-tools)")
    qm = tmp_path / "fr.qm"
    subprocess.run(["lrelease", "-silent", str(TS), "-qm", str(qm)], check=True)
    assert qm.read_bytes() == (I18N / "arbsr_qgis_fr.qm").read_bytes(), \
        "arbsr_qgis_fr.qm is older than the .ts: run 'make transcompile'"


def french_profile(env: dict[str, str]) -> None:
    """Settings > Options > General > Override system locale: French (as the dialog stores it)."""
    ini = Path(env["QGIS_CUSTOM_CONFIG_PATH"]) / "profiles" / "default" / "QGIS" / "QGIS3.ini"
    ini.parent.mkdir(parents=True, exist_ok=True)
    ini.write_text("[PythonPlugins]\narbsr_qgis=true\n\n[locale]\noverrideFlag=true\n"
                   "userLocale=fr_FR\n", encoding="utf-8")


def test_qgis_process_in_french_lists_french_algorithms(tmp_path):
    env = qgis_process_env(tmp_path, plugin_folder(tmp_path))
    french_profile(env)
    res = qgis_process(["--json", "list"], env, timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr
    algorithms = json.loads(res.stdout)["providers"]["arbsr"]["algorithms"]
    names = {alg_id: alg["name"] for alg_id, alg in algorithms.items()}
    assert names["arbsr:upscale"] == "Super-résolution de raster (échelle arbitraire)"
    assert names["arbsr:train"] == "Affiner un modèle de super-résolution sur vos rasters"
    help_text = qgis_process(["help", "arbsr:upscale"], env, timeout=120).stdout
    assert "Raster en entrée" in help_text and "Facteur d’échelle" in help_text


@pytest.fixture
def french_qgis():
    """The running QGIS switched to French the way the options dialog does it."""
    settings = QgsSettings()
    before = {k: settings.value(f"locale/{k}") for k in ("overrideFlag", "userLocale")}
    settings.setValue("locale/overrideFlag", True)
    settings.setValue("locale/userLocale", "fr_FR")
    yield
    for key, value in before.items():
        if value is None:
            settings.remove(f"locale/{key}")
        else:
            settings.setValue(f"locale/{key}", value)


def test_desktop_plugin_in_french(french_qgis, qgis_iface, qgis_processing, qtbot, monkeypatch):
    monkeypatch.setattr(qgis_iface, "removeDockWidget", lambda d: None, raising=False)
    monkeypatch.setattr(qgis_iface, "addPluginToRasterMenu", lambda n, a: None, raising=False)
    monkeypatch.setattr(qgis_iface, "removePluginRasterMenu", lambda n, a: None, raising=False)
    import arbsr_qgis
    from arbsr_qgis.gui.engine_setup import EngineSetupPage

    assert QgsApplication.locale().startswith("fr")
    registry = QgsApplication.processingRegistry()
    before = registry.providerById("arbsr")
    if before is not None:  # the session provider: take it out meanwhile
        registry.removeProvider(before)
    plugin = arbsr_qgis.classFactory(qgis_iface)
    plugin.initGui()
    try:
        upscale = registry.algorithmById("arbsr:upscale")
        assert upscale.displayName() == "Super-résolution de raster (échelle arbitraire)"
        assert registry.algorithmById("arbsr:evaluate").displayName().startswith("Évaluer")
        page = EngineSetupPage()
        qtbot.addWidget(page)
        assert page.check_button.text() == "Vérifier / installer le moteur"
        assert page.create_button.text() == "Créer l’environnement du moteur"
        dock = plugin.dock
        assert dock.windowTitle() == "Super-résolution ArbSR"
        assert dock.run_button.text() == "Exécuter" and dock.cancel_button.text() == "Annuler"
        assert dock.temporary.text() == "Sorties temporaires"
        assert "Couches raster à agrandir :" in dock_strings(dock)
        assert plugin.action.toolTip() == "Afficher le panneau de super-résolution ArbSR"
    finally:
        plugin.unload()
    # unloading removes the translator: English again
    from arbsr_qgis.algorithms.upscale import UpscaleAlgorithm

    assert UpscaleAlgorithm().displayName() == "Super-resolve raster (arbitrary scale)"
    if before is not None:
        from arbsr_qgis.provider import ArbsrProvider

        registry.addProvider(ArbsrProvider())


def dock_strings(dock) -> set[str]:
    from qgis.PyQt.QtWidgets import QAbstractButton, QLabel

    texts = {w.text() for w in dock.findChildren(QLabel) + dock.findChildren(QAbstractButton)}
    return {t for t in texts if t.strip()}
