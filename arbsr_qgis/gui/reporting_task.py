"""A background task whose failures become a message instead of an exception.

QGIS runs ``QgsTask.run`` in a worker thread and only learns whether it returned True: an
exception escaping it is lost (or ends QGIS). Tasks that may fail subclass
:class:`ReportingTask`, put their work in :meth:`ReportingTask.work` and read ``error`` in
``finished``.
"""

from __future__ import annotations

from qgis.core import QgsTask


class ReportingTask(QgsTask):
    """``run`` calls :meth:`work`; an ``expected`` failure keeps its own (user-facing) message,
    anything else is reported with its type, and ``run`` returns False either way."""

    #: Exceptions whose message is already written for the user.
    expected: tuple[type[Exception], ...] = ()

    def __init__(self, description: str, flags: QgsTask.Flags | QgsTask.Flag) -> None:
        super().__init__(description, flags)
        self.error = ""

    def work(self) -> None:  # worker thread
        raise NotImplementedError

    def run(self) -> bool:
        try:
            self.work()
        except self.expected as exc:
            self.error = str(exc)
            return False
        except Exception as exc:  # noqa: BLE001 (a task must not raise: report it instead)
            self.error = f"{type(exc).__name__}: {exc}"
            return False
        return True
