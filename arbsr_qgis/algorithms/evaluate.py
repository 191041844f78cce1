"""``arbsr:evaluate``: PSNR/SSIM of a model against GDAL cubic and lanczos on a HR raster.

The engine downsamples the HR raster by SCALE, upscales it back with the model and with GDAL's
cubic and lanczos resampling, and compares each to the original. The algorithm writes an HTML
report and returns the figures as numeric outputs, so graphical models can use them.
"""

from __future__ import annotations

import html
import math
import re
from typing import Any

from qgis.core import (
    QgsProcessingException,
    QgsProcessingOutputNumber,
    QgsProcessingParameterFileDestination,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterLayer,
)

from arbsr_qgis.algorithms.base import EngineAlgorithm

METHODS = ("model", "cubic", "lanczos")
METRICS = ("psnr", "ssim")


def flatten(data: Any, prefix: str = "") -> dict[str, float]:
    """Nested results -> {"a_b_c": number} with lowercase keys (only numbers kept)."""
    out: dict[str, float] = {}
    if isinstance(data, dict):
        for key, value in data.items():
            name = f"{prefix}_{key}" if prefix else str(key)
            out.update(flatten(value, name))
    elif isinstance(data, (int, float)) and not isinstance(data, bool):
        out[re.sub(r"[^a-z0-9]+", "_", prefix.lower()).strip("_")] = float(data)
    return out


def pick_metrics(results: dict[str, Any], metrics: dict[str, float]) -> dict[str, float]:
    """{"psnr_model": x, "ssim_cubic": y, ...} from the engine's results and metric events.

    Accepts nested ({"model": {"psnr": ..}}, {"psnr": {"cubic": ..}}) and flat
    ("psnr_model", "model/psnr") layouts: a figure is the value whose key names both the
    metric and the method ("arbsr"/"sr" count as the model).
    """
    picked: dict[str, float] = {}
    methods = results.get("methods")
    if isinstance(methods, dict):
        # engine/commands/evaluate.py: {"model": NAME, "methods": {NAME: {psnr, ssim},
        # "gdal-cubic": {...}, "gdal-lanczos": {...}}}
        model = results.get("model")
        for name, values in methods.items():
            method = "model" if name == model else str(name).lower().replace("gdal-", "")
            if method in METHODS and isinstance(values, dict):
                for metric in METRICS:
                    if isinstance(values.get(metric), (int, float)):
                        picked[f"{metric}_{method}"] = float(values[metric])
        if picked:
            return picked
    flat = flatten(metrics)
    flat.update(flatten(results))
    for metric in METRICS:
        for method in METHODS:
            aliases = {method} | ({"arbsr", "sr", "ours"} if method == "model" else set())
            for key, value in flat.items():
                parts = set(key.split("_"))
                if metric in parts and parts & aliases:
                    picked[f"{metric}_{method}"] = value
                    break
    return picked


def html_report(hr: str, scale: float, model: str, figures: dict[str, float],
                extra: dict[str, float]) -> str:
    """A small standalone HTML page with the PSNR/SSIM table."""
    def cell(key: str, digits: int) -> str:
        v = figures.get(key)
        return "&ndash;" if v is None or math.isnan(v) else f"{v:.{digits}f}"

    rows = "".join(
        f"<tr><td>{html.escape(m if m != 'model' else model)}</td>"
        f"<td>{cell('psnr_' + m, 2)}</td><td>{cell('ssim_' + m, 4)}</td></tr>"
        for m in METHODS)
    more = "".join(f"<tr><td>{html.escape(k)}</td><td colspan='2'>{v:.6g}</td></tr>"
                   for k, v in sorted(extra.items()) if k not in figures)
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>ArbSR evaluation</title>"
        "<style>body{font-family:sans-serif}td,th{padding:4px 10px;border-bottom:1px solid #ccc}"
        "</style></head><body>"
        f"<h2>ArbSR evaluation &times;{scale:g}</h2>"
        f"<p>High-resolution reference: <code>{html.escape(hr)}</code><br>"
        f"It is downsampled by {scale:g}, upscaled back by each method and compared with the "
        "reference (PSNR in dB, higher is better; SSIM in [0, 1]).</p>"
        "<table><tr><th>Method</th><th>PSNR (dB)</th><th>SSIM</th></tr>"
        f"{rows}</table>"
        + (f"<h3>All figures</h3><table>{more}</table>" if more else "")
        + "</body></html>\n")


