"""Background tasks report failures as messages: QGIS would lose an exception from ``run``."""

from __future__ import annotations

from qgis.core import QgsApplication, QgsTask

from arbsr_qgis.gui.reporting_task import ReportingTask
from tests.plugin.conftest import wait_for


class _Task(ReportingTask):
    expected = (ValueError,)

    def __init__(self, failure: Exception | None) -> None:
        super().__init__("ArbSR: test task", QgsTask.Flags())
        self.failure = failure
        self.outcome: bool | None = None

    def work(self) -> None:
        if self.failure is not None:
            raise self.failure

    def finished(self, ok: bool) -> None:
        self.outcome = ok


def _run(failure: Exception | None) -> _Task:
    task = _Task(failure)
    QgsApplication.taskManager().addTask(task)
    wait_for(lambda: task.outcome is not None, timeout=30)
    return task


def test_success_expected_and_unexpected_failures_in_the_task_manager() -> None:
    ok = _run(None)
    assert ok.outcome is True and ok.error == ""
    expected = _run(ValueError("the raster has no bands: choose another layer"))
    assert expected.outcome is False
    assert expected.error == "the raster has no bands: choose another layer"
    unexpected = _run(KeyError("band"))
    assert unexpected.outcome is False and unexpected.error == "KeyError: 'band'"
