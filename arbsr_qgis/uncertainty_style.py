"""How an uncertainty layer looks: a sequential colour ramp from low (dark) to high (bright)
standard deviation, stretched over the 2-98 % cumulative cut of band 1, as QGIS does by default
for single-band rasters; nodata stays transparent."""

from __future__ import annotations

from qgis.core import (
    QgsColorRampShader,
    QgsProcessingLayerPostProcessorInterface,
    QgsRasterBandStats,
    QgsRasterLayer,
    QgsRasterShader,
    QgsSingleBandPseudoColorRenderer,
    QgsStyle,
)

#: A perceptually uniform ramp shipped with QGIS: dark = certain, bright = uncertain.
RAMP = "Magma"


def style_uncertainty(layer: QgsRasterLayer) -> None:
    """Give ``layer`` (an ArbSR uncertainty raster) the uncertainty colour ramp."""
    provider = layer.dataProvider()
    stats = provider.bandStatistics(1, QgsRasterBandStats.Min | QgsRasterBandStats.Max)
    lo, hi = float(stats.minimumValue), float(stats.maximumValue)
    ramp = QgsStyle.defaultStyle().colorRamp(RAMP)
    shader_fn = QgsColorRampShader(lo, hi, ramp)
    shader_fn.classifyColorRamp(5, -1)  # 5 interpolated stops over [lo, hi]
    shader = QgsRasterShader()
    shader.setRasterShaderFunction(shader_fn)
    renderer = QgsSingleBandPseudoColorRenderer(provider, 1, shader)
    renderer.setClassificationMin(lo)
    renderer.setClassificationMax(hi)
    layer.setRenderer(renderer)
    layer.triggerRepaint()


class UncertaintyStyle(QgsProcessingLayerPostProcessorInterface):
    """Applies :func:`style_uncertainty` when Processing loads the uncertainty output."""

    instance = None  # QGIS does not own post-processors: keep the last one alive

    def postProcessLayer(self, layer, context, feedback):  # noqa: N802
        if isinstance(layer, QgsRasterLayer):
            style_uncertainty(layer)

    @staticmethod
    def create() -> "UncertaintyStyle":
        UncertaintyStyle.instance = UncertaintyStyle()
        return UncertaintyStyle.instance
