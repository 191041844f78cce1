"""The ArbSR dock: pick layers, a model and a scale; Run upscales each layer in the background.

The dock reimplements nothing: each layer is one ``arbsr:upscale`` run through
``QgsProcessingAlgRunnerTask`` on the task manager, the same code path as the toolbox, batch
runs, models and qgis_process. Results are added to the map in the group "ArbSR results".

Outputs in a folder get names of their own (``<layer>_x<scale>.tif``, then ``_2``, ``_3`` ...):
never a file that is already there, never the same file for two layers of one Run, and the
algorithm runs with ``OVERWRITE=False`` so that a file that appears meanwhile is not replaced.
When the dock shows with nothing ticked, it ticks the active raster layer and the raster layers
selected in the Layers panel (or the only raster layer of the project).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from qgis.core import (
    Qgis,
    QgsApplication,
    QgsMapLayerType,
    QgsProcessingAlgRunnerTask,
    QgsProcessingContext,
    QgsProcessingFeedback,
    QgsProject,
    QgsRasterLayer,
    QgsUnitTypes,
)
from qgis.gui import QgsDockWidget, QgsFileWidget
from qgis.PyQt.QtCore import Qt, pyqtSignal
from qgis.PyQt.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from arbsr_qgis import engine_client, settings
from arbsr_qgis.algorithms.base import DEFAULT_MODEL, model_names, model_notes
from arbsr_qgis.uncertainty_style import style_uncertainty
from arbsr_qgis.gui.dock_state import (
    SCALE_MAX,
    SCALE_MIN,
    SCALE_STEP,
    DockState,
    describe,
    describe_duration,
    estimate_seconds,
    output_geometry,
    scale_to_slider,
    slider_to_scale,
)

ALGORITHM = "arbsr:upscale"
#: Model families whose output is a sample (a seed, and an uncertainty layer make sense).
DIFFUSION_FAMILIES = ("moe", "ldcsr")
PROJECT_SCOPE, PROJECT_KEY = "ArbSR", "dock_state"


class _Feedback(QgsProcessingFeedback):
    """Keeps the error messages of a run, to show them in the message bar."""

    def __init__(self):
        super().__init__()
        self.errors: list[str] = []

    def reportError(self, error, fatalError=False):  # noqa: N802, N803
        self.errors.append(error)
        super().reportError(error, fatalError)


@dataclass
class Job:
    """One layer's run; holds the objects that must outlive the task."""

    layer_id: str
    layer_name: str
    scale: float
    context: QgsProcessingContext
    feedback: _Feedback
    task: QgsProcessingAlgRunnerTask
    progress: float = 0.0
    ok: bool | None = None
    results: dict = field(default_factory=dict)