class EvaluateAlgorithm(EngineAlgorithm):
    """HR raster + model + scale -> HTML report and PSNR/SSIM numbers."""

    INPUT = "INPUT"
    SCALE = "SCALE"
    OUTPUT_HTML = "OUTPUT_HTML"

    EXAMPLES = (
        "qgis_process run arbsr:evaluate -- INPUT=ortho.tif SCALE=4 OUTPUT_HTML=report.html",
        "qgis_process --json run arbsr:evaluate -- INPUT=ortho.tif SCALE=2.5 MODEL=moe "
        "OUTPUT_HTML=report.html",
    )

    def name(self):
        return "evaluate"

    def displayName(self):  # noqa: N802
        return self.tr("Evaluate super-resolution (PSNR/SSIM vs cubic, lanczos)")

    def shortHelpString(self):  # noqa: N802
        return self.with_examples(self.tr(
            "Measures how well a model restores detail on your own data.\n\n"
            "The high-resolution raster is downsampled by <b>Scale</b>, then upscaled back to "
            "its size by the model and by GDAL cubic and lanczos resampling; each result is "
            "compared with the original (PSNR in dB and SSIM, on values normalised per band).\n"
            "Outputs: an HTML report, and the numbers PSNR_MODEL, SSIM_MODEL, PSNR_CUBIC, "
            "SSIM_CUBIC, PSNR_LANCZOS, SSIM_LANCZOS that graphical models can use."))

    def initAlgorithm(self, config=None):  # noqa: N802
        self.add_parameter(QgsProcessingParameterRasterLayer(
            self.INPUT, self.tr("High-resolution raster")), self.tr(
            "A raster at the resolution you want to reach (the reference). It is downsampled "
            "by Scale factor, and each method has to restore it."))
        self.add_model_parameters()
        self.add_parameter(QgsProcessingParameterNumber(
            self.SCALE, self.tr("Scale factor"), type=QgsProcessingParameterNumber.Double,
            defaultValue=4.0, minValue=1.0, maxValue=32.0), self.tr(
            "The factor of the test: the reference is downsampled by it, then upscaled back by "
            "the model and by GDAL cubic and lanczos. Fractions are allowed."))
        self.add_device_parameters()
        self.add_parameter(QgsProcessingParameterFileDestination(
            self.OUTPUT_HTML, self.tr("Evaluation report"), self.tr("HTML files (*.html)")),
            self.tr("An HTML page with the PSNR (dB) and SSIM of each method."))
        labels = {
            "PSNR_MODEL": self.tr("PSNR of the model (dB)"),
            "SSIM_MODEL": self.tr("SSIM of the model"),
            "PSNR_CUBIC": self.tr("PSNR of GDAL cubic (dB)"),
            "SSIM_CUBIC": self.tr("SSIM of GDAL cubic"),
            "PSNR_LANCZOS": self.tr("PSNR of GDAL lanczos (dB)"),
            "SSIM_LANCZOS": self.tr("SSIM of GDAL lanczos"),
        }
        for metric in METRICS:
            for method in METHODS:
                key = f"{metric}_{method}".upper()
                self.addOutput(QgsProcessingOutputNumber(key, labels[key]))

    def engine_command(self):
        return "evaluate"

    def engine_args(self, parameters, context, feedback, executing):
        layer = self.parameterAsRasterLayer(parameters, self.INPUT, context)
        if layer is None:
            raise QgsProcessingException(self.invalidRasterError(parameters, self.INPUT))
        args = [self.input_file(layer, context, feedback, executing),
                "--scale", repr(self.parameterAsDouble(parameters, self.SCALE, context))]
        args += self.model_args(parameters, context)
        args += self.device_args(parameters, context)
        return args

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        argv = self.build_argv(parameters, context, feedback, executing=True)
        report = self.parameterAsFileOutput(parameters, self.OUTPUT_HTML, context)
        result = self.run_engine(argv, feedback)
        figures = pick_metrics(result.results, result.metrics())
        if "psnr_model" not in figures:
            raise QgsProcessingException(self.tr(
                "The engine's evaluate output has no model PSNR: update the plugin and engine "
                "together (results: {keys}).").format(
                    keys=", ".join(sorted(flatten(result.results)))))
        layer = self.parameterAsRasterLayer(parameters, self.INPUT, context)
        model = self.model_choice(parameters, context) or "model"
        model = self.parameterAsFile(parameters, self.CHECKPOINT, context) or model
        with open(report, "w", encoding="utf-8") as fh:
            fh.write(html_report(layer.source(), self.parameterAsDouble(
                parameters, self.SCALE, context), model, figures,
                flatten(result.results)))
        for key in sorted(figures):
            feedback.pushInfo(f"{key.upper()} = {figures[key]:.4f}")
        out: dict[str, Any] = {self.OUTPUT_HTML: report}
        for metric in METRICS:
            for method in METHODS:
                key = f"{metric}_{method}"
                out[key.upper()] = figures.get(key, float("nan"))
        return out
