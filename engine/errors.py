"""Typed engine errors.

Every failure the user can act on is an :class:`EngineError` whose message is one line that says
what went wrong *and what to do*. The CLI prints that line on stderr and exits with the class's
``exit_code``; the QGIS plugin turns it into a ``QgsProcessingException`` with the same text.
"""

from __future__ import annotations


class EngineError(Exception):
    """Base class: a one-line, actionable message for the user."""

    exit_code: int = 1


class InputError(EngineError):
    """The input raster is missing, unreadable, empty or unsuitable."""

    exit_code = 2


class ParameterError(EngineError):
    """A command-line or API parameter is invalid (scale, bands, tile size, ...)."""

    exit_code = 2


class OutputError(EngineError):
    """The output cannot be written (exists, folder missing or read-only, disk full)."""

    exit_code = 3


class ModelError(EngineError):
    """Unknown model name, or a checkpoint that cannot be read or is not a supported layout."""

    exit_code = 4


class DeviceError(EngineError):
    """The requested device is not available (e.g. ``--device cuda`` without CUDA)."""

    exit_code = 5


class ResourceError(EngineError):
    """Out of memory or disk even after backing off."""

    exit_code = 6


class Cancelled(EngineError):
    """The run was interrupted (SIGINT / SIGTERM); exit code follows the signal."""

    exit_code = 130