class ArbsrDock(QgsDockWidget):
    """Dock widget; ``finished(ok_count, failed_count)`` fires when the last job of a Run ends."""

    finished = pyqtSignal(int, int)

    def __init__(self, iface=None, parent=None):
        super().__init__(parent)
        self.setWindowTitle(self.tr("ArbSR super-resolution"))
        self.setObjectName("ArbsrDock")
        self.iface = iface
        self.jobs: list[Job] = []
        self.card: dict = {}  # the chosen model's card, read once per model change
        self._build()
        project = QgsProject.instance()
        project.layersAdded.connect(self.refresh_layers)
        project.layersRemoved.connect(self.refresh_layers)
        project.readProject.connect(self.restore_state)
        self.refresh_layers()
        self.refresh_models()
        self.restore_state()
        # Models added or removed, or demonstration models shown or hidden, in the settings
        # page refresh the provider's algorithms: the model list follows.
        self.provider = QgsApplication.processingRegistry().providerById("arbsr")
        if self.provider is not None:
            self.provider.algorithmsLoaded.connect(self.refresh_models)

    # --- widgets ----------------------------------------------------------------------------

    def _build(self) -> None:
        body = QWidget(self)
        box = QVBoxLayout(body)
        box.addWidget(QLabel(self.tr("Raster layers to upscale:")))
        self.layers = QListWidget(body)
        self.layers.setMinimumHeight(70)
        self.layers.itemChanged.connect(self.update_info)
        box.addWidget(self.layers)

        form = QFormLayout()
        self.model = QComboBox(body)
        form.addRow(self.tr("Model"), self.model)
        # Diffusion controls, shown for the models that have them (see model_changed).
        self.detail = QSlider(Qt.Horizontal, body)
        self.detail.setRange(0, 100)
        self.detail.setToolTip(self.tr(
            "Detail of the diffusion model: left is deterministic and closest to the truth on "
            "average; right draws finer, partly invented detail."))
        self.detail_label = QLabel(self.tr("Detail"), body)
        form.addRow(self.detail_label, self.detail)
        self.uncertainty = QCheckBox(self.tr("Uncertainty layer"), body)
        self.uncertainty.setToolTip(self.tr(
            "Also add a layer with the per-pixel spread of 4 samples (standard deviation, in "
            "the output's units): bright where the model is unsure. Takes 4 times as long."))
        form.addRow(self.uncertainty)
        self.uncertainty.toggled.connect(self.update_info)
        self.model.currentTextChanged.connect(self.model_changed)
        self.device = QComboBox(body)
        self.device.addItems(list(settings.DEVICES))
        self.device.setCurrentText(settings.default_device())
        form.addRow(self.tr("Device"), self.device)

        row = QHBoxLayout()
        self.slider = QSlider(Qt.Horizontal, body)
        self.slider.setRange(scale_to_slider(SCALE_MIN), scale_to_slider(SCALE_MAX))
        self.slider.setSingleStep(1)
        self.slider.setPageStep(5)
        self.spin = QDoubleSpinBox(body)
        self.spin.setRange(SCALE_MIN, SCALE_MAX)
        self.spin.setSingleStep(SCALE_STEP)
        self.spin.setDecimals(1)
        self.spin.setSuffix(" ×")
        self.slider.valueChanged.connect(self._slider_moved)
        self.spin.valueChanged.connect(self._spin_changed)
        row.addWidget(self.slider, 1)
        row.addWidget(self.spin)
        form.addRow(self.tr("Scale"), row)
        self.info = QLabel("", body)
        self.info.setWordWrap(True)
        form.addRow(self.tr("Output"), self.info)

        self.temporary = QCheckBox(self.tr("Temporary outputs"), body)
        self.temporary.setChecked(True)
        self.folder = QgsFileWidget(body)
        self.folder.setStorageMode(QgsFileWidget.GetDirectory)
        self.folder.setEnabled(False)
        self.temporary.toggled.connect(lambda on: self.folder.setEnabled(not on))
        form.addRow(self.temporary)
        form.addRow(self.tr("Folder"), self.folder)
        box.addLayout(form)

        self.progress = QProgressBar(body)
        self.progress.setRange(0, 100)
        self.progress.setValue(0)
        box.addWidget(self.progress)
        buttons = QHBoxLayout()
        self.run_button = QPushButton(self.tr("Run"), body)
        self.cancel_button = QPushButton(self.tr("Cancel"), body)
        self.cancel_button.setEnabled(False)
        self.run_button.clicked.connect(self.run)
        self.cancel_button.clicked.connect(self.cancel_all)
        buttons.addWidget(self.run_button)
        buttons.addWidget(self.cancel_button)
        box.addLayout(buttons)
        self.status = QLabel("", body)
        self.status.setWordWrap(True)
        box.addWidget(self.status)
        box.addStretch(1)
        self.setWidget(body)
        self.spin.setValue(2.0)

    def _slider_moved(self, value: int) -> None:
        scale = slider_to_scale(value)
        if abs(self.spin.value() - scale) > 1e-9:
            self.spin.setValue(scale)
        self.update_info()

    def _spin_changed(self, value: float) -> None:
        pos = scale_to_slider(value)
        if self.slider.value() != pos:
            self.slider.setValue(pos)
        self.update_info()

    # --- content ----------------------------------------------------------------------------

    def refresh_layers(self, *_args) -> None:
        """List the project's raster layers, keeping the ticks of those still there."""
        checked = set(self.checked_layer_ids())
        self.layers.blockSignals(True)
        self.layers.clear()
        for layer in QgsProject.instance().mapLayers().values():
            if layer.type() != QgsMapLayerType.RasterLayer:
                continue
            item = QListWidgetItem(layer.name())
            item.setData(Qt.UserRole, layer.id())
            item.setFlags(item.flags() | Qt.ItemIsUserCheckable)
            item.setCheckState(Qt.Checked if layer.id() in checked else Qt.Unchecked)
            self.layers.addItem(item)
        self.layers.blockSignals(False)
        self.tick_default_layers()
        self.update_info()

    def default_layer_ids(self) -> list[str]:
        """The active raster layer and the raster layers selected in the Layers panel; else
        the project's only raster layer; else nothing."""
        ids: list[str] = []
        offered = {self.layers.item(i).data(Qt.UserRole) for i in range(self.layers.count())}
        candidates = []
        if self.iface is not None:
            try:
                candidates.append(self.iface.activeLayer())
            except (AttributeError, RuntimeError):
                pass
            try:
                candidates += list(self.iface.layerTreeView().selectedLayers())
            except (AttributeError, RuntimeError, TypeError):
                pass  # no Layers panel (tests, qgis_process)
        for layer in candidates:
            if layer is not None and layer.id() in offered and layer.id() not in ids:
                ids.append(layer.id())
        if not ids and len(offered) == 1:
            ids = list(offered)
        return ids

    def tick_default_layers(self) -> None:
        """When no layer is ticked, tick :meth:`default_layer_ids` (the user's ticks are
        never changed)."""
        if self.checked_layer_ids():
            return
        defaults = self.default_layer_ids()
        if defaults:
            self.set_checked_layers(defaults)

    def showEvent(self, event):  # noqa: N802 (Qt override)
        """Opening the dock ticks the layer the user is working on, if none is ticked."""
        super().showEvent(event)
        self.tick_default_layers()

    def refresh_models(self) -> None:
        """Fill the model list from the model cards (read directly: no engine start);
        demonstration models only when the settings ask for them."""
        current = self.model.currentText()
        self.model.clear()
        self.model.addItem(DEFAULT_MODEL)
        for name in model_names():
            if name != DEFAULT_MODEL:
                self.model.addItem(name)
        notes = model_notes()
        notes.setdefault(DEFAULT_MODEL, notes.get("lmlte-default", ""))
        for i in range(self.model.count()):
            if notes.get(self.model.itemText(i)):
                self.model.setItemData(i, notes[self.model.itemText(i)], Qt.ToolTipRole)
        if current:
            self.model.setCurrentText(current)
        self.model_changed()

    def model_card(self) -> dict:
        """The model card of the chosen model ({} for unknown names)."""
        name = self.model.currentText()
        if name == DEFAULT_MODEL:
            name = "lmlte-default"
        for card in engine_client.list_models(models_dir=settings.models_dir()):
            if card.get("name") == name:
                return card
        return {}

    def model_changed(self, *_args) -> None:
        """Show the diffusion controls for diffusion models, the detail at the card's default."""
        card = self.card = self.model_card()
        options = card.get("options") or {}
        diffusion = card.get("family") in DIFFUSION_FAMILIES
        has_detail = diffusion and "temperature" in options
        self.detail.setVisible(has_detail)
        self.detail_label.setVisible(has_detail)
        if has_detail:
            self.detail.setValue(int(round(float(options["temperature"]) * 100)))
        self.uncertainty.setVisible(diffusion)
        self.update_info()

    def checked_layer_ids(self) -> list[str]:
        ids = []
        for i in range(self.layers.count()):
            item = self.layers.item(i)
            if item.checkState() == Qt.Checked:
                ids.append(item.data(Qt.UserRole))
        return ids

    def set_checked_layers(self, layer_ids) -> None:
        """Tick exactly these layers (programmatic selection)."""
        wanted = set(layer_ids)
        for i in range(self.layers.count()):
            item = self.layers.item(i)
            item.setCheckState(Qt.Checked if item.data(Qt.UserRole) in wanted else Qt.Unchecked)

    def state(self) -> DockState:
        return DockState(layer_ids=self.checked_layer_ids(), model=self.model.currentText(),
                         scale=round(self.spin.value(), 1), device=self.device.currentText(),
                         output_folder=self.folder.filePath(),
                         temporary=self.temporary.isChecked(),
                         detail=(self.detail.value() / 100.0
                                 if self.detail.isVisibleTo(self) else None),
                         uncertainty=(self.uncertainty.isVisibleTo(self)
                                      and self.uncertainty.isChecked()))

    def restore_state(self, *_args) -> None:
        """Settings of the last Run saved in the project (layers, scale, model, output)."""
        text, found = QgsProject.instance().readEntry(PROJECT_SCOPE, PROJECT_KEY, "")
        if not found or not text:
            return
        state = DockState.from_json(text)
        self.refresh_layers()
        self.set_checked_layers(state.layer_ids)
        if self.model.findText(state.model) >= 0:
            self.model.setCurrentText(state.model)
        if self.device.findText(state.device) >= 0:
            self.device.setCurrentText(state.device)
        self.spin.setValue(state.scale)
        if state.detail is not None:
            self.detail.setValue(int(round(state.detail * 100)))
        self.uncertainty.setChecked(state.uncertainty)
        self.temporary.setChecked(state.temporary)
        self.folder.setFilePath(state.output_folder)
        self.tick_default_layers()  # the saved layers may be gone

    def update_info(self, *_args) -> None:
        """Show the output size and pixel size for the first ticked layer."""
        ids = self.checked_layer_ids()
        layer = QgsProject.instance().mapLayer(ids[0]) if ids else None
        if layer is None:
            self.info.setText(self.tr("Tick a layer to see the output size."))
            return
        geo = output_geometry(layer.width(), layer.height(), layer.rasterUnitsPerPixelX(),
                              layer.rasterUnitsPerPixelY(), self.spin.value())
        units = QgsUnitTypes.toAbbreviatedString(layer.crs().mapUnits()) \
            if layer.crs().isValid() else ""
        text = self.tr("{layer}: {geometry}").format(layer=layer.name(),
                                                       geometry=describe(geo, units))
        if len(ids) > 1:
            text += " " + self.tr("(+{count} more layers)").format(count=len(ids) - 1)
        card = self.card  # not read again on every slider step
        if card.get("note"):
            text += "\n" + self.tr("Model: {note}").format(note=card["note"])
        samples = 4 if self.uncertainty.isVisibleTo(self) and self.uncertainty.isChecked() else 1
        seconds = estimate_seconds(card.get("speed"), geo.width, geo.height, layer.bandCount(),
                                   self.spin.value(), samples)
        if seconds is not None:
            text += "\n" + self.tr("Time: {duration} on a 2-core CPU (less on a GPU)").format(
                duration=describe_duration(seconds))
        self.info.setText(text)

    # --- running ----------------------------------------------------------------------------

    def run(self) -> None:
        """Start one background arbsr:upscale task per ticked layer."""
        if any(job.ok is None for job in self.jobs):
            self._message(self.tr("ArbSR is still running; wait or press Cancel."),
                          Qgis.Warning)
            return
        state = self.state()
        problem = state.problem()
        if problem:
            self._message(problem, Qgis.Warning)
            return
        QgsProject.instance().writeEntry(PROJECT_SCOPE, PROJECT_KEY, state.to_json())
        registry = QgsApplication.processingRegistry()
        self.jobs = []
        taken: set[str] = set()  # output files of this Run: one per layer, never shared
        for layer_id in state.layer_ids:
            layer = QgsProject.instance().mapLayer(layer_id)
            if layer is None:
                continue
            alg = registry.createAlgorithmById(ALGORITHM)
            if alg is None:
                self._message(self.tr("The ArbSR Processing provider is not loaded; "
                                      "re-enable the plugin."), Qgis.Critical)
                return
            context = QgsProcessingContext()
            context.setProject(QgsProject.instance())
            feedback = _Feedback()
            task = QgsProcessingAlgRunnerTask(
                alg, state.parameters(layer_id, layer.name(), taken), context, feedback)
            job = Job(layer_id, layer.name(), state.scale, context, feedback, task)
            feedback.progressChanged.connect(lambda p, j=job: self._on_progress(j, p))
            task.executed.connect(lambda ok, res, j=job: self._on_executed(j, ok, res))
            self.jobs.append(job)
        if not self.jobs:
            return
        self.progress.setValue(0)
        self.run_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.status.setText(self.tr("Running {count} layer(s)…").format(count=len(self.jobs)))
        for job in self.jobs:
            QgsApplication.taskManager().addTask(job.task)

    def _on_progress(self, job: Job, value: float) -> None:
        job.progress = value
        self.progress.setValue(int(sum(j.progress for j in self.jobs) / max(len(self.jobs), 1)))

    def _on_executed(self, job: Job, ok: bool, results: dict) -> None:
        job.ok, job.results = bool(ok), dict(results or {})
        job.progress = 100.0
        if ok and job.results.get("OUTPUT"):
            self._add_result(job)
        elif job.feedback.isCanceled():
            self.status.setText(self.tr("Cancelled."))
        else:
            reason = job.feedback.errors[-1] if job.feedback.errors else self.tr("see the log")
            self._message(self.tr("ArbSR failed on '{layer}': {reason}").format(
                layer=job.layer_name, reason=reason), Qgis.Critical)
        if all(j.ok is not None for j in self.jobs):
            good = sum(1 for j in self.jobs if j.ok)
            bad = len(self.jobs) - good
            self.progress.setValue(100 if good else 0)
            self.run_button.setEnabled(True)
            self.cancel_button.setEnabled(False)
            if not any(j.feedback.isCanceled() for j in self.jobs):
                last = next((j.feedback.errors[-1] for j in reversed(self.jobs)
                             if not j.ok and j.feedback.errors), "")
                text = self.tr("Done: {good} ok, {bad} failed.").format(good=good, bad=bad)
                if last:
                    text += " " + self.tr("Last error: {error}").format(error=last)
                self.status.setText(text)
            self.finished.emit(good, bad)

    def _add_result(self, job: Job) -> None:
        source = QgsProject.instance().mapLayer(job.layer_id)
        name = f"{job.layer_name} ×{job.scale:g}"  # the scale this job ran with
        layer = QgsRasterLayer(job.results["OUTPUT"], name, "gdal")
        if not layer.isValid():
            self._message(self.tr("ArbSR wrote {path} but QGIS cannot open it.").format(
                path=job.results["OUTPUT"]), Qgis.Critical)
            return
        # Same bands and data type: the source's renderer (band mapping, stretch, ramp) fits.
        if source is not None and source.renderer() is not None \
                and source.bandCount() == layer.bandCount() \
                and source.dataProvider().dataType(1) == layer.dataProvider().dataType(1):
            layer.setRenderer(source.renderer().clone())
        project = QgsProject.instance()
        project.addMapLayer(layer, False)
        root = project.layerTreeRoot()
        group_name = self.tr("ArbSR results")
        group = root.findGroup(group_name) or root.insertGroup(0, group_name)
        group.addLayer(layer)
        std_path = job.results.get("UNCERTAINTY")
        if std_path:
            std = QgsRasterLayer(std_path, self.tr("{layer} uncertainty").format(layer=name),
                                 "gdal")
            if std.isValid():
                style_uncertainty(std)
                project.addMapLayer(std, False)
                group.addLayer(std)
        self.status.setText(self.tr("Added {layer}.").format(layer=name))

    def cancel_all(self) -> None:
        """Cancel every running job (the child processes end at once)."""
        for job in self.jobs:
            if job.ok is None:
                job.feedback.cancel()
                job.task.cancel()

    def _message(self, text: str, level) -> None:
        self.status.setText(text)
        bar = getattr(self.iface, "messageBar", None) if self.iface is not None else None
        if bar is not None:
            try:
                bar().pushMessage("ArbSR", text, level=level, duration=10)
            except (AttributeError, TypeError):
                pass

    def close_and_disconnect(self) -> None:
        """Plugin unload: stop listening to the project."""
        project = QgsProject.instance()
        for signal, slot in ((project.layersAdded, self.refresh_layers),
                             (project.layersRemoved, self.refresh_layers),
                             (project.readProject, self.restore_state)):
            try:
                signal.disconnect(slot)
            except TypeError:
                pass
        if self.provider is not None:
            try:
                self.provider.algorithmsLoaded.disconnect(self.refresh_models)
            except (TypeError, RuntimeError):  # already disconnected, or the provider is gone
                pass
            self.provider = None
        self.close()
