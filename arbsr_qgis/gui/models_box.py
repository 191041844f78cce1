"""The "Models" box of *Settings > Options > ArbSR*: add and remove checkpoints, demonstration models.

*Add model…* picks a checkpoint file and runs ``python -m engine models add PATH [--name NAME]``
in a background task: the engine loads the file to check it and writes a card that refers to it
in the user's models folder. *Remove* runs ``models remove NAME`` (the card goes, the checkpoint
stays). Both go through the engine's CLI like every other job, and refresh the model lists of
the algorithms and the dock. "Show demonstration models" decides whether those lists offer the
models whose card says ``"demonstration": true``.
"""

from __future__ import annotations

from qgis.core import QgsApplication, QgsTask
from qgis.PyQt.QtCore import Qt, pyqtSignal
from qgis.PyQt.QtWidgets import (
    QCheckBox,
    QFileDialog,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
)

from arbsr_qgis import engine_client, settings
from arbsr_qgis.algorithms.base import CHECKPOINT_FILTER, engine_python
from arbsr_qgis.gui.reporting_task import ReportingTask


def refresh_model_lists() -> None:
    """Rebuild the algorithms, and so their MODEL lists; the dock follows the provider's
    ``algorithmsLoaded`` signal."""
    provider = QgsApplication.processingRegistry().providerById("arbsr")
    if provider is not None:
        provider.refreshAlgorithms()


def _models_env() -> dict[str, str] | None:
    """The extra models folder setting, passed to the engine as the algorithms do."""
    folder = settings.models_dir()
    return {"ARBSR_MODELS_DIR": folder} if folder else None


class ModelsTask(ReportingTask):
    """One ``python -m engine models add|remove …`` child; ``done(ok, message, card)``."""

    expected = (engine_client.EngineFailure,)

    done = pyqtSignal(bool, str, object)

    def __init__(self, args: list[str]):
        super().__init__(f"ArbSR: models {' '.join(args)}", QgsTask.Flags())
        self.argv = engine_client.build_argv(engine_python(), "models", args)
        self.result: engine_client.EngineResult | None = None

    def work(self) -> None:
        self.result = engine_client.run_engine(self.argv, None, env=_models_env())

    def finished(self, ok: bool) -> None:  # main thread
        card = (self.result.results.get("card") if self.result is not None else None)
        self.done.emit(ok, self.error, card)


class ModelsBox(QGroupBox):
    """Models you added (list, Add model…, Remove) and "Show demonstration models"."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setTitle(self.tr("Models"))
        self.task: ModelsTask | None = None
        layout = QVBoxLayout(self)
        self.show_demo = QCheckBox(self.tr(
            "Show demonstration models (weights that do not beat GDAL cubic; for trying the "
            "code paths)"))
        self.show_demo.setChecked(settings.show_demonstration_models())
        layout.addWidget(self.show_demo)
        self.folder_label = QLabel()
        self.folder_label.setWordWrap(True)
        layout.addWidget(self.folder_label)
        self.list = QListWidget()
        self.list.setMaximumHeight(100)
        self.list.itemSelectionChanged.connect(self.selection_changed)
        layout.addWidget(self.list)
        row = QHBoxLayout()
        row.addWidget(QLabel(self.tr("Name")))
        self.name_edit = QLineEdit()
        self.name_edit.setPlaceholderText(self.tr("empty: from the file name"))
        row.addWidget(self.name_edit, 1)
        self.add_button = QPushButton(self.tr("Add model…"))
        self.add_button.setToolTip(self.tr(
            "Register a checkpoint file (official LMF .pth or LDCSR .ckpt, one trained with "
            "ArbSR, an exported .pt/.onnx) under a name: the engine loads it to check it, and "
            "the file stays where it is."))
        self.add_button.clicked.connect(lambda: self.add_model())
        row.addWidget(self.add_button)
        self.remove_button = QPushButton(self.tr("Remove"))
        self.remove_button.setEnabled(False)
        self.remove_button.clicked.connect(self.remove_selected)
        row.addWidget(self.remove_button)
        layout.addLayout(row)
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextSelectableByMouse)
        layout.addWidget(self.status)
        self.refresh()

    def refresh(self) -> None:
        """List the models added by the user (every card outside the bundled folder)."""
        self.folder_label.setText(self.tr(
            "Models you add are registered in {folder}; the checkpoint files are not copied."
        ).format(folder=engine_client.user_models_dir(settings.models_dir())))
        self.list.clear()
        for card in engine_client.added_models(models_dir=settings.models_dir()):
            low, high = (card.get("scales") or [1, 4])[:2]
            item = QListWidgetItem(self.tr("{name} ({family}, {bands} band(s), ×{low:g}–×{high:g})")
                                   .format(name=card["name"], family=card.get("family", "?"),
                                           bands=card.get("bands", 1), low=float(low),
                                           high=float(high)))
            item.setData(Qt.UserRole, card["name"])
            item.setToolTip(str(card.get("file", "")))
            self.list.addItem(item)
        self.selection_changed()

    def selection_changed(self) -> None:
        self.remove_button.setEnabled(bool(self.list.selectedItems()) and self.task is None)

    def add_model(self, path: str | None = None) -> ModelsTask | None:
        """Register ``path`` (asked with a file dialog when None) in a background task."""
        if path is None:
            path, _ = QFileDialog.getOpenFileName(self, self.tr("Add model"), "",
                                                  CHECKPOINT_FILTER)
        if not path:
            return None
        args = ["add", path]
        name = self.name_edit.text().strip()
        if name:
            args += ["--name", name]
        self.status.setText(self.tr("Checking {path}…").format(path=path))
        return self.start(args)

    def remove_selected(self) -> ModelsTask | None:
        """Unregister the selected model (its checkpoint file is kept)."""
        items = self.list.selectedItems()
        if not items:
            return None
        name = items[0].data(Qt.UserRole)
        self.status.setText(self.tr("Removing {name}…").format(name=name))
        return self.start(["remove", name])

    def start(self, args: list[str]) -> ModelsTask | None:
        if self.task is not None:
            return None
        self.status.setStyleSheet("")
        self.add_button.setEnabled(False)
        self.remove_button.setEnabled(False)
        task = ModelsTask(args)
        task.done.connect(self.finished)
        self.task = task
        QgsApplication.taskManager().addTask(task)
        return task

    def finished(self, ok: bool, error: str, card) -> None:
        self.task = None
        self.add_button.setEnabled(True)
        if ok and card:
            self.name_edit.clear()
            self.status.setText(self.tr("Registered '{name}' ({family}, {bands} band(s)).")
                                .format(name=card["name"], family=card["family"],
                                        bands=card["bands"]))
        elif ok:
            self.status.setText(self.tr("Removed; the checkpoint file is kept."))
        else:
            self.status.setStyleSheet("color: darkred")
            self.status.setText(error)
        self.refresh()
        refresh_model_lists()

    def apply(self) -> None:
        """Store "Show demonstration models"; the model lists follow a change at once."""
        if self.show_demo.isChecked() != settings.show_demonstration_models():
            settings.set_show_demonstration_models(self.show_demo.isChecked())
            refresh_model_lists()
