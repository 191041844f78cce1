"""ArbSR QGIS plugin: Processing provider ``arbsr`` and a dock, driving the engine in a child process.

This package never imports ``torch`` or ``engine``: all the work is done by
``<engine python> -m engine …`` (see :mod:`arbsr_qgis.engine_client`).
"""


def classFactory(iface):  # noqa: N802 (QGIS plugin entry point name)
    """QGIS entry point; ``iface`` is None under ``qgis_process``."""
    from arbsr_qgis.plugin import ArbsrPlugin

    return ArbsrPlugin(iface)
