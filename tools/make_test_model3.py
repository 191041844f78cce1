"""Write tests/plugin/data/upscale_then_stats.model3: arbsr:upscale chained with a core algorithm.

The graphical model has two inputs (raster, scale), runs ``arbsr:upscale`` and feeds its output
to ``native:rasterlayerstatistics``; the upscaled raster is a model output and the statistics
are model results. Regenerate with::

    QT_QPA_PLATFORM=offscreen .venv/bin/python tools/make_test_model3.py
"""

from __future__ import annotations

import sys
from pathlib import Path

from qgis.core import (
    QgsApplication,
    QgsProcessingModelAlgorithm,
    QgsProcessingModelChildAlgorithm,
    QgsProcessingModelChildParameterSource,
    QgsProcessingModelOutput,
    QgsProcessingModelParameter,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterLayer,
)

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "tests" / "plugin" / "data" / "upscale_then_stats.model3"


def build() -> QgsProcessingModelAlgorithm:
    model = QgsProcessingModelAlgorithm("Upscale then statistics", "ArbSR tests")
    model.addModelParameter(QgsProcessingParameterRasterLayer("raster", "Raster"),
                            QgsProcessingModelParameter("raster"))
    model.addModelParameter(
        QgsProcessingParameterNumber("scale", "Scale", QgsProcessingParameterNumber.Double, 2.0),
        QgsProcessingModelParameter("scale"))

    up = QgsProcessingModelChildAlgorithm("arbsr:upscale")
    up.setChildId("upscale")
    up.setDescription("Super-resolve")
    up.addParameterSources("INPUT", [QgsProcessingModelChildParameterSource.fromModelParameter(
        "raster")])
    up.addParameterSources("SCALE", [QgsProcessingModelChildParameterSource.fromModelParameter(
        "scale")])
    up.addParameterSources("DEVICE", [QgsProcessingModelChildParameterSource.fromStaticValue(
        "cpu")])
    out = QgsProcessingModelOutput("upscaled", "Upscaled raster")
    out.setChildOutputName("OUTPUT")
    out.setChildId("upscale")
    up.setModelOutputs({"upscaled": out})
    model.addChildAlgorithm(up)

    stats = QgsProcessingModelChildAlgorithm("native:rasterlayerstatistics")
    stats.setChildId("stats")
    stats.setDescription("Statistics of the result")
    stats.addParameterSources("INPUT", [QgsProcessingModelChildParameterSource.fromChildOutput(
        "upscale", "OUTPUT")])
    stats.addParameterSources("BAND", [QgsProcessingModelChildParameterSource.fromStaticValue(1)])
    model.addChildAlgorithm(stats)
    return model


def main() -> int:
    app = QgsApplication([], False)
    app.initQgis()
    sys.path.append("/usr/share/qgis/python/plugins")
    sys.path.insert(0, str(ROOT))
    from processing.core.Processing import Processing

    Processing.initialize()
    from arbsr_qgis.provider import ArbsrProvider

    QgsApplication.processingRegistry().addProvider(ArbsrProvider())
    model = build()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    ok = model.toFile(str(OUT))
    print(f"wrote {OUT}" if ok else "failed")
    del model
    app.exitQgis()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
