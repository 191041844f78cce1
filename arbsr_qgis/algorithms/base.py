"""EngineAlgorithm: a Processing algorithm whose work is one ``python -m engine …`` child process.

Subclasses define :meth:`engine_command` and :meth:`engine_args`; :meth:`build_argv` turns them
into the full argv (used both to run and for the command preview, so the two never differ) and
:meth:`run_engine` runs it, forwarding progress to the feedback and turning engine failures into
``QgsProcessingException`` with the engine's one-line message. Nothing is kept on ``self``
during ``processAlgorithm``: batch runs and tasks execute instances in parallel.

Translations: ``self.tr("literal")`` is looked up under the name of the class whose code calls it
(the context pylupdate5 records), so strings of this base class and of each algorithm both
translate. Placeholders are filled after translation: ``self.tr("... {name} ...").format(...)``.
"""

from __future__ import annotations

import os
import shlex
from pathlib import Path
from typing import Any

from qgis.core import (
    QgsProcessingAlgorithm,
    QgsProcessingException,
    QgsProcessingParameterDefinition,
    QgsProcessingParameterEnum,
    QgsProcessingParameterFile,
    QgsProcessingParameterNumber,
    QgsProcessingUtils,
    QgsRasterFileWriter,
    QgsRasterLayer,
    QgsRasterPipe,
)
from qgis.PyQt.QtCore import QCoreApplication
from qgis.PyQt.QtGui import QIcon

from arbsr_qgis import engine_client, settings

ICON = Path(__file__).resolve().parents[1] / "icons" / "arbsr.svg"
#: Enum entries that are not registered model names.
DEFAULT_MODEL = "default"
CUSTOM_MODEL = "custom checkpoint file"
CHECKPOINT_FILTER = "Model files (*.pth *.pt *.ckpt *.safetensors *.onnx);;All files (*)"


def icon_path() -> Path:
    """The plugin icon: ``arbsr_qgis/icons`` when installed, ``resources/icons`` in a checkout."""
    here = Path(__file__).resolve().parents[1]
    for candidate in (here / "icons" / "arbsr.svg",
                      here / "resources" / "icons" / "arbsr.svg",
                      here.parent / "resources" / "icons" / "arbsr.svg"):
        if candidate.is_file():
            return candidate
    return ICON


def engine_python() -> str:
    """The interpreter for the child: $ARBSR_PYTHON, setting, checkout venv, python3."""
    return engine_client.find_interpreter(settings.engine_python())


def model_names(include_demonstration: bool | None = None) -> list[str]:
    """Registered model names, for the MODEL lists: read from the model cards, never by running
    the engine (the provider loads on QGIS's GUI thread and in every qgis_process call).

    Models whose card says ``"demonstration": true`` (weights that do not beat GDAL cubic) are
    left out unless ``include_demonstration`` or, when it is None, the "Show demonstration
    models" setting asks for them.
    """
    if include_demonstration is None:
        include_demonstration = settings.show_demonstration_models()
    try:
        models = engine_client.list_models(models_dir=settings.models_dir())
    except Exception:  # noqa: BLE001 - the list is a convenience; never break provider loading
        models = []
    names = []
    for m in models:
        if m.get("demonstration") is True and not include_demonstration:
            continue
        if m.get("name") and m["name"] not in names:
            names.append(str(m["name"]))
    return names


def model_notes() -> dict[str, str]:
    """Each listed model's one-line trade-off (the card's ``note``: "best quality, about 6
    times slower than default", ...), for the MODEL help and the dock."""
    try:
        models = engine_client.list_models(models_dir=settings.models_dir())
    except Exception:  # noqa: BLE001 - as in model_names: never break provider loading
        models = []
    notes: dict[str, str] = {}
    for m in models:
        if m.get("name") and isinstance(m.get("note"), str) and m["name"] not in notes:
            notes[str(m["name"])] = m["note"]
    return notes


