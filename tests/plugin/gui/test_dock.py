"""The dock driven programmatically: layers, slider/spin, Run as background tasks, results."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from qgis.core import QgsProject, QgsRasterLayer, QgsVectorLayer

from arbsr_qgis.gui.dock_state import (
    DockState,
    output_geometry,
    output_name,
    output_path,
    scale_to_slider,
    slider_to_scale,
)
from tests.plugin.conftest import needs_engine, wait_for


def test_slider_arithmetic():
    assert [slider_to_scale(v) for v in (10, 33, 80)] == [1.0, 3.3, 8.0]
    assert all(scale_to_slider(slider_to_scale(v)) == v for v in range(10, 81))
    assert scale_to_slider(100.0) == 80 and scale_to_slider(0.2) == 10
    geo = output_geometry(30, 20, 2.0, 2.0, 2.5)
    assert (geo.width, geo.height, geo.pixel_x) == (75, 50, 0.8)
    assert output_name("My ortho (2020)", 2.5) == "My_ortho_2020_x2.5.tif"
    state = DockState(layer_ids=["a"], scale=3.0, temporary=False, output_folder="")
    assert "folder" in state.problem()
    assert DockState.from_json(state.to_json()) == state
    assert DockState.from_json("garbage") == DockState()


@pytest.fixture
def dock(qgis_iface, qtbot, arbsr_provider):
    from arbsr_qgis.gui.dock import ArbsrDock

    widget = ArbsrDock(qgis_iface, None)
    widget.resize(320, 520)
    widget.show()
    qtbot.waitExposed(widget)
    yield widget
    widget.cancel_all()
    widget.close_and_disconnect()
    widget.deleteLater()


@pytest.fixture
def two_layers(small_tif, tmp_path):
    import shutil

    other = tmp_path / "second.tif"
    shutil.copy(small_tif, other)
    layers = [QgsRasterLayer(str(small_tif), "first"), QgsRasterLayer(str(other), "second")]
    assert all(layer.isValid() for layer in layers)
    QgsProject.instance().addMapLayers(layers)
    yield layers
    QgsProject.instance().removeAllMapLayers()
    root = QgsProject.instance().layerTreeRoot()
    for group in root.findGroups():
        root.removeChildNode(group)


def test_slider_and_spin_are_synced(dock, two_layers):
    dock.set_checked_layers([two_layers[0].id()])
    dock.slider.setValue(33)
    assert dock.spin.value() == pytest.approx(3.3)
    dock.spin.setValue(2.5)
    assert dock.slider.value() == 25
    assert "80 × 60 px" in dock.info.text() and "0.8 × 0.8" in dock.info.text()
    assert dock.layers.count() == 2  # both project rasters are offered


def run_and_wait(dock, timeout=180):
    result = {}
    dock.finished.connect(lambda good, bad: result.update(good=good, bad=bad))
    dock.run_button.click()
    wait_for(lambda: "good" in result, timeout)
    return result


def test_run_adds_results_in_a_group(dock, two_layers, fake_engine, tmp_path):
    dock.set_checked_layers([layer.id() for layer in two_layers])
    dock.slider.setValue(20)
    dock.temporary.setChecked(False)
    dock.folder.setFilePath(str(tmp_path / "out"))
    (tmp_path / "out").mkdir()
    assert run_and_wait(dock) == {"good": 2, "bad": 0}
    group = QgsProject.instance().layerTreeRoot().findGroup("ArbSR results")
    names = sorted(node.layer().name() for node in group.findLayers())
    assert names == ["first ×2", "second ×2"]
    for node in group.findLayers():
        assert node.layer().width() == 64 and node.layer().renderer().type() == \
            two_layers[0].renderer().type()
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["first_x2.tif",
                                                                    "second_x2.tif"]
    assert dock.progress.value() == 100 and dock.run_button.isEnabled()
    # the Run's settings are kept in the project and come back in a new dock
    from arbsr_qgis.gui.dock import ArbsrDock

    again = ArbsrDock(None, None)
    try:
        assert again.spin.value() == 2.0 and not again.temporary.isChecked()
        assert again.folder.filePath() == str(tmp_path / "out")
        assert set(again.checked_layer_ids()) == {layer.id() for layer in two_layers}
    finally:
        again.close_and_disconnect()
        again.deleteLater()


def test_failure_shows_in_message_bar(dock, two_layers, fake_engine, monkeypatch, qgis_iface):
    pushed = []

    class Bar:
        def pushMessage(self, title, text, level=None, duration=None):  # noqa: N802
            pushed.append((title, text, level))

    monkeypatch.setattr(qgis_iface, "messageBar", lambda: Bar(), raising=False)
    monkeypatch.setenv("FAKE_ENGINE_FAIL", "out of memory: use a smaller --tile")
    dock.set_checked_layers([two_layers[0].id()])
    assert run_and_wait(dock) == {"good": 0, "bad": 1}
    assert "out of memory: use a smaller --tile" in dock.status.text()
    from qgis.core import Qgis

    assert pushed and "out of memory: use a smaller --tile" in pushed[-1][1]
    assert pushed[-1][2] == Qgis.Critical


def test_cancel_from_the_dock(dock, two_layers, fake_engine, monkeypatch, tmp_path):
    monkeypatch.setenv("FAKE_ENGINE_SLEEP", "30")
    dock.set_checked_layers([two_layers[0].id()])
    dock.temporary.setChecked(False)
    dock.folder.setFilePath(str(tmp_path))
    result = {}
    dock.finished.connect(lambda good, bad: result.update(good=good, bad=bad))
    dock.run_button.click()
    wait_for(lambda: dock.jobs[0].progress > 0, 60)
    assert dock.cancel_button.isEnabled()
    dock.cancel_button.click()
    wait_for(lambda: "good" in result, 30)
    assert result == {"good": 0, "bad": 1} and dock.status.text() == "Cancelled."
    assert not list(tmp_path.glob("first_x*"))


@needs_engine
def test_run_real_engine(dock, two_layers):
    dock.set_checked_layers([two_layers[0].id()])
    dock.spin.setValue(1.5)
    dock.device.setCurrentText("cpu")
    assert run_and_wait(dock, 300) == {"good": 1, "bad": 0}
    group = QgsProject.instance().layerTreeRoot().findGroup("ArbSR results")
    (node,) = group.findLayers()
    assert (node.layer().width(), node.layer().height()) == (48, 36)


# --- outputs: own names, never a replaced file; result named after its job -----------------


def test_output_names_are_free_and_distinct(tmp_path):
    (tmp_path / "a_x2.tif").write_bytes(b"kept")
    (tmp_path / "a_x2_2.tif.aux.xml").write_text("<PAMDataset/>")  # a stale side-car
    taken: set[str] = set()
    first = output_path(str(tmp_path), "a", 2.0, taken)
    second = output_path(str(tmp_path), "a", 2.0, taken)
    assert (Path(first).name, Path(second).name) == ("a_x2_3.tif", "a_x2_4.tif")
    assert output_path(str(tmp_path), "b", 2.5, taken) == str(tmp_path / "b_x2.5.tif")
    assert output_path(None, "a", 2.0, taken) == "TEMPORARY_OUTPUT"
    params = DockState(layer_ids=["l"], temporary=False,
                       output_folder=str(tmp_path)).parameters("l", "a", taken)
    assert params["OVERWRITE"] is False and Path(params["OUTPUT"]).name == "a_x2_5.tif"


@pytest.fixture
def same_name_layers(small_tif, tmp_path):
    import shutil

    layers = []
    for i in range(2):
        copy = tmp_path / f"src{i}.tif"
        shutil.copy(small_tif, copy)
        layers.append(QgsRasterLayer(str(copy), "same"))
    QgsProject.instance().addMapLayers(layers)
    yield layers
    QgsProject.instance().removeAllMapLayers()
    root = QgsProject.instance().layerTreeRoot()
    for group in root.findGroups():
        root.removeChildNode(group)


def test_same_layer_names_and_existing_files_are_never_overwritten(dock, same_name_layers,
                                                                   fake_engine, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "same_x2.tif").write_bytes(b"an earlier result the user keeps")
    dock.set_checked_layers([layer.id() for layer in same_name_layers])
    dock.spin.setValue(2.0)
    dock.temporary.setChecked(False)
    dock.folder.setFilePath(str(out))
    assert run_and_wait(dock) == {"good": 2, "bad": 0}
    assert (out / "same_x2.tif").read_bytes() == b"an earlier result the user keeps"
    assert sorted(p.name for p in out.iterdir()) == ["same_x2.tif", "same_x2_2.tif",
                                                     "same_x2_3.tif"]
    group = QgsProject.instance().layerTreeRoot().findGroup("ArbSR results")
    results = [node.layer() for node in group.findLayers()]
    assert sorted(layer.source() for layer in results) == [str(out / "same_x2_2.tif"),
                                                           str(out / "same_x2_3.tif")]
    assert all(layer.isValid() and layer.width() == 64 for layer in results)


def test_result_is_named_after_the_scale_its_job_ran_with(dock, two_layers, fake_engine,
                                                         monkeypatch):
    monkeypatch.setenv("FAKE_ENGINE_SLEEP", "1.5")
    dock.set_checked_layers([two_layers[0].id()])
    dock.spin.setValue(2.0)
    result = {}
    dock.finished.connect(lambda good, bad: result.update(good=good, bad=bad))
    dock.run_button.click()
    wait_for(lambda: dock.jobs[0].progress > 0, 60)
    dock.spin.setValue(3.5)  # the user moves on while the job runs
    wait_for(lambda: "good" in result, 60)
    group = QgsProject.instance().layerTreeRoot().findGroup("ArbSR results")
    (node,) = group.findLayers()
    assert node.layer().name() == "first ×2" and node.layer().width() == 64


# --- which layers are ticked when the dock opens -------------------------------------------


class LayersPanel:
    def __init__(self, layers):
        self.layers = layers

    def selectedLayers(self):  # noqa: N802
        return self.layers


@pytest.fixture
def fresh_project():
    project = QgsProject.instance()
    project.removeEntry("ArbSR", "dock_state")  # no saved Run to restore
    yield project
    project.removeAllMapLayers()


def new_dock(iface):
    from arbsr_qgis.gui.dock import ArbsrDock

    return ArbsrDock(iface, None)


def test_dock_ticks_the_active_and_selected_rasters(qgis_iface, arbsr_provider, small_tif,
                                                    fresh_project, monkeypatch):
    rasters = [QgsRasterLayer(str(small_tif), name) for name in ("active", "selected", "other")]
    vector = QgsVectorLayer("Point?crs=EPSG:4326", "points", "memory")
    fresh_project.addMapLayers([*rasters, vector])
    monkeypatch.setattr(qgis_iface, "activeLayer", lambda: rasters[0])
    monkeypatch.setattr(qgis_iface, "layerTreeView",
                        lambda: LayersPanel([rasters[1], vector]), raising=False)
    dock = new_dock(qgis_iface)
    try:
        assert set(dock.checked_layer_ids()) == {rasters[0].id(), rasters[1].id()}
        assert dock.state().problem() is None  # Run can start at once
        # nothing ticked when the dock is shown again: the current layers are ticked
        dock.set_checked_layers([])
        monkeypatch.setattr(qgis_iface, "activeLayer", lambda: rasters[2])
        monkeypatch.setattr(qgis_iface, "layerTreeView", lambda: LayersPanel([]), raising=False)
        dock.show()
        assert dock.checked_layer_ids() == [rasters[2].id()]
        # the user's own ticks are left alone
        dock.hide()
        dock.set_checked_layers([rasters[1].id()])
        dock.show()
        assert dock.checked_layer_ids() == [rasters[1].id()]
    finally:
        dock.close_and_disconnect()
        dock.deleteLater()


def test_dock_ticks_the_only_raster(qgis_iface, arbsr_provider, small_tif, fresh_project,
                                    monkeypatch):
    monkeypatch.setattr(qgis_iface, "activeLayer", lambda: None)
    monkeypatch.setattr(qgis_iface, "layerTreeView", lambda: LayersPanel([]), raising=False)
    dock = new_dock(qgis_iface)  # opened before any layer is loaded
    try:
        assert dock.checked_layer_ids() == []
        layer = QgsRasterLayer(str(small_tif), "only")
        fresh_project.addMapLayer(layer)
        assert dock.checked_layer_ids() == [layer.id()]
    finally:
        dock.close_and_disconnect()
        dock.deleteLater()


def test_dock_opens_without_waiting_for_the_engine(qgis_iface, arbsr_provider, hanging_python):
    start = time.monotonic()
    dock = new_dock(qgis_iface)
    try:
        seconds = time.monotonic() - start
        assert seconds < 1.0, f"creating the dock took {seconds:.1f} s"
        models = [dock.model.itemText(i) for i in range(dock.model.count())]
        assert models[0] == "default" and "moe" in models
    finally:
        dock.close_and_disconnect()
        dock.deleteLater()


# --- diffusion controls: detail slider and uncertainty layer ---------------------------------


def test_diffusion_controls_follow_the_model(dock):
    dock.model.setCurrentText("default")
    assert not dock.detail.isVisibleTo(dock) and not dock.uncertainty.isVisibleTo(dock)
    assert dock.state().detail is None and not dock.state().uncertainty
    dock.model.setCurrentText("moe")
    assert dock.detail.isVisibleTo(dock) and dock.uncertainty.isVisibleTo(dock)
    card = dock.model_card()
    assert dock.detail.value() == round(card["options"]["temperature"] * 100)
    dock.detail.setValue(30)
    dock.uncertainty.setChecked(True)
    params = dock.state().parameters("id", "ortho", set())
    assert params["TEMPERATURE"] == 0.3 and params["UNCERTAINTY"] == "TEMPORARY_OUTPUT"


def test_uncertainty_layer_from_the_dock(dock, two_layers, tmp_path):
    dock.set_checked_layers([two_layers[0].id()])
    dock.model.setCurrentText("moe")
    dock.spin.setValue(2.0)
    dock.device.setCurrentText("cpu")
    dock.uncertainty.setChecked(True)
    dock.temporary.setChecked(False)
    dock.folder.setFilePath(str(tmp_path))
    assert run_and_wait(dock, 600) == {"good": 1, "bad": 0}
    group = QgsProject.instance().layerTreeRoot().findGroup("ArbSR results")
    layers = {node.layer().name(): node.layer() for node in group.findLayers()}
    assert set(layers) == {"first ×2", "first ×2 uncertainty"}
    std = layers["first ×2 uncertainty"]
    assert std.source() == str(tmp_path / "first_x2_std.tif")
    assert (std.width(), std.height()) == (layers["first ×2"].width(),
                                           layers["first ×2"].height())
    assert std.renderer().type() == "singlebandpseudocolor"


def test_time_estimate_from_the_card_bench_figures():
    from arbsr_qgis.gui.dock_state import describe_duration, estimate_seconds

    speed = {"x2": 2.0, "x4": 4.0}
    assert estimate_seconds(speed, 1000, 1000, 1, 2.0) == pytest.approx(0.5)
    assert estimate_seconds(speed, 1000, 1000, 1, 3.0) == pytest.approx(1 / 3)  # 3 MPix/s
    assert estimate_seconds(speed, 1000, 1000, 4, 8.0, samples=2) == pytest.approx(2.0)
    assert estimate_seconds(None, 10, 10, 1, 2.0) is None
    assert estimate_seconds({"x2": 0, "x4": 0}, 10, 10, 1, 2.0) is None
    assert describe_duration(40) == "about 40 s" and describe_duration(600) == "about 10 min"
    assert describe_duration(7200) == "about 2.0 h"


def test_dock_shows_the_estimated_time(dock, two_layers):
    dock.set_checked_layers([two_layers[0].id()])
    dock.model.setCurrentText("default")
    card = dock.model_card()
    assert card["name"] == "lmlte-default" and card["speed"]["x2"] > 0
    assert "Time: about" in dock.info.text()
    dock.model.setCurrentText("moe")
    dock.spin.setValue(8.0)
    dock.uncertainty.setChecked(False)
    one = dock.info.text()
    dock.uncertainty.setChecked(True)
    assert dock.info.text() != one  # four samples take longer
