"""Settings page *Settings > Options > ArbSR*: check the engine Pythons, create an environment,
add and remove models (:mod:`arbsr_qgis.gui.models_box`).

"Check / set up engine" lists the candidate interpreters (:func:`engine_setup.candidates`) and
checks each in a child process, in a background task, filling a table as results arrive.
"Create engine environment" makes a venv in the QGIS profile (``<profile>/arbsr/engine-venv``)
from a Python that has GDAL and installs the pinned engine requirements with a progress bar, in
a background task that goes on when the page is closed; when it works, it becomes the "Engine
Python" setting.
"""

from __future__ import annotations

from pathlib import Path

from qgis.core import Qgis, QgsApplication, QgsMessageLog, QgsTask
from qgis.gui import QgsOptionsPageWidget, QgsOptionsWidgetFactory
from qgis.PyQt.QtCore import Qt, pyqtSignal
from qgis.PyQt.QtGui import QIcon
from qgis.PyQt.QtWidgets import (
    QAbstractItemView,
    QButtonGroup,
    QFileDialog,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QRadioButton,
    QTableWidget,
    QTableWidgetItem,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from arbsr_qgis import engine_setup, settings
from arbsr_qgis.algorithms.base import icon_path
from arbsr_qgis.gui.models_box import ModelsBox
from arbsr_qgis.gui.reporting_task import ReportingTask

LOG_TAG = "ArbSR"


def data_dir() -> Path:
    """The QGIS profile folder (the created environment lives in ``arbsr/engine-venv`` there)."""
    return Path(QgsApplication.qgisSettingsDirPath())


class CheckTask(QgsTask):
    """Checks interpreters one by one in child processes; ``checked`` carries each result."""

    checked = pyqtSignal(object)

    def __init__(self, candidates: list[engine_setup.Candidate]):
        super().__init__("ArbSR: checking engine Pythons", QgsTask.CanCancel)
        self.candidates = candidates
        self.results: list[engine_setup.CheckResult] = []

    def run(self) -> bool:
        for i, cand in enumerate(self.candidates):
            if self.isCanceled():
                return False
            result = engine_setup.check(cand.python, cand.source)
            self.results.append(result)
            self.checked.emit(result)
            self.setProgress(100.0 * (i + 1) / len(self.candidates))
        return True


class CreateTask(ReportingTask):
    """Creates the engine environment; on success stores it as the "Engine Python" setting."""

    expected = (engine_setup.CreationFailed,)

    line = pyqtSignal(str)
    step = pyqtSignal(str)
    done = pyqtSignal(bool, str)

    def __init__(self, base_python: str, venv_dir: Path, build: str, torch_index: str | None):
        super().__init__(f"ArbSR: creating the engine environment ({build.upper()})",
                         QgsTask.CanCancel)
        self.base_python, self.venv_dir = base_python, Path(venv_dir)
        self.build, self.torch_index = build, torch_index
        self.result: engine_setup.CheckResult | None = None

    def work(self) -> None:
        def progress(fraction: float, message: str) -> None:
            self.setProgress(100.0 * fraction)
            self.step.emit(message)

        self.result = engine_setup.create_environment(
            self.base_python, self.venv_dir, self.build, self.torch_index,
            on_progress=progress, on_line=self.line.emit, is_cancelled=self.isCanceled)

    def finished(self, ok: bool) -> None:  # main thread
        if ok and self.result is not None:
            settings.set_engine_python(self.result.python)
            message = f"Engine environment ready: {self.result.python} ({self.result.summary()})"
            QgsMessageLog.logMessage(message, LOG_TAG, Qgis.Info)
        else:
            message = f"Creating the engine environment failed: {self.error or 'cancelled'}"
            QgsMessageLog.logMessage(message, LOG_TAG, Qgis.Warning)
        self.done.emit(ok, message)


#: The running creation, kept alive here so that it outlives the options dialog.
_creation: CreateTask | None = None


class EngineSetupPage(QgsOptionsPageWidget):
    """The ArbSR page of the QGIS options dialog."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("ArbsrEngineSetupPage")
        self.check_task: CheckTask | None = None
        self.results: list[engine_setup.CheckResult] = []
        layout = QVBoxLayout(self)

        intro = QLabel(self.tr(
            "ArbSR runs its engine in a separate Python that has PyTorch, numpy and GDAL. "
            "Order of use: the ARBSR_PYTHON environment variable, this setting, the checkout's "
            ".venv, python3."))
        intro.setWordWrap(True)
        layout.addWidget(intro)

        row = QHBoxLayout()
        row.addWidget(QLabel(self.tr("Engine Python")))
        self.python_edit = QLineEdit(settings.engine_python() or "")
        self.python_edit.setPlaceholderText(self.tr("empty: ARBSR_PYTHON, the checkout's .venv or python3"))
        row.addWidget(self.python_edit, 1)
        browse = QToolButton()
        browse.setText("…")
        browse.clicked.connect(self.browse_python)
        row.addWidget(browse)
        layout.addLayout(row)

        row = QHBoxLayout()
        self.check_button = QPushButton(self.tr("Check / set up engine"))
        self.check_button.clicked.connect(self.start_check)
        row.addWidget(self.check_button)
        self.use_button = QPushButton(self.tr("Use selected Python"))
        self.use_button.setEnabled(False)
        self.use_button.clicked.connect(self.use_selected)
        row.addWidget(self.use_button)
        row.addStretch(1)
        layout.addLayout(row)

        columns = [self.tr("Python"), self.tr("Found as"), self.tr("PyTorch"),
                   self.tr("CUDA / GPU"), self.tr("GDAL"), self.tr("Engine"), self.tr("Status")]
        self.table = QTableWidget(0, len(columns))
        self.table.setHorizontalHeaderLabels(columns)
        self.table.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.table.verticalHeader().hide()
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeToContents)
        header.setSectionResizeMode(0, QHeaderView.Stretch)  # long paths: show their ends
        self.table.setTextElideMode(Qt.ElideLeft)
        self.table.itemSelectionChanged.connect(
            lambda: self.use_button.setEnabled(bool(self.table.selectedItems())))
        self.table.cellDoubleClicked.connect(lambda r, c: self.use_selected())
        layout.addWidget(self.table, 1)
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        layout.addWidget(self.summary)

        box = QGroupBox(self.tr("Create engine environment"))
        inner = QVBoxLayout(box)
        row = QHBoxLayout()
        row.addWidget(QLabel(self.tr("Folder")))
        self.venv_edit = QLineEdit(str(engine_setup.managed_venv(data_dir())))
        row.addWidget(self.venv_edit, 1)
        inner.addLayout(row)
        row = QHBoxLayout()
        row.addWidget(QLabel(self.tr("From the Python (with GDAL)")))
        self.base_edit = QLineEdit(engine_setup.default_base_python() or "")
        row.addWidget(self.base_edit, 1)
        inner.addLayout(row)
        row = QHBoxLayout()
        row.addWidget(QLabel(self.tr("PyTorch build")))
        self.cpu_radio = QRadioButton(self.tr("CPU"))
        self.cuda_radio = QRadioButton(self.tr("CUDA (NVIDIA GPU)"))
        self.cuda_radio.setEnabled(engine_setup.MACOS is False)
        self.build_group = QButtonGroup(self)
        for radio in (self.cpu_radio, self.cuda_radio):
            self.build_group.addButton(radio)
            row.addWidget(radio)
            radio.toggled.connect(self.build_changed)
        row.addStretch(1)
        inner.addLayout(row)
        row = QHBoxLayout()
        row.addWidget(QLabel(self.tr("Extra package index for PyTorch")))
        self.index_edit = QLineEdit()
        self.index_edit.setPlaceholderText(self.tr("none: pip's own configuration"))
        row.addWidget(self.index_edit, 1)
        inner.addLayout(row)
        self.cpu_radio.setChecked(True)
        row = QHBoxLayout()
        self.create_button = QPushButton(self.tr("Create engine environment"))
        self.create_button.clicked.connect(self.start_create)
        row.addWidget(self.create_button)
        self.cancel_button = QPushButton(self.tr("Cancel"))
        self.cancel_button.clicked.connect(self.cancel_create)
        row.addWidget(self.cancel_button)
        self.progress = QProgressBar()
        self.progress.setRange(0, 100)
        row.addWidget(self.progress, 1)
        inner.addLayout(row)
        self.step_label = QLabel()
        inner.addWidget(self.step_label)
        self.log = QPlainTextEdit()
        self.log.setReadOnly(True)
        self.log.setMaximumBlockCount(2000)
        self.log.setMaximumHeight(120)
        inner.addWidget(self.log)
        layout.addWidget(box)
        self.models_box = ModelsBox(self)
        layout.addWidget(self.models_box)
        self.attach(_creation)

    # -- check ---------------------------------------------------------------------------

    def browse_python(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, self.tr("Engine Python"), self.python_edit.text())
        if path:
            self.python_edit.setText(path)

    def start_check(self) -> CheckTask:
        """List the candidates and check them in a background task."""
        found = engine_setup.candidates(self.python_edit.text().strip() or None, data_dir())
        self.results = []
        self.table.setRowCount(0)
        self.check_button.setEnabled(False)
        self.summary.setText(self.tr("Checking {n} Python interpreters…").format(n=len(found)))
        task = CheckTask(found)
        task.checked.connect(self.add_result)
        task.taskCompleted.connect(self.check_finished)
        task.taskTerminated.connect(self.check_finished)
        self.check_task = task
        QgsApplication.taskManager().addTask(task)
        return task

    def add_result(self, result: engine_setup.CheckResult) -> None:
        self.results.append(result)
        row = self.table.rowCount()
        self.table.insertRow(row)
        gpu = (result.gpu or self.tr("yes")) if result.cuda else self.tr("no")
        status = self.tr("ready") if result.ok else self.tr("not usable")
        cells = (result.python, result.source, result.torch or "–", gpu if result.torch else "–",
                 result.gdal or "–", self.tr("yes") if result.engine else self.tr("no"), status)
        for col, text in enumerate(cells):
            item = QTableWidgetItem(text)
            item.setToolTip(result.summary())
            if col == len(cells) - 1:
                item.setForeground(Qt.darkGreen if result.ok else Qt.darkRed)
            self.table.setItem(row, col, item)

    def check_finished(self) -> None:
        self.check_button.setEnabled(True)
        ready = [r for r in self.results if r.ok]
        if ready:
            if not self.python_edit.text().strip():
                self.python_edit.setText(ready[0].python)
            self.summary.setText(self.tr("{n} of {total} can run the engine; the first is {python}.")
                                 .format(n=len(ready), total=len(self.results), python=ready[0].python))
        else:
            self.summary.setText(self.tr(
                "No Python found here can run the engine: create an engine environment below."))

    def use_selected(self) -> None:
        rows = {i.row() for i in self.table.selectedItems()}
        if rows:
            self.python_edit.setText(self.table.item(rows.pop(), 0).text())

    # -- create --------------------------------------------------------------------------

    def build(self) -> str:
        return "cuda" if self.cuda_radio.isChecked() else "cpu"

    def build_changed(self) -> None:
        self.index_edit.setText(engine_setup.TORCH_INDEX[self.build()] or "")

    def start_create(self) -> CreateTask | None:
        global _creation
        if _creation is not None:
            return None
        base = self.base_edit.text().strip()
        if not base:
            self.step_label.setText(self.tr("Give the Python to create the environment from."))
            return None
        task = CreateTask(base, Path(self.venv_edit.text().strip()), self.build(),
                          self.index_edit.text().strip() or None)
        task.done.connect(_forget_creation)
        _creation = task
        self.log.clear()
        self.attach(task)
        QgsApplication.taskManager().addTask(task)
        return task

    def attach(self, task: CreateTask | None) -> None:
        """Show a creation's progress (a new one, or one still running from an earlier page)."""
        running = task is not None
        self.create_button.setEnabled(not running)
        self.cancel_button.setEnabled(running)
        if task is None:
            return
        task.progressChanged.connect(self.on_progress)
        task.line.connect(self.log.appendPlainText)
        task.step.connect(self.step_label.setText)
        task.done.connect(self.creation_done)  # bound to Qt objects: Qt drops them with the page
        self.progress.setValue(int(task.progress()))

    def on_progress(self, value: float) -> None:
        self.progress.setValue(int(value))

    def cancel_create(self) -> None:
        if _creation is not None:
            _creation.cancel()

    def creation_done(self, ok: bool, message: str) -> None:
        self.create_button.setEnabled(True)
        self.cancel_button.setEnabled(False)
        self.step_label.setText(message)
        if ok:
            self.progress.setValue(100)
            self.python_edit.setText(settings.engine_python() or "")

    def apply(self) -> None:
        self.models_box.apply()
        try:
            settings.set_engine_python(self.python_edit.text().strip())
        except ValueError as exc:  # Processing refuses a path that does not exist
            QMessageBox.warning(self, "ArbSR", str(exc))


def _forget_creation(ok: bool, message: str) -> None:
    global _creation
    _creation = None


class EngineSetupFactory(QgsOptionsWidgetFactory):
    """Adds the ArbSR page to Settings > Options."""

    def __init__(self):
        super().__init__()
        self.setTitle("ArbSR")

    def icon(self) -> QIcon:
        return QIcon(str(icon_path()))

    def createWidget(self, parent: QWidget | None = None) -> EngineSetupPage:  # noqa: N802
        return EngineSetupPage(parent)
