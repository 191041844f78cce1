"""Plugin object: registers the provider (``initProcessing``) and the dock (``initGui``)."""

from __future__ import annotations

from qgis.core import QgsApplication
from qgis.PyQt.QtCore import QCoreApplication, Qt
from qgis.PyQt.QtGui import QIcon
from qgis.PyQt.QtWidgets import QAction

from arbsr_qgis import i18n
from arbsr_qgis.algorithms.base import icon_path
from arbsr_qgis.provider import ArbsrProvider

MENU = "&ArbSR"


class ArbsrPlugin:
    """``initProcessing`` is the only hook qgis_process calls; ``unload`` undoes everything."""

    def __init__(self, iface):
        self.iface = iface
        self.provider: ArbsrProvider | None = None
        self.dock = None
        self.action: QAction | None = None
        self.options_factory = None
        # Before the provider, algorithms and widgets build their (translated) texts.
        self.translator = i18n.install()

    def initProcessing(self):  # noqa: N802
        if self.provider is None:
            self.provider = ArbsrProvider()
            QgsApplication.processingRegistry().addProvider(self.provider)

    def initGui(self):  # noqa: N802
        self.initProcessing()
        if self.iface is None:
            return
        from arbsr_qgis.gui.dock import ArbsrDock

        self.dock = ArbsrDock(self.iface, self.iface.mainWindow())
        self.dock.hide()
        self.iface.addDockWidget(Qt.RightDockWidgetArea, self.dock)
        self.action = QAction(
            QIcon(str(icon_path())),
            QCoreApplication.translate("ArbsrPlugin", "ArbSR super-resolution"),
            self.iface.mainWindow())
        self.action.setCheckable(True)
        self.action.setToolTip(QCoreApplication.translate(
            "ArbsrPlugin", "Show the ArbSR super-resolution dock"))
        self.dock.setToggleVisibilityAction(self.action)
        self.iface.addToolBarIcon(self.action)
        self.iface.addPluginToRasterMenu(MENU, self.action)
        # Engine set-up: the ArbSR page of Settings > Options (the test iface stub lacks it).
        if hasattr(self.iface, "registerOptionsWidgetFactory"):
            from arbsr_qgis.gui.engine_setup import EngineSetupFactory

            self.options_factory = EngineSetupFactory()
            self.iface.registerOptionsWidgetFactory(self.options_factory)

    def unload(self):
        if self.dock is not None:
            self.dock.cancel_all()
            if self.iface is not None and hasattr(self.iface, "removeDockWidget"):
                self.iface.removeDockWidget(self.dock)
            self.dock.close_and_disconnect()
            self.dock.deleteLater()
            self.dock = None
        if self.action is not None and self.iface is not None:
            self.iface.removeToolBarIcon(self.action)
            self.iface.removePluginRasterMenu(MENU, self.action)
            self.action.deleteLater()
            self.action = None
        if self.options_factory is not None:
            self.iface.unregisterOptionsWidgetFactory(self.options_factory)
            self.options_factory = None
        # Before the provider, algorithms and widgets build their (translated) texts.
        self.translator = i18n.install()
        if self.provider is not None:
            QgsApplication.processingRegistry().removeProvider(self.provider)
            self.provider = None
        i18n.remove(self.translator)
        self.translator = None
