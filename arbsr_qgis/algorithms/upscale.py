"""``arbsr:upscale``: super-resolve a raster layer by any scale (or to a target pixel size)."""

from __future__ import annotations

import os

from qgis.core import (
    QgsProcessingException,
    QgsProcessingParameterBand,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterDefinition,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterDestination,
    QgsProcessingParameterRasterLayer,
    QgsProcessingParameterString,
)

from arbsr_qgis import settings
from arbsr_qgis.algorithms.base import EngineAlgorithm
from arbsr_qgis.uncertainty_style import UncertaintyStyle

MIN_SCALE, MAX_SCALE = 1.0, 32.0


class UpscaleAlgorithm(EngineAlgorithm):
    """INPUT raster -> OUTPUT GeoTIFF with out_w = round(w * SCALE), same extent and CRS."""

    INPUT = "INPUT"
    SCALE = "SCALE"
    TARGET_RESOLUTION = "TARGET_RESOLUTION"
    BANDS = "BANDS"
    SEED = "SEED"
    STEPS = "STEPS"
    TEMPERATURE = "TEMPERATURE"
    SAMPLES = "SAMPLES"
    WORKERS = "WORKERS"
    RAY_ADDRESS = "RAY_ADDRESS"
    OVERWRITE = "OVERWRITE"
    OUTPUT = "OUTPUT"
    UNCERTAINTY = "UNCERTAINTY"

    EXAMPLES = (
        "qgis_process run arbsr:upscale -- INPUT=ortho.tif SCALE=2.5 OUTPUT=ortho_x2.5.tif",
        "qgis_process run arbsr:upscale -- INPUT=scene.tif TARGET_RESOLUTION=0.5 MODEL=moe "
        "SEED=7 DEVICE=cuda OUTPUT=scene_50cm.tif",
        "qgis_process run arbsr:upscale -- INPUT=scene.tif SCALE=4 MODEL=moe TEMPERATURE=0.5 "
        "SAMPLES=4 UNCERTAINTY=scene_x4_std.tif OUTPUT=scene_x4.tif",
    )

    def name(self):
        return "upscale"

    def displayName(self):  # noqa: N802
        return self.tr("Super-resolve raster (arbitrary scale)")

    def shortHelpString(self):  # noqa: N802
        return self.with_examples(self.tr(
            "Upscales a raster layer with a learned super-resolution model (default: the bundled "
            "LMLTE model) by any factor, fractional included.\n\n"
            "<b>Scale</b>: output width = round(width × scale); the extent and CRS are kept "
            "exactly, so the pixel size becomes input pixel size / scale. "
            "<b>Target resolution</b> (map units), when set, replaces the scale and picks the "
            "factor that gives that pixel size.\n"
            "<b>Bands</b>: all bands when empty. Data type, nodata and band metadata are kept.\n"
            "<b>Model</b>: a registered model, or 'custom checkpoint file' with a .pth/.ckpt/.pt/"
            ".onnx file in Checkpoint. Diffusion models also use Seed, Steps and Detail "
            "(advanced), and can write an <b>Uncertainty layer</b>: the per-pixel standard "
            "deviation over several samples, in the output's units.\n"
            "<b>Device</b>: auto uses CUDA when present. <b>Tile size</b> bounds memory; the "
            "result does not depend on it. <b>Workers</b> and <b>Ray address</b> (advanced) "
            "spread the work over several processes or a Ray cluster; the pixels are the same.\n\n"
            "The work runs in a separate Python process (Processing options > Providers > "
            "ArbSR > Engine Python); Cancel stops it at once and leaves no output file. "
            "Layers that are not files (WMS, databases, memory) are exported to a temporary "
            "GeoTIFF first."))

    def initAlgorithm(self, config=None):  # noqa: N802
        self.add_parameter(QgsProcessingParameterRasterLayer(
            self.INPUT, self.tr("Input raster")), self.tr(
            "The raster to super-resolve: any layer or file GDAL can read, any band count and "
            "data type. Layers that are not files (WMS, databases, memory) are exported to a "
            "temporary GeoTIFF first."))
        self.add_model_parameters()
        self.add_parameter(QgsProcessingParameterNumber(
            self.SCALE, self.tr("Scale factor"), type=QgsProcessingParameterNumber.Double,
            defaultValue=2.0, minValue=MIN_SCALE, maxValue=MAX_SCALE), self.tr(
            "Output width = round(input width × scale), and the same for the height; fractions "
            "are allowed (e.g. 2.5). The extent and CRS are kept exactly, so the pixel size is "
            "the input pixel size divided by the scale."))
        self.add_parameter(QgsProcessingParameterNumber(
            self.TARGET_RESOLUTION, self.tr("Target pixel size in map units (replaces the scale)"),
            type=QgsProcessingParameterNumber.Double, optional=True, minValue=0.0), self.tr(
            "The output pixel size in the layer's map units (e.g. 0.5 for 50 cm in a metric "
            "CRS). When set, it replaces Scale factor: the scale is input pixel size / target."))
        self.add_parameter(QgsProcessingParameterBand(
            self.BANDS, self.tr("Bands (all when empty)"), parentLayerParameterName=self.INPUT,
            optional=True, allowMultiple=True), self.tr(
            "The bands to super-resolve and write, in this order; all bands when empty. "
            "From qgis_process: BANDS=1 BANDS=3."))
        self.add_device_parameters()
        self.add_parameter(QgsProcessingParameterNumber(
            self.SEED, self.tr("Random seed (diffusion models)"),
            type=QgsProcessingParameterNumber.Integer, optional=True, minValue=0), self.tr(
            "Seed of the sampling noise of diffusion models (ldcsr, moe): the same seed gives "
            "the same pixels. Empty: the engine's default seed. LMLTE models ignore it."),
            advanced=True)
        self.add_parameter(QgsProcessingParameterNumber(
            self.STEPS, self.tr("Sampling steps (diffusion models; empty: model default)"),
            type=QgsProcessingParameterNumber.Integer, optional=True, minValue=0), self.tr(
            "Number of denoising steps of diffusion models; empty uses the model's own "
            "default. More steps take longer. LMLTE models ignore it."), advanced=True)
        self.add_parameter(QgsProcessingParameterNumber(
            self.TEMPERATURE, self.tr("Detail (diffusion temperature, 0-1; empty: model default)"),
            type=QgsProcessingParameterNumber.Double, optional=True, minValue=0.0,
            maxValue=1.0), self.tr(
            "How much fine detail the moe diffusion model draws: 0 is deterministic and closest "
            "to the truth on average (as close as the default model); higher values "
            "add finer, partly invented detail. Empty: the model card's default. Only for "
            "models with a detail control (moe)."), advanced=True)
        self.add_parameter(QgsProcessingParameterNumber(
            self.SAMPLES, self.tr("Samples for the uncertainty layer"),
            type=QgsProcessingParameterNumber.Integer, defaultValue=4, minValue=2), self.tr(
            "How many samples the uncertainty layer is computed from (at least 2). Each sample "
            "costs one more run of the model. Used only when an uncertainty layer is written."),
            advanced=True)
        self.add_parameter(QgsProcessingParameterNumber(
            self.WORKERS, self.tr("Worker processes"), type=QgsProcessingParameterNumber.Integer,
            defaultValue=settings.default_workers(), minValue=1), self.tr(
            "Number of processes that super-resolve blocks of the raster in parallel on this "
            "computer, or of Ray workers when a Ray address is given. The pixels do not depend "
            "on it. 1 = a single process. The default comes from Processing options > "
            "Providers > ArbSR."), advanced=True)
        self.add_parameter(QgsProcessingParameterString(
            self.RAY_ADDRESS, self.tr("Ray cluster address (empty = this computer)"),
            defaultValue=settings.default_ray_address(), optional=True), self.tr(
            "Empty: run on this computer. 'local': start a private Ray cluster on this "
            "computer for this job. 'auto', 'host:port' or 'ray://host:10001': run on that "
            "Ray cluster; its workers must reach the input and output paths (a shared file "
            "system or /vsi URLs). The default comes from Processing options > Providers > "
            "ArbSR."), advanced=True)
        overwrite = self.add_parameter(QgsProcessingParameterBoolean(
            self.OVERWRITE, self.tr("Replace an existing output file"), defaultValue=True),
            self.tr(
            "True (the default): an existing OUTPUT file is replaced once the new one is "
            "complete, as for other Processing algorithms. False: the run fails instead of "
            "replacing a file (the ArbSR dock uses this)."))
        overwrite.setFlags(overwrite.flags() | QgsProcessingParameterDefinition.FlagHidden)
        self.add_parameter(QgsProcessingParameterRasterDestination(
            self.OUTPUT, self.tr("Super-resolved raster")), self.tr(
            "The GeoTIFF to write (.tif). It is written under a temporary name and renamed "
            "when complete: a failed or cancelled run leaves no file."))
        self.add_parameter(QgsProcessingParameterRasterDestination(
            self.UNCERTAINTY, self.tr("Uncertainty layer (diffusion models)"), optional=True,
            createByDefault=False), self.tr(
            "Optional Float32 GeoTIFF on the output's grid: per band, the per-pixel standard "
            "deviation over the samples, in the output's data units (nodata where the output "
            "is nodata). High values mark detail the model is unsure of. Needs a diffusion "
            "model (moe, ldcsr); the output itself stays the Seed's sample."))

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
        if parameters.get(self.TEMPERATURE) not in (None, ""):
            args += ["--temperature",
                     repr(self.parameterAsDouble(parameters, self.TEMPERATURE, context))]
        uncertainty = self.uncertainty_path(parameters, context)
        if uncertainty:
            args += ["--uncertainty", uncertainty, "--samples",
                     str(self.parameterAsInt(parameters, self.SAMPLES, context))]
        args += self.parallel_args(parameters, context)
        # QGIS asked the user before choosing an existing destination; the engine still writes
        # to a temporary file and renames at the end, so a failed run never clobbers it. The
        # dock names its outputs itself and passes OVERWRITE=False.
        if self.overwrite(parameters, context):
            args.append("--overwrite")
        return args

    def parallel_args(self, parameters, context) -> list[str]:
        """``--workers N`` (N > 1) and ``--ray ADDRESS`` (non-empty); nothing for the defaults,
        so that an engine without these options still runs every default job."""
        args = []
        workers = self.parameterAsInt(parameters, self.WORKERS, context)
        if workers > 1:
            args += ["--workers", str(workers)]
        address = (self.parameterAsString(parameters, self.RAY_ADDRESS, context) or "").strip()
        if address:
            args += ["--ray", address]
        return args

    def uncertainty_path(self, parameters, context) -> str:
        """The UNCERTAINTY destination, or '' when it is skipped."""
        if not self.parameterAsOutputLayer(parameters, self.UNCERTAINTY, context):
            return ""
        return self.output_path(parameters, self.UNCERTAINTY, context)

    def overwrite(self, parameters, context) -> bool:
        return self.parameterAsBoolean(parameters, self.OVERWRITE, context)

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        argv = self.build_argv(parameters, context, feedback, executing=True)
        out = self.output_path(parameters, self.OUTPUT, context)
        # On failure, remove an OUTPUT that this run may have produced; never one that was
        # there before, nor one that appeared while a run that must not overwrite was going
        # (another writer's file).
        outputs = [p for p in (out, self.uncertainty_path(parameters, context)) if p]
        fresh = tuple(p for p in outputs
                      if not os.path.exists(p) and self.overwrite(parameters, context))
        result = self.run_engine(argv, feedback, cleanup=fresh)
        written = result.done.get("output") or out
        std = (result.results.get("uncertainty") or outputs[-1]) if len(outputs) > 1 else None
        for path in (written, std):
            if path and not os.path.isfile(path):
                raise QgsProcessingException(self.tr(
                    "The engine reported success but {path} does not exist.").format(path=path))
        if std and context.willLoadLayerOnCompletion(std):
            context.layerToLoadOnCompletionDetails(std).setPostProcessor(
                UncertaintyStyle.create())
        return {self.OUTPUT: written, self.UNCERTAINTY: std}
