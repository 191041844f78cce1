"""Plugin settings, in one place: Processing options > Providers > ArbSR.

Stored by QGIS Processing under ``Processing/Configuration/<KEY>`` in the profile's QgsSettings.
The provider registers them (:func:`register`) so they show in the options dialog; everything
else reads them through :func:`engine_python`, :func:`default_device`, :func:`default_tile`,
:func:`default_workers`, :func:`default_ray_address` and :func:`models_dir`, which also work
before the provider is loaded. "Show demonstration models" (:func:`show_demonstration_models`)
lives on the *Settings > Options > ArbSR* page only, stored under the same prefix.
"""

from __future__ import annotations

from qgis.core import QgsSettings
from qgis.PyQt.QtCore import QCoreApplication

PYTHON = "ARBSR_ENGINE_PYTHON"
DEVICE = "ARBSR_DEFAULT_DEVICE"
TILE = "ARBSR_DEFAULT_TILE"
MODELS_DIR = "ARBSR_MODELS_DIR"
WORKERS = "ARBSR_DEFAULT_WORKERS"
RAY_ADDRESS = "ARBSR_DEFAULT_RAY_ADDRESS"
KEYS = (PYTHON, DEVICE, TILE, WORKERS, RAY_ADDRESS, MODELS_DIR)
SHOW_DEMONSTRATION = "ARBSR_SHOW_DEMONSTRATION_MODELS"

DEVICES = ("auto", "cpu", "cuda")
DEFAULT_TILE = 0  # 0: the engine picks (it backs off by itself when memory runs out)
DEFAULT_WORKERS = 1  # one process: the engine's own default (no --workers on the command line)


def _config():
    try:
        from processing.core.ProcessingConfig import ProcessingConfig
    except ImportError:  # Processing not initialised (unit tests, plain scripts)
        return None
    return ProcessingConfig


def register(group: str, icon=None) -> None:
    """Add the ArbSR settings to the Processing options dialog (idempotent)."""
    config = _config()
    if config is None:
        return
    from processing.core.ProcessingConfig import Setting

    if icon is not None:
        config.settingIcons[group] = icon
    config.addSetting(Setting(
        group, PYTHON,
        QCoreApplication.translate("ArbsrSettings", "Engine Python (interpreter with torch and "
                                   "GDAL; empty: $ARBSR_PYTHON, the checkout's .venv or python3)"),
        "", valuetype=Setting.FILE))
    config.addSetting(Setting(
        group, DEVICE, QCoreApplication.translate("ArbsrSettings", "Default device"), DEVICES[0],
        valuetype=Setting.SELECTION, options=list(DEVICES)))
    config.addSetting(Setting(
        group, TILE,
        QCoreApplication.translate("ArbsrSettings",
                                   "Default tile size in pixels (0 = the engine's choice)"),
        DEFAULT_TILE, valuetype=Setting.INT))
    config.addSetting(Setting(
        group, WORKERS,
        QCoreApplication.translate("ArbsrSettings", "Default worker processes for Super-resolve "
                                   "(1 = one process; with Ray: the number of Ray workers)"),
        DEFAULT_WORKERS, valuetype=Setting.INT, validator=_check_workers))
    config.addSetting(Setting(
        group, RAY_ADDRESS,
        QCoreApplication.translate("ArbsrSettings", "Default Ray address for Super-resolve "
                                   "(empty = this computer; local, auto, host:port or "
                                   "ray://host:10001)"),
        "", valuetype=Setting.STRING))
    config.addSetting(Setting(
        group, MODELS_DIR,
        QCoreApplication.translate("ArbsrSettings", "Extra models folder (JSON model cards)"),
        "", valuetype=Setting.FOLDER))
    config.readSettings()


def _check_workers(value) -> None:
    """Options dialog validator: a whole number of at least 1."""
    try:
        ok = int(value) >= 1
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ValueError(QCoreApplication.translate(
            "ArbsrSettings", "The number of workers must be a whole number of at least 1 "
                             "(got {value}).").format(value=value))


def unregister() -> None:
    """Remove the settings from the options dialog (plugin unload)."""
    config = _config()
    if config is None:
        return
    for key in KEYS:
        if key in config.settings:
            config.removeSetting(key)


def _value(key: str, default):
    config = _config()
    if config is not None and key in config.settings:
        value = config.getSetting(key, readable=True)
        return default if value in (None, "") else value
    value = QgsSettings().value(f"Processing/Configuration/{key}", None)
    return default if value in (None, "") else value


def engine_python() -> str | None:
    """The "Engine Python" setting, or None when unset."""
    value = _value(PYTHON, "")
    return str(value) if value else None


def set_engine_python(path: str) -> None:
    """Store the "Engine Python" setting (the settings page's Apply, a created environment)."""
    config = _config()
    if config is not None and PYTHON in config.settings:
        config.setSettingValue(PYTHON, path)
    else:
        QgsSettings().setValue(f"Processing/Configuration/{PYTHON}", path)


def default_device() -> str:
    """auto, cpu or cuda."""
    value = _value(DEVICE, DEVICES[0])
    if isinstance(value, int) or (isinstance(value, str) and value.isdigit()):
        value = DEVICES[int(value)] if int(value) < len(DEVICES) else DEVICES[0]
    return value if value in DEVICES else DEVICES[0]


def default_tile() -> int:
    """Tile size in pixels used when the algorithm's TILE_SIZE is 0 (0: engine default)."""
    try:
        return max(int(_value(TILE, DEFAULT_TILE)), 0)
    except (TypeError, ValueError):
        return DEFAULT_TILE


def default_workers() -> int:
    """Default WORKERS of arbsr:upscale (at least 1; 1 adds nothing to the command line)."""
    try:
        return max(int(_value(WORKERS, DEFAULT_WORKERS)), 1)
    except (TypeError, ValueError):
        return DEFAULT_WORKERS


def default_ray_address() -> str:
    """Default RAY_ADDRESS of arbsr:upscale ("" = this computer, no --ray)."""
    value = _value(RAY_ADDRESS, "")
    return str(value).strip() if value else ""


def models_dir() -> str | None:
    """Extra folder of model cards (passed to the engine as ARBSR_MODELS_DIR)."""
    value = _value(MODELS_DIR, "")
    return str(value) if value else None


def show_demonstration_models() -> bool:
    """True when the model lists also offer the models marked ``"demonstration": true``."""
    value = QgsSettings().value(f"Processing/Configuration/{SHOW_DEMONSTRATION}", False)
    return str(value).lower() in ("true", "1")


def set_show_demonstration_models(show: bool) -> None:
    """Store "Show demonstration models" (the ArbSR settings page)."""
    QgsSettings().setValue(f"Processing/Configuration/{SHOW_DEMONSTRATION}", bool(show))
