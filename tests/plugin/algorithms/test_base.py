"""Help and translation of the algorithms: every parameter has help, every algorithm a
qgis_process example, and user-visible strings are literal, extractable and translated."""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET

import pytest
from qgis.core import QgsApplication, QgsProcessingContext, QgsProcessingException
from qgis.PyQt.QtCore import QCoreApplication, QTranslator

from rasters import ROOT

ALGORITHMS = ("arbsr:upscale", "arbsr:evaluate", "arbsr:train")
PLUGIN = ROOT / "arbsr_qgis"


def algorithms():
    registry = QgsApplication.processingRegistry()
    return [registry.createAlgorithmById(alg_id) for alg_id in ALGORITHMS]


def examples(alg) -> list[str]:
    return [line for line in alg.shortHelpString().splitlines()
            if line.startswith(f"qgis_process run {alg.id()} -- ")]


def test_every_parameter_has_help(arbsr_provider):
    for alg in algorithms():
        for param in alg.parameterDefinitions():
            assert len(param.help()) > 20, f"{alg.id()} {param.name()} has no help"
            assert param.help() in param.toolTip()  # what the dialogs show on hover


def test_every_algorithm_help_has_a_valid_qgis_process_example(arbsr_provider):
    for alg in algorithms():
        lines = examples(alg)
        assert lines, f"{alg.id()} help has no qgis_process example"
        names = {p.name() for p in alg.parameterDefinitions()}
        for line in lines:
            pairs = [arg.split("=", 1) for arg in line.split(" -- ", 1)[1].split()]
            assert pairs and {key for key, _ in pairs} <= names, line
            for key, value in pairs:  # each value is acceptable for its parameter
                param = alg.parameterDefinition(key)
                if param.type() == "enum":
                    assert value in param.options(), line
                elif param.type() == "number":
                    assert param.checkValueIsAcceptable(float(value)), line


# --- translation ---------------------------------------------------------------------------

#: Translation calls and how many leading arguments must be literal strings.
LITERAL_ARGS = {"tr": 1, "translate": 2}


def tr_calls(tree: ast.AST):
    """(call, number of literal arguments it needs) for each tr()/translate() call, except in
    the body of a ``tr`` method (the one place that passes its argument on)."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.FunctionDef) and node.name == "tr":
            continue
        yield from tr_calls(node)
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name in LITERAL_ARGS:
                yield node, LITERAL_ARGS[name]


def test_translated_strings_are_literals():
    """pylupdate5 extracts ``self.tr("...")`` and ``QCoreApplication.translate("ctx", "...")``
    with literal strings only: no f-strings, variables or concatenated calls inside."""
    bad = []
    for path in sorted(PLUGIN.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for call, literal in tr_calls(tree):
            args = call.args[:literal]
            if len(args) < literal or not all(
                    isinstance(a, ast.Constant) and isinstance(a.value, str) for a in args):
                bad.append(f"{path.relative_to(ROOT)}:{call.lineno}")
    assert not bad, "tr()/translate() of a non-literal: " + ", ".join(bad)


def user_strings() -> set[str]:
    """Descriptions, help and names the algorithms show (untranslated: no translator here)."""
    out = set()
    for alg in algorithms():
        out.add(alg.displayName())
        for param in alg.parameterDefinitions():
            out.update({param.description(), param.help()})
        for output in alg.outputDefinitions():
            out.add(output.description())
    return out


@pytest.mark.skipif(shutil.which("pylupdate5") is None, reason="pylupdate5 missing")
def test_pylupdate_extracts_every_parameter_text(arbsr_provider, tmp_path):
    ts = tmp_path / "arbsr.ts"
    files = [str(p) for p in sorted(PLUGIN.rglob("*.py"))]
    res = subprocess.run(["pylupdate5", *files, "-ts", str(ts)], capture_output=True,
                         text=True, timeout=120, check=False)
    assert res.returncode == 0, res.stderr
    sources = {m.findtext("source") for m in ET.parse(ts).getroot().iter("message")}
    missing = sorted(s for s in user_strings() if s not in sources)
    assert not missing, f"not extractable for translators: {missing}"
    for text in ("Raster layers to upscale:", "Select at least one raster layer.",
                 "Default worker processes for Super-resolve (1 = one process; with Ray: the "
                 "number of Ray workers)"):
        assert text in sources


class Marker(QTranslator):
    """A translation file in the making: ``{context: [sources]}``, each translated as
    ``[context] source``, so a test sees which context a lookup found its translation in."""

    def __init__(self, messages):
        super().__init__()
        self.messages = {(ctx, src) for ctx, sources in messages.items() for src in sources}

    def isEmpty(self):  # noqa: N802
        return False

    def translate(self, context, source, disambiguation=None, n=-1):
        # None = no translation (a null QString); "" would translate to an empty string
        return f"[{context}] {source}" if (context, source) in self.messages else None


def test_strings_translate_under_the_context_pylupdate_records(arbsr_provider, small_tif):
    """Base-class strings (context EngineAlgorithm) and the algorithm's own (UpscaleAlgorithm)
    both find their translations, and placeholders are filled after translation."""
    marker = Marker({
        "EngineAlgorithm": [
            "Model",
            "Example from a shell (on Debian's QGIS 3.22 the program is qgis_process.bin; "
            "run 'qgis_process help {alg}' for every parameter):",
            "ArbSR writes GeoTIFF: give {parameter} a .tif file name (got {path})."],
        "UpscaleAlgorithm": ["Scale factor"]})
    QCoreApplication.installTranslator(marker)
    try:
        alg = QgsApplication.processingRegistry().createAlgorithmById("arbsr:upscale")
        assert alg.parameterDefinition("MODEL").description() == "[EngineAlgorithm] Model"
        assert alg.parameterDefinition("SCALE").description() == \
            "[UpscaleAlgorithm] Scale factor"
        assert re.search(r"\[EngineAlgorithm\] Example from a shell .* arbsr:upscale",
                         alg.shortHelpString())
        context = QgsProcessingContext()
        with pytest.raises(QgsProcessingException) as info:
            alg.build_argv({"INPUT": str(small_tif), "OUTPUT": "/data/o.png"}, context,
                           executing=False)
        message = str(info.value)
        del info  # its traceback holds a layer owned by the context: free it first
        assert message == ("[EngineAlgorithm] ArbSR writes GeoTIFF: give OUTPUT a .tif file "
                           "name (got /data/o.png).")
    finally:
        QCoreApplication.removeTranslator(marker)
    plain = QgsApplication.processingRegistry().createAlgorithmById("arbsr:upscale")
    assert plain.parameterDefinition("MODEL").description() == "Model"
