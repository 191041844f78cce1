"""``arbsr:train``: fine-tune a model on the user's own rasters (long-running; progress, cancel).

Runs ``python -m engine train --data … --out DIR`` (flags fixed in engine/commands/train.py); the
result is a checkpoint in the official layout, usable as MODEL = custom checkpoint file in the
other algorithms.
"""

from __future__ import annotations

import os

from qgis.core import (
    QgsProcessing,
    QgsProcessingException,
    QgsProcessingOutputFile,
    QgsProcessingOutputNumber,
    QgsProcessingParameterDefinition,
    QgsProcessingParameterEnum,
    QgsProcessingParameterFile,
    QgsProcessingParameterFolderDestination,
    QgsProcessingParameterMultipleLayers,
    QgsProcessingParameterNumber,
)

from arbsr_qgis import engine_client, settings
from arbsr_qgis.algorithms.base import (
    CHECKPOINT_FILTER,
    CUSTOM_MODEL,
    EngineAlgorithm,
    engine_python,
    model_names,
)


SCRATCH = "none (train from scratch)"
FAMILIES = ("lmlte", "ldcsr", "moe")


class TrainAlgorithm(EngineAlgorithm):
    """Rasters + starting model -> folder with the fine-tuned checkpoints."""

    INPUTS = "INPUTS"
    FAMILY = "FAMILY"
    EPOCHS = "EPOCHS"
    ITERS = "ITERS_PER_EPOCH"
    SCALE_MIN = "SCALE_MIN"
    SCALE_MAX = "SCALE_MAX"
    PATCH = "PATCH_SIZE"
    BATCH = "BATCH_SIZE"
    LR = "LEARNING_RATE"
    SEED = "SEED"
    TIME_LIMIT = "TIME_LIMIT"
    OUTPUT = "OUTPUT"
    CHECKPOINT_OUT = "CHECKPOINT_FILE"

    def name(self):
        return "train"

    def displayName(self):  # noqa: N802
        return self.tr("Fine-tune a super-resolution model on your rasters")

    def shortHelpString(self):  # noqa: N802
        return self.tr(
            "Fine-tunes a model on your own high-resolution rasters (self-supervised: random "
            "patches are downsampled by a random scale between Min scale and Max scale and the "
            "model learns to restore them). <b>Model</b>: the registered model to start from "
            "(its family is used), a custom checkpoint file, or none to train from scratch with "
            "<b>Family</b>.\n\n"
            "Long-running: progress and the training loss are shown as it goes; Cancel stops it. "
            "The output folder receives the checkpoints (official layout); the returned "
            "CHECKPOINT_FILE can be used with MODEL = 'custom checkpoint file' in Upscale and "
            "Evaluate. A GPU (Device = cuda) makes training much faster.")

    def initAlgorithm(self, config=None):  # noqa: N802
        self.addParameter(QgsProcessingParameterMultipleLayers(
            self.INPUTS, self.tr("Training rasters (high resolution)"), QgsProcessing.TypeRaster))
        options = [SCRATCH, *model_names(), CUSTOM_MODEL]
        self.addParameter(QgsProcessingParameterEnum(
            self.MODEL, self.tr("Start from model"), options=options,
            defaultValue=options[1] if len(options) > 2 else SCRATCH, usesStaticStrings=True))
        self.addParameter(QgsProcessingParameterFile(
            self.CHECKPOINT, self.tr("Checkpoint to start from (with 'custom checkpoint file')"),
            behavior=QgsProcessingParameterFile.File, optional=True,
            fileFilter=CHECKPOINT_FILTER))
        self.addParameter(QgsProcessingParameterEnum(
            self.FAMILY, self.tr("Family (when training from scratch)"), options=list(FAMILIES),
            defaultValue=FAMILIES[0], usesStaticStrings=True))
        for pid, label, default in ((self.EPOCHS, "Epochs", 10),
                                    (self.ITERS, "Iterations per epoch", 100)):
            self.addParameter(QgsProcessingParameterNumber(
                pid, self.tr(label), type=QgsProcessingParameterNumber.Integer,
                defaultValue=default, minValue=1))
        self.addParameter(QgsProcessingParameterNumber(
            self.SCALE_MIN, self.tr("Min scale"), type=QgsProcessingParameterNumber.Double,
            defaultValue=1.0, minValue=1.0, maxValue=32.0))
        self.addParameter(QgsProcessingParameterNumber(
            self.SCALE_MAX, self.tr("Max scale"), type=QgsProcessingParameterNumber.Double,
            defaultValue=4.0, minValue=1.0, maxValue=32.0))
        self.addParameter(QgsProcessingParameterEnum(
            self.DEVICE, self.tr("Device"), options=list(settings.DEVICES),
            defaultValue=settings.default_device(), usesStaticStrings=True))
        for pid, label, kind, default in (
                (self.PATCH, "LR patch size (pixels)", QgsProcessingParameterNumber.Integer, 48),
                (self.BATCH, "Batch size", QgsProcessingParameterNumber.Integer, 8),
                (self.LR, "Learning rate", QgsProcessingParameterNumber.Double, 1e-4),
                (self.SEED, "Random seed", QgsProcessingParameterNumber.Integer, 0),
                (self.TIME_LIMIT, "Time limit in minutes (0 = none)",
                 QgsProcessingParameterNumber.Double, 0.0)):
            p = QgsProcessingParameterNumber(pid, self.tr(label), type=kind,
                                             defaultValue=default, minValue=0)
            p.setFlags(p.flags() | QgsProcessingParameterDefinition.FlagAdvanced)
            self.addParameter(p)
        self.addParameter(QgsProcessingParameterFolderDestination(
            self.OUTPUT, self.tr("Output folder for checkpoints")))
        self.addOutput(QgsProcessingOutputFile(self.CHECKPOINT_OUT,
                                               self.tr("Trained checkpoint")))
        self.addOutput(QgsProcessingOutputNumber("FINAL_LOSS", self.tr("Final training loss")))

    def engine_command(self):
        return "train"

    def start_args(self, parameters, context) -> list[str]:
        """``--family F [--init CKPT]`` from MODEL / CHECKPOINT / FAMILY."""
        model = self.parameterAsEnumString(parameters, self.MODEL, context) or SCRATCH
        checkpoint = self.parameterAsFile(parameters, self.CHECKPOINT, context)
        family = self.parameterAsEnumString(parameters, self.FAMILY, context) or FAMILIES[0]
        if checkpoint:
            return ["--family", family, "--init", checkpoint]
        if model == CUSTOM_MODEL:
            raise QgsProcessingException(self.tr(
                "Start from model is 'custom checkpoint file' but no checkpoint was given."))
        if model == SCRATCH:
            return ["--family", family]
        card = next((m for m in engine_client.list_models(
            engine_python(), models_dir=settings.models_dir()) if m.get("name") == model), None)
        if card is None or not card.get("file"):
            raise QgsProcessingException(self.tr(f"Model '{model}' is not registered any more: "
                                                 "pick another one."))
        fam = card.get("family") if card.get("family") in FAMILIES else family
        return ["--family", fam, "--init", str(card["file"])]

    def engine_args(self, parameters, context, feedback, executing):
        layers = self.parameterAsLayerList(parameters, self.INPUTS, context)
        if not layers:
            raise QgsProcessingException(self.tr("Give at least one training raster."))
        smin = self.parameterAsDouble(parameters, self.SCALE_MIN, context)
        smax = self.parameterAsDouble(parameters, self.SCALE_MAX, context)
        if smax < smin:
            raise QgsProcessingException(self.tr("Max scale must not be below Min scale."))
        out = self.parameterAsString(parameters, self.OUTPUT, context)
        args = ["--data", *[self.input_file(layer, context, feedback, executing)
                            for layer in layers]]
        args += ["--out", out] + self.start_args(parameters, context)
        args += ["--epochs", str(self.parameterAsInt(parameters, self.EPOCHS, context)),
                 "--iters-per-epoch", str(self.parameterAsInt(parameters, self.ITERS, context)),
                 "--scale-min", repr(smin), "--scale-max", repr(smax),
                 "--patch", str(self.parameterAsInt(parameters, self.PATCH, context)),
                 "--batch-size", str(self.parameterAsInt(parameters, self.BATCH, context)),
                 "--lr", repr(self.parameterAsDouble(parameters, self.LR, context)),
                 "--seed", str(self.parameterAsInt(parameters, self.SEED, context))]
        limit = self.parameterAsDouble(parameters, self.TIME_LIMIT, context)
        if limit > 0:
            args += ["--time-limit", repr(limit)]
        device = self.parameterAsEnumString(parameters, self.DEVICE, context) or "auto"
        return args + ["--device", device]

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        argv = self.build_argv(parameters, context, feedback, executing=True)
        out = self.parameterAsString(parameters, self.OUTPUT, context)
        os.makedirs(out, exist_ok=True)
        result = self.run_engine(argv, feedback)
        losses = [e["value"] for e in result.events
                  if e.get("event") == "metric" and "loss" in str(e.get("name"))]
        return {self.OUTPUT: out, self.CHECKPOINT_OUT: result.done.get("output") or "",
                "FINAL_LOSS": float(losses[-1]) if losses else float("nan")}
