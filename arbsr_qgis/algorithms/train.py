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
    model_names,
)


SCRATCH = "none (train from scratch)"
#: The model fine-tuning starts from unless the user picks another: the bundled default.
DEFAULT_START = "lmlte-default"


def _default_start(options: list[str]) -> str:
    """The bundled default model when listed, else the first listed model, else scratch."""
    if DEFAULT_START in options:
        return DEFAULT_START
    return options[1] if len(options) > 2 else SCRATCH
FAMILIES = ("lmlte", "ldcsr", "moe", "fast")


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

    EXAMPLES = (
        "qgis_process run arbsr:train -- INPUTS=ortho_2020.tif INPUTS=ortho_2021.tif "
        "MODEL=lmlte-default EPOCHS=5 DEVICE=cuda OUTPUT=checkpoints",
    )

    def name(self):
        return "train"

    def displayName(self):  # noqa: N802
        return self.tr("Fine-tune a super-resolution model on your rasters")

    def shortHelpString(self):  # noqa: N802
        return self.with_examples(self.tr(
            "Fine-tunes a model on your own high-resolution rasters (self-supervised: random "
            "patches are downsampled by a random scale between Min scale and Max scale and the "
            "model learns to restore them). <b>Model</b>: the registered model to start from "
            "(its family is used), a custom checkpoint file, or none to train from scratch with "
            "<b>Family</b>.\n\n"
            "Long-running: progress and the training loss are shown as it goes; Cancel stops it. "
            "The output folder receives the checkpoints (official layout); the returned "
            "CHECKPOINT_FILE can be used with MODEL = 'custom checkpoint file' in Upscale and "
            "Evaluate. A GPU (Device = cuda) makes training much faster."))

    def initAlgorithm(self, config=None):  # noqa: N802
        integer, double = QgsProcessingParameterNumber.Integer, QgsProcessingParameterNumber.Double
        self.add_parameter(QgsProcessingParameterMultipleLayers(
            self.INPUTS, self.tr("Training rasters (high resolution)"), QgsProcessing.TypeRaster),
            self.tr("Your rasters at the resolution the model should produce. Random patches "
                    "are cut from them and downsampled to make the training pairs. From "
                    "qgis_process: INPUTS=a.tif INPUTS=b.tif."))
        options = [SCRATCH, *model_names(), CUSTOM_MODEL]
        self.add_parameter(QgsProcessingParameterEnum(
            self.MODEL, self.tr("Start from model"), options=options,
            defaultValue=_default_start(options), usesStaticStrings=True),
            self.tr("The registered model whose weights (and family) training starts from, "
                    "'custom checkpoint file' to start from the file in Checkpoint, or "
                    "'none (train from scratch)' with Family."))
        self.add_parameter(QgsProcessingParameterFile(
            self.CHECKPOINT, self.tr("Checkpoint to start from (with 'custom checkpoint file')"),
            behavior=QgsProcessingParameterFile.File, optional=True,
            fileFilter=CHECKPOINT_FILTER),
            self.tr("A checkpoint (.pth, .ckpt) to start from; its family is given in Family."))
        self.add_parameter(QgsProcessingParameterEnum(
            self.FAMILY, self.tr("Family (when training from scratch)"), options=list(FAMILIES),
            defaultValue=FAMILIES[0], usesStaticStrings=True),
            self.tr("lmlte (implicit model, any scale), ldcsr (latent diffusion), moe (mixture-of-"
                    "experts diffusion refiner) or fast (learned resampling at GDAL speed); used "
                    "when training from scratch or from a checkpoint file."))
        self.add_parameter(QgsProcessingParameterNumber(
            self.EPOCHS, self.tr("Epochs"), type=integer, defaultValue=10, minValue=1),
            self.tr("Number of training epochs."))
        self.add_parameter(QgsProcessingParameterNumber(
            self.ITERS, self.tr("Iterations per epoch"), type=integer, defaultValue=100,
            minValue=1), self.tr("Optimiser steps (batches) per epoch."))
        self.add_parameter(QgsProcessingParameterNumber(
            self.SCALE_MIN, self.tr("Min scale"), type=double, defaultValue=1.0, minValue=1.0,
            maxValue=32.0), self.tr("Smallest downsampling factor of the training pairs."))
        self.add_parameter(QgsProcessingParameterNumber(
            self.SCALE_MAX, self.tr("Max scale"), type=double, defaultValue=4.0, minValue=1.0,
            maxValue=32.0), self.tr("Largest downsampling factor of the training pairs; the "
                                    "model learns the scales in between (fractions too)."))
        self.add_parameter(self.device_parameter(), self.device_help())
        self.add_parameter(QgsProcessingParameterNumber(
            self.PATCH, self.tr("LR patch size (pixels)"), type=integer, defaultValue=48,
            minValue=0), self.tr("Side of the low-resolution training patches, in pixels."),
            advanced=True)
        self.add_parameter(QgsProcessingParameterNumber(
            self.BATCH, self.tr("Batch size"), type=integer, defaultValue=8, minValue=0),
            self.tr("Patches per optimiser step; lower it when memory runs out."), advanced=True)
        self.add_parameter(QgsProcessingParameterNumber(
            self.LR, self.tr("Learning rate"), type=double, defaultValue=1e-4, minValue=0),
            self.tr("Peak learning rate of the optimiser."), advanced=True)
        self.add_parameter(QgsProcessingParameterNumber(
            self.SEED, self.tr("Random seed"), type=integer, defaultValue=0, minValue=0),
            self.tr("Seed of the patch sampling and of the initial weights."), advanced=True)
        self.add_parameter(QgsProcessingParameterNumber(
            self.TIME_LIMIT, self.tr("Time limit in minutes (0 = none)"), type=double,
            defaultValue=0.0, minValue=0), self.tr(
            "Stop cleanly after this many minutes, with the checkpoints written so far; 0 = no "
            "limit."),
            advanced=True)
        self.add_parameter(QgsProcessingParameterFolderDestination(
            self.OUTPUT, self.tr("Output folder for checkpoints")), self.tr(
            "Folder that receives the checkpoints (epoch-last.pth, epoch-best.pth, official "
            "layout); created when missing."))
        self.addOutput(QgsProcessingOutputFile(self.CHECKPOINT_OUT,
                                               self.tr("Trained checkpoint")))
        self.addOutput(QgsProcessingOutputNumber("FINAL_LOSS", self.tr("Final training loss")))

    def engine_command(self):
        return "train"

    def start_args(self, parameters, context) -> list[str]:
        """``--family F [--init CKPT]`` from MODEL / CHECKPOINT / FAMILY."""
        model = self.model_choice(parameters, context) or SCRATCH
        checkpoint = self.parameterAsFile(parameters, self.CHECKPOINT, context)
        family = self.parameterAsEnumString(parameters, self.FAMILY, context) or FAMILIES[0]
        if checkpoint:
            return ["--family", family, "--init", checkpoint]
        if model == CUSTOM_MODEL:
            raise QgsProcessingException(self.tr(
                "Start from model is 'custom checkpoint file' but no checkpoint was given."))
        if model == SCRATCH:
            return ["--family", family]
        card = next((m for m in engine_client.list_models(models_dir=settings.models_dir())
                     if m.get("name") == model), None)
        if card is None or not card.get("file"):
            raise QgsProcessingException(self.tr(
                "Model '{model}' is not registered any more: pick another one.").format(
                    model=model))
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