class EngineAlgorithm(QgsProcessingAlgorithm):
    """Base class of the ArbSR algorithms (see module docstring)."""

    MODEL = "MODEL"
    CHECKPOINT = "CHECKPOINT"
    DEVICE = "DEVICE"
    TILE_SIZE = "TILE_SIZE"

    #: ``qgis_process`` command lines shown at the end of the help (not translated).
    EXAMPLES: tuple[str, ...] = ()

    # --- QGIS boilerplate -------------------------------------------------------------------

    def tr(self, text: str) -> str:
        """Translate ``text`` (a literal at the call site; see the module docstring)."""
        for klass in type(self).__mro__:
            translated = QCoreApplication.translate(klass.__name__, text)
            if translated != text or klass is EngineAlgorithm:
                return translated
        return text

    def with_examples(self, text: str) -> str:
        """The help text, the listed models' trade-offs (their cards' notes) and the
        algorithm's ``qgis_process`` examples."""
        parts = [text]
        notes = model_notes()
        lines = [f"{name}: {notes[name]}" for name in model_names() if name in notes]
        if lines:
            parts.append("\n".join([self.tr("Models (MODEL) and their trade-offs:"), *lines]))
        if self.EXAMPLES:
            parts += [self.tr(
                "Example from a shell (on Debian's QGIS 3.22 the program is qgis_process.bin; "
                "run 'qgis_process help {alg}' for every parameter):").format(
                    alg=f"arbsr:{self.name()}"), *self.EXAMPLES]
        return "\n\n".join(parts)

    def add_parameter(self, param, help_text: str, advanced: bool = False):
        """Add ``param`` with its help (the tooltip, and the text of ``qgis_process help``)."""
        param.setHelp(help_text)
        if advanced:
            param.setFlags(param.flags() | QgsProcessingParameterDefinition.FlagAdvanced)
        self.addParameter(param)
        return param

    def createInstance(self):  # noqa: N802
        return type(self)()

    def icon(self):
        return QIcon(str(icon_path()))

    def group(self):
        return ""

    def groupId(self):  # noqa: N802
        return ""

    # --- shared parameters ------------------------------------------------------------------

    def add_model_parameters(self) -> None:
        """MODEL (registered names + custom file) and CHECKPOINT (optional file)."""
        options = [DEFAULT_MODEL, *[n for n in model_names() if n != DEFAULT_MODEL], CUSTOM_MODEL]
        self.add_parameter(QgsProcessingParameterEnum(
            self.MODEL, self.tr("Model"), options=options, defaultValue=DEFAULT_MODEL,
            usesStaticStrings=True), self.tr(
            "A registered model ('default' is the bundled LMLTE model; 'python -m engine "
            "models' lists them all, with their bands and scale range), or 'custom checkpoint "
            "file' to use the file given in Checkpoint. From qgis_process, give the name, "
            "e.g. MODEL=moe. Demonstration models (weights that do not beat GDAL cubic) are "
            "listed only when Settings > Options > ArbSR asks for them, but their names "
            "always work."))
        self.add_parameter(QgsProcessingParameterFile(
            self.CHECKPOINT, self.tr("Checkpoint or exported model file (with MODEL = custom)"),
            behavior=QgsProcessingParameterFile.File, optional=True,
            fileFilter=CHECKPOINT_FILTER), self.tr(
            "A checkpoint (.pth, .ckpt, .safetensors: official LMF/LDCSR files or ones trained "
            "with ArbSR) or an exported model (.pt TorchScript, .onnx). When given, it is used "
            "whatever Model says."))

    def add_device_parameters(self) -> None:
        """DEVICE (auto/cpu/cuda) and the advanced TILE_SIZE (0 = plugin setting)."""
        self.add_parameter(self.device_parameter(), self.device_help())
        self.add_parameter(QgsProcessingParameterNumber(
            self.TILE_SIZE,
            self.tr("Tile size in pixels (0 = ArbSR setting, else the engine's choice)"),
            type=QgsProcessingParameterNumber.Integer, defaultValue=0, minValue=0,
            maxValue=16384), self.tr(
            "The raster is processed in tiles of this many pixels (with overlap), which bounds "
            "memory; the result does not depend on it. 0 uses the default tile size of "
            "Processing options > Providers > ArbSR, and when that is 0 too the engine "
            "chooses (it halves the tile by itself when memory runs out)."), advanced=True)

    def device_parameter(self) -> QgsProcessingParameterEnum:
        """DEVICE: auto, cpu or cuda; default from the ArbSR settings."""
        return QgsProcessingParameterEnum(
            self.DEVICE, self.tr("Device"), options=list(settings.DEVICES),
            defaultValue=settings.default_device(), usesStaticStrings=True)

    def device_help(self) -> str:
        return self.tr(
            "auto uses the GPU (CUDA) when the engine Python has a CUDA build of PyTorch, else "
            "the CPU; cuda fails with a clear message when no GPU is usable. The default comes "
            "from Processing options > Providers > ArbSR.")

    def hidden_model(self, parameters, context) -> str | None:
        """MODEL when it names a registered model that the list hides (a demonstration model
        named in a script, a saved model or a batch file), else None."""
        given = self.parameterAsString(parameters, self.MODEL, context)
        definition = self.parameterDefinition(self.MODEL)
        if not given or definition is None or given in definition.options():
            return None
        return given if given in model_names(include_demonstration=True) else None

    def model_choice(self, parameters, context) -> str:
        """The MODEL value: an entry of the list or a registered model the list hides.

        An index or a name that is neither never reaches this point (Processing refuses it in
        :meth:`checkParameterValues`), so no run silently falls back to another model.
        """
        return self.hidden_model(parameters, context) or self.parameterAsEnumString(
            parameters, self.MODEL, context)

    def checkParameterValues(self, parameters, context):  # noqa: N802
        """Processing's checks, with MODEL also accepting the name of a registered model that
        the list hides: hiding demonstration models must not break scripts that name them."""
        if self.hidden_model(parameters, context):
            definition = self.parameterDefinition(self.MODEL)
            parameters = {**parameters, self.MODEL: definition.defaultValue()}
        return super().checkParameterValues(parameters, context)

    def model_args(self, parameters, context) -> list[str]:
        """``--model NAME|PATH`` (nothing for the bundled default)."""
        model = self.model_choice(parameters, context) or DEFAULT_MODEL
        checkpoint = self.parameterAsFile(parameters, self.CHECKPOINT, context)
        if checkpoint:
            return ["--model", checkpoint]
        if model == CUSTOM_MODEL:
            raise QgsProcessingException(self.tr(
                "MODEL is 'custom checkpoint file' but no CHECKPOINT was given: choose the "
                ".pth/.ckpt/.pt/.onnx file, or pick a registered model."))
        return [] if model == DEFAULT_MODEL else ["--model", model]

    def device_args(self, parameters, context) -> list[str]:
        """``--device D --tile N``."""
        device = self.parameterAsEnumString(parameters, self.DEVICE, context) or "auto"
        tile = self.parameterAsInt(parameters, self.TILE_SIZE, context) or settings.default_tile()
        args = ["--device", device]
        if tile:
            args += ["--tile", str(tile)]
        return args

    def input_file(self, layer: QgsRasterLayer, context, feedback, executing: bool) -> str:
        """A GDAL-readable file for ``layer``: its source, or a temporary GeoTIFF export."""
        source = layer.source()
        path = source.split("|")[0]
        if layer.providerType() == "gdal" and os.path.isfile(path):
            return path
        if layer.providerType() == "gdal" and not os.path.isfile(path):
            return source  # GDAL connection strings (/vsicurl/, PG:…) are readable as they are
        if not executing:
            return self.tr("<{layer} exported to a temporary GeoTIFF>").format(
                layer=layer.name())
        out = QgsProcessingUtils.generateTempFilename(f"{layer.name() or 'input'}.tif")
        if feedback is not None:
            feedback.pushInfo(self.tr("Exporting '{layer}' ({provider}) to {path}").format(
                layer=layer.name(), provider=layer.providerType(), path=out))
        provider = layer.dataProvider()
        pipe = QgsRasterPipe()
        if not pipe.set(provider.clone()):
            raise QgsProcessingException(self.tr("Cannot read layer '{layer}'.").format(
                layer=layer.name()))
        writer = QgsRasterFileWriter(out)
        writer.setOutputFormat("GTiff")
        err = writer.writeRaster(pipe, provider.xSize() or layer.width(),
                                 provider.ySize() or layer.height(), provider.extent(),
                                 provider.crs(), context.transformContext())
        if err != QgsRasterFileWriter.NoError:
            raise QgsProcessingException(self.tr(
                "Could not export layer '{layer}' to a GeoTIFF (error {error}): save it as a "
                "GeoTIFF first (Export > Save As).").format(layer=layer.name(), error=err))
        return out

    # --- argv and running -------------------------------------------------------------------

    def engine_command(self) -> str:
        """The engine subcommand (upscale, evaluate, train)."""
        raise NotImplementedError

    def engine_args(self, parameters, context, feedback, executing: bool) -> list[str]:
        """Subcommand arguments (without interpreter, ``-m engine`` or ``--progress``)."""
        raise NotImplementedError

    def build_argv(self, parameters, context, feedback=None, executing: bool = True) -> list[str]:
        """Full argv of the engine call; ``executing=False`` builds it without side effects."""
        return engine_client.build_argv(
            engine_python(), self.engine_command(),
            self.engine_args(parameters, context, feedback, executing))

    def command_line(self, parameters, context) -> str:
        """The engine command as a shell line (preview; never used to run)."""
        return " ".join(shlex.quote(a) for a in self.build_argv(parameters, context,
                                                                executing=False))

    def run_engine(self, argv: list[str], feedback, cleanup: tuple[str, ...] = ()
                   ) -> engine_client.EngineResult:
        """Run ``argv``; engine errors -> QgsProcessingException; cancel removes ``cleanup``."""
        feedback.pushCommandInfo(" ".join(shlex.quote(a) for a in argv))
        extra = {"ARBSR_MODELS_DIR": settings.models_dir()} if settings.models_dir() else None
        try:
            return engine_client.run_engine(argv, feedback, env=extra)
        except engine_client.EngineCancelled:
            self._remove(cleanup)
            raise QgsProcessingException(self.tr("Cancelled: no output was written."))
        except engine_client.EngineFailure as exc:
            self._remove(cleanup)
            raise QgsProcessingException(str(exc))

    @staticmethod
    def _remove(paths: tuple[str, ...]) -> None:
        for path in paths:
            try:
                os.remove(path)
            except OSError:
                pass

    def output_path(self, parameters, name: str, context) -> str:
        """Output destination path; GeoTIFF only (the engine writes GeoTIFF)."""
        out = self.parameterAsOutputLayer(parameters, name, context)
        if not out.lower().endswith((".tif", ".tiff")):
            raise QgsProcessingException(self.tr(
                "ArbSR writes GeoTIFF: give {parameter} a .tif file name (got {path}).").format(
                    parameter=name, path=out))
        return out

    @staticmethod
    def results_of(result: engine_client.EngineResult) -> dict[str, Any]:
        """The engine's ``done`` results (empty dict when none)."""
        return result.results
