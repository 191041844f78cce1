"""Progress events and the JSON-lines protocol shared with the QGIS plugin.

Library code never prints: it takes a ``progress`` callable and hands it :class:`Event` objects.
Only ``engine.cli`` turns them into output, one JSON object per line on stdout::

    {"event": "progress", "fraction": 0.42, "message": "tile 17/40"}
    {"event": "log", "level": "warning", "message": "scale 12 is above the model's range"}
    {"event": "done", "output": "/data/out.tif", "seconds": 12.3}
    {"event": "error", "message": "..."}

The plugin's reader (``arbsr_qgis/engine_client.py``) accepts exactly these keys; a contract test
pins both sides.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import IO, Any, Callable, Union


@dataclass(frozen=True)
class Progress:
    """Fraction of the whole job done, in [0, 1], with a short human message."""

    fraction: float
    message: str = ""
    event: str = field(default="progress", init=False)


@dataclass(frozen=True)
class Log:
    """A message worth showing to the user (level: info or warning)."""

    message: str
    level: str = "info"
    event: str = field(default="log", init=False)


@dataclass(frozen=True)
class Metric:
    """A named number produced during the run (training loss, validation PSNR, ...)."""

    name: str
    value: float
    step: int | None = None
    event: str = field(default="metric", init=False)


@dataclass(frozen=True)
class Done:
    """The job finished; ``output`` is the written file (if any); extra results in ``results``."""

    output: str | None
    seconds: float
    results: dict[str, Any] = field(default_factory=dict)
    event: str = field(default="done", init=False)


@dataclass(frozen=True)
class Error:
    """The job failed with a one-line message."""

    message: str
    event: str = field(default="error", init=False)


Event = Union[Progress, Log, Metric, Done, Error]
ProgressCallback = Callable[[Event], None]


def ignore(_event: Event) -> None:
    """Default progress callback: drop every event."""


def to_json(event: Event) -> str:
    """One JSON line for ``event`` (``event`` key first, floats rounded for readability)."""
    data = asdict(event)
    ordered: dict[str, Any] = {"event": data.pop("event")}
    for key, value in data.items():
        if key == "results" and not value:
            continue
        if isinstance(value, float):
            value = round(value, 6)
        ordered[key] = value
    return json.dumps(ordered, ensure_ascii=False)


def json_writer(stream: IO[str]) -> ProgressCallback:
    """A progress callback that writes each event as a JSON line to ``stream`` and flushes."""

    def write(event: Event) -> None:
        stream.write(to_json(event) + "\n")
        stream.flush()

    return write


def scaled(callback: ProgressCallback, start: float, stop: float) -> ProgressCallback:
    """Map the fractions of a sub-task onto [start, stop] of the parent's progress."""

    def write(event: Event) -> None:
        if isinstance(event, Progress):
            event = Progress(start + (stop - start) * min(max(event.fraction, 0.0), 1.0),
                             event.message)
        callback(event)

    return write
