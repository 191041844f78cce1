"""Processing provider ``arbsr``: the algorithms and the settings page."""

from __future__ import annotations

from qgis.core import QgsProcessingProvider
from qgis.PyQt.QtGui import QIcon

from arbsr_qgis import settings
from arbsr_qgis.algorithms.base import icon_path
from arbsr_qgis.algorithms.evaluate import EvaluateAlgorithm
from arbsr_qgis.algorithms.train import TrainAlgorithm
from arbsr_qgis.algorithms.upscale import UpscaleAlgorithm

VERSION = "0.1.0"


class ArbsrProvider(QgsProcessingProvider):
    """Provider id ``arbsr`` (algorithms ``arbsr:upscale``, ``arbsr:evaluate``, ``arbsr:train``)."""

    def id(self):
        return "arbsr"

    def name(self):
        return "ArbSR"

    def longName(self):  # noqa: N802
        return self.tr("ArbSR arbitrary-scale super-resolution")

    def icon(self):
        return QIcon(str(icon_path()))

    def versionInfo(self):  # noqa: N802
        return VERSION

    def load(self):
        settings.register(self.name(), self.icon())
        self.refreshAlgorithms()
        return True

    def unload(self):
        settings.unregister()

    def loadAlgorithms(self):  # noqa: N802
        for alg in (UpscaleAlgorithm(), EvaluateAlgorithm(), TrainAlgorithm()):
            self.addAlgorithm(alg)
