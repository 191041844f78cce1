"""``arbsr:upscale``: super-resolve a raster layer by any scale (or to a target pixel size)."""

from __future__ import annotations

import os

from qgis.core import (
    QgsProcessingException,
    QgsProcessingParameterBand,
    QgsProcessingParameterDefinition,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterDestination,
    QgsProcessingParameterRasterLayer,
)

from arbsr_qgis.algorithms.base import EngineAlgorithm

MIN_SCALE, MAX_SCALE = 1.0, 32.0


class UpscaleAlgorithm(EngineAlgorithm):
    """INPUT raster -> OUTPUT GeoTIFF with out_w = round(w * SCALE), same extent and CRS."""

    INPUT = "INPUT"
    SCALE = "SCALE"
    TARGET_RESOLUTION = "TARGET_RESOLUTION"
    BANDS = "BANDS"
    SEED = "SEED"
    STEPS = "STEPS"
    OUTPUT = "OUTPUT"

    def name(self):
        return "upscale"

    def displayName(self):  # noqa: N802
        return self.tr("Super-resolve raster (arbitrary scale)")

    def shortHelpString(self):  # noqa: N802
        return self.tr(
            "Upscales a raster layer with a learned super-resolution model (default: the bundled "
            "LMLTE model) by any factor, fractional included.\n\n"
            "<b>Scale</b>: output width = round(width × scale); the extent and CRS are kept "
            "exactly, so the pixel size becomes input pixel size / scale. "
            "<b>Target resolution</b> (map units), when set, replaces the scale and picks the "
            "factor that gives that pixel size.\n"
            "<b>Bands</b>: all bands when empty. Data type, nodata and band metadata are kept.\n"
            "<b>Model</b>: a registered model, or 'custom checkpoint file' with a .pth/.ckpt/.pt/"
            ".onnx file in Checkpoint. Diffusion models also use Seed and Steps (advanced).\n"
            "<b>Device</b>: auto uses CUDA when present. <b>Tile size</b> bounds memory; the "
            "result does not depend on it.\n\n"
            "The work runs in a separate Python process (Processing options > Providers > "
            "ArbSR > Engine Python); Cancel stops it at once and leaves no output file. "
            "Layers that are not files (WMS, databases, memory) are exported to a temporary "
            "GeoTIFF first.")

    def initAlgorithm(self, config=None):  # noqa: N802
        self.addParameter(QgsProcessingParameterRasterLayer(self.INPUT, self.tr("Input raster")))
        self.add_model_parameters()
        self.addParameter(QgsProcessingParameterNumber(
            self.SCALE, self.tr("Scale factor"), type=QgsProcessingParameterNumber.Double,
            defaultValue=2.0, minValue=MIN_SCALE, maxValue=MAX_SCALE))
        self.addParameter(QgsProcessingParameterNumber(
            self.TARGET_RESOLUTION, self.tr("Target pixel size in map units (replaces the scale)"),
            type=QgsProcessingParameterNumber.Double, optional=True, minValue=0.0))
        self.addParameter(QgsProcessingParameterBand(
            self.BANDS, self.tr("Bands (all when empty)"), parentLayerParameterName=self.INPUT,
            optional=True, allowMultiple=True))
        self.add_device_parameters()
        for pid, label in ((self.SEED, "Random seed (diffusion models)"),
                           (self.STEPS, "Sampling steps (diffusion models; empty: model default)")):
            p = QgsProcessingParameterNumber(pid, self.tr(label),
                                             type=QgsProcessingParameterNumber.Integer,
                                             optional=True, minValue=0)
            p.setFlags(p.flags() | QgsProcessingParameterDefinition.FlagAdvanced)
            self.addParameter(p)
        self.addParameter(QgsProcessingParameterRasterDestination(
            self.OUTPUT, self.tr("Super-resolved raster")))

    def engine_command(self):
        return "upscale"

    def engine_args(self, parameters, context, feedback, executing):
        layer = self.parameterAsRasterLayer(parameters, self.INPUT, context)
        if layer is None:
            raise QgsProcessingException(self.invalidRasterError(parameters, self.INPUT))
        src = self.input_file(layer, context, feedback, executing)
        out = self.output_path(parameters, self.OUTPUT, context)
        args = [src, out]
        resolution = self.parameterAsDouble(parameters, self.TARGET_RESOLUTION, context)
        if parameters.get(self.TARGET_RESOLUTION) not in (None, "") and resolution > 0:
            args += ["--resolution", repr(resolution)]
        else:
            args += ["--scale", repr(self.parameterAsDouble(parameters, self.SCALE, context))]
        args += self.model_args(parameters, context)
        bands = self.parameterAsInts(parameters, self.BANDS, context)
        if bands:
            args += ["--bands", ",".join(str(b) for b in bands)]
        args += self.device_args(parameters, context)
        for pid, flag in ((self.SEED, "--seed"), (self.STEPS, "--steps")):
            if parameters.get(pid) not in (None, ""):
                args += [flag, str(self.parameterAsInt(parameters, pid, context))]
        # QGIS asked the user before choosing an existing destination; the engine still writes
        # to a temporary file and renames at the end, so a failed run never clobbers it.
        args.append("--overwrite")
        return args

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        argv = self.build_argv(parameters, context, feedback, executing=True)
        out = self.output_path(parameters, self.OUTPUT, context)
        existed = os.path.exists(out)
        result = self.run_engine(argv, feedback, cleanup=() if existed else (out,))
        written = result.done.get("output") or out
        if not os.path.isfile(written):
            raise QgsProcessingException(self.tr(f"The engine reported success but {written} "
                                                 "does not exist."))
        return {self.OUTPUT: written}
