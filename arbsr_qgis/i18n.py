"""Translations of the plugin, loaded for the QGIS locale as Plugin Builder 3 plugins do.

``i18n/arbsr_qgis_<lang>.ts`` are generated from the code by ``make transup`` (pylupdate5) and
compiled to ``.qm`` by ``make transcompile`` (lrelease); both ship in the plugin. The plugin object
installs the translator when QGIS creates it (``classFactory``, also under qgis_process), before
any algorithm or widget text is built, and removes it on unload.
"""

from __future__ import annotations

from pathlib import Path

from qgis.core import QgsApplication
from qgis.PyQt.QtCore import QCoreApplication, QLocale, QTranslator

I18N_DIR = Path(__file__).resolve().parent / "i18n"
PREFIX = "arbsr_qgis"


def qgis_locale() -> str:
    """The locale QGIS uses: Settings > Options > General > Override system locale, else the
    system's (``locale/userLocale`` with ``locale/overrideFlag`` in the profile)."""
    return QgsApplication.locale() or QLocale.system().name()


def load(locale: str | None = None) -> QTranslator | None:
    """A translator for ``locale`` (e.g. ``fr`` or ``fr_FR``), or None when none ships."""
    translator = QTranslator()
    # Tries arbsr_qgis_fr_FR.qm, then arbsr_qgis_fr.qm.
    if translator.load(QLocale(locale or qgis_locale()), PREFIX, "_", str(I18N_DIR), ".qm"):
        return translator
    return None


def install(locale: str | None = None) -> QTranslator | None:
    """Install the translator for the QGIS locale; keep the returned object until :func:`remove`."""
    translator = load(locale)
    if translator is not None:
        QCoreApplication.installTranslator(translator)
    return translator


def remove(translator: QTranslator | None) -> None:
    if translator is not None:
        QCoreApplication.removeTranslator(translator)
