"""Export a point-query model (LMLTE) to TorchScript or ONNX, optionally int8 / half / pruned.

The exported graph is the network's own forward ``pred = net(inp, coord, cell)`` with the query
coordinates and cells as real inputs (see :mod:`engine.models.exported`), so one file serves any
LR size and any output size. Export = ``torch.jit.trace`` (TorchScript; ONNX through the
TorchScript-based exporter, opset 17, which has ``GridSample``), then a check that the exported
graph reproduces the eager network on inputs of a *different* size than the traced one: a graph
that froze a shape fails here instead of producing wrong pictures later. The network builds its
size-dependent tensors with tensor operations (:mod:`engine.models.lmlte.coords`), so the trace
keeps the LR size as a graph value; nothing is patched while tracing.

Diffusion families (LDCSR, MoE) are not exported: their samplers are loops around several
networks with data-dependent sizes; run them with the eager engine.
"""

from __future__ import annotations

import copy
import logging
import os
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from engine.errors import ModelError, OutputError, ParameterError
from engine.models.exported import ExportMeta
from engine.models.lmlte.checkpoint import LMLTEModel
from engine.models.lmlte.coords import MAX_TRAIN_SCALE, coord_grid, image_query
from engine.models.lmlte.views import view_options
from engine.models.sr_model import SRModel
from engine.progress import Log, Progress, ProgressCallback, ignore
from engine.quantize import prune_magnitude, quantize_dynamic_int8

FORMATS = ("torchscript", "onnx")
SUFFIX = {"torchscript": ".pt", "onnx": ".onnx"}
#: Families whose network has the ``forward(inp, coord, cell)`` point-query signature.
EXPORTABLE = ("lmlte",)
ONNX_OPSET = 17  # GridSample since opset 16

#: Parity tolerance (max |diff| of ``pred`` in normalised units) of the self-check.
TOLERANCE = {"float32": 1e-4, "float16": 0.1, "int8": 0.1}


class PointQueryGraph(nn.Module):
    """``pred = net(inp, coord, cell)`` with the dtype handling an exported graph needs.

    Args:
        net: the implicit network (``forward(inp (B,C,h,w), coord (B,Q,2), cell (B,Q,2))``).
        half: the network runs in float16; coordinates come in float32 and are cast here, the
            prediction is returned in float32.
    """

    def __init__(self, net: nn.Module, half: bool = False) -> None:
        super().__init__()
        self.net = net
        self.half = half

    def forward(self, inp: torch.Tensor, coord: torch.Tensor, cell: torch.Tensor) -> torch.Tensor:
        """inp (B, C, h, w), coord/cell (B, Q, 2) float32 -> pred (B, Q, C_out) float32."""
        if self.half:
            return self.net(inp.half(), coord.half(), cell.half()).float()
        return self.net(inp, coord, cell).float()


@dataclass
class ExportResult:
    """What :func:`export_model` wrote and how close the file is to the eager network."""

    path: Path
    format: str
    meta: ExportMeta
    max_abs_diff: float
    bytes: int

    def to_json(self) -> dict[str, Any]:
        """JSON-able summary (the CLI's ``done`` event results)."""
        return {"path": str(self.path), "format": self.format, "max_abs_diff": self.max_abs_diff,
                "bytes": self.bytes, "quantized": self.meta.quantized,
                "precision": self.meta.precision, "pruned": self.meta.pruned}


def example_inputs(channels: int, h: int, w: int, scale: tuple[float, float], seed: int = 0,
                   batch: int = 1) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A deterministic (inp, coord, cell) triple: ``batch`` different smooth images in [-1, 1]
    and their full query grid."""
    g = torch.Generator().manual_seed(seed)
    low = torch.rand(batch, channels, max(h // 4, 2), max(w // 4, 2), generator=g)
    inp = torch.nn.functional.interpolate(low, size=(h, w), mode="bicubic",
                                          align_corners=False).clamp(0, 1) * 2 - 1
    out_h, out_w = round(h * scale[0]), round(w * scale[1])
    ys, xs, cell_yx = image_query(h, w, out_h, out_w)
    coord = coord_grid(ys, xs).reshape(1, -1, 2)
    coord = coord.expand(batch, -1, -1).contiguous()
    cell = torch.tensor(cell_yx, dtype=torch.float32)
    return inp, coord, cell.view(1, 1, 2).expand_as(coord).contiguous()


def meta_for(model: SRModel, *, precision: str = "float32", quantized: str | None = None,
             pruned: float = 0.0) -> ExportMeta:
    """The :class:`ExportMeta` of ``model``: its channels, scales, halo and normalisation."""
    mean = float(getattr(model, "norm_mean", model.options.get("norm_mean", 0.5)))
    std = float(getattr(model, "norm_std", model.options.get("norm_std", 0.5)))
    clip = float(getattr(model, "cell_clip", model.options.get("cell_clip", MAX_TRAIN_SCALE)))
    # The export renders the geometric views the eager LMLTE renders (other families: none).
    views, both_routes = (view_options(model.options) if isinstance(model, LMLTEModel)
                          else (1, False))
    return ExportMeta(source_family=model.family, source_name=str(model.name),
                      in_channels=model.in_channels, out_channels=model.out_channels,
                      scale_range=tuple(model.scale_range), halo=int(model.halo),  # type: ignore[arg-type]
                      norm_mean=mean, norm_std=std, cell_clip=clip, precision=precision,
                      quantized=quantized, pruned=pruned, axis_ensemble=both_routes,
                      self_ensemble=int(views))


def export_model(model: SRModel, out: str | os.PathLike[str], *, fmt: str = "torchscript",
                 quantize: str | None = None, half: bool = False, prune: float = 0.0,
                 overwrite: bool = False, progress: ProgressCallback = ignore) -> ExportResult:
    """Write ``model`` as an exported file that :func:`engine.load_model` reads back.

    Args:
        model: a loaded point-query model (family ``lmlte``).
        out: target file; its suffix should be ``.pt`` (torchscript) or ``.onnx``.
        fmt: ``"torchscript"`` or ``"onnx"``.
        quantize: ``"int8"`` for dynamic int8 Linear layers (TorchScript: torch's dynamic
            quantisation; ONNX: onnxruntime's dynamic MatMul quantisation), or None.
        half: store the network in float16 (for GPUs; inputs/outputs of the file stay float32).
        prune: magnitude-pruning fraction of the Conv2d / Linear weights (0 = none).
        overwrite: replace an existing ``out``.

    Raises:
        ParameterError: unknown format or incompatible options; ModelError: the family cannot be
        exported or the exported graph does not reproduce the network; OutputError: ``out``
        exists (without ``overwrite``) or cannot be written.
    """
    if fmt not in FORMATS:
        raise ParameterError(f"unknown export format '{fmt}': use one of {', '.join(FORMATS)}")
    if quantize not in (None, "int8"):
        raise ParameterError(f"unknown quantisation '{quantize}': use int8")
    if quantize and half:
        raise ParameterError("choose either --quantize int8 (CPU) or --half (GPU), not both")
    if model.family not in EXPORTABLE:
        raise ModelError(f"models of family '{model.family}' cannot be exported (only "
                         f"{', '.join(EXPORTABLE)}): run them with the eager engine instead")
    target = Path(out)
    if target.exists() and not overwrite:
        raise OutputError(f"'{target}' exists: add --overwrite or choose another file name")
    if not target.parent.is_dir():
        raise OutputError(f"folder '{target.parent}' does not exist: create it first")
    if target.suffix.lower() != SUFFIX[fmt]:
        progress(Log(f"'{target.name}' does not end in {SUFFIX[fmt]}: ArbSR recognises exported "
                     f"{fmt} files by that suffix", "warning"))

    precision = "float16" if half else "float32"
    meta = meta_for(model, precision=precision, quantized=quantize, pruned=prune)
    meta.extra["device"] = "cpu"  # traced on the CPU (see engine.models.exported.torchscript)
    net = copy.deepcopy(model.module).cpu().float().eval()
    reference = copy.deepcopy(net)
    if prune:
        net = prune_magnitude(net, prune)
        reference = copy.deepcopy(net)  # parity is against the pruned eager network
    if quantize and fmt == "torchscript":
        net = quantize_dynamic_int8(net)
    if half:
        net = net.half()
    graph = PointQueryGraph(net, half=half).eval()
    # Small on purpose (the self-check runs the eager network twice); two different sizes, and
    # a batch of several images (the pipeline batches bands and tiles) for the check.
    trace_inputs = example_inputs(model.in_channels, 16, 20, (2.0, 2.0))
    check_inputs = example_inputs(model.in_channels, 11, 13, (2.6, 3.1), seed=1, batch=3)

    progress(Progress(0.1, f"exporting to {fmt}"))
    tmp = _temp_path(target)
    try:
        if fmt == "torchscript":
            _export_torchscript(graph, trace_inputs, tmp, meta)
        else:
            _export_onnx(graph, trace_inputs, tmp, meta, int8=quantize == "int8")
        progress(Progress(0.7, "checking the exported graph against the eager network"))
        diff = _parity(reference, tmp, fmt, [trace_inputs, check_inputs], meta)
        tol = TOLERANCE["int8" if quantize else precision]
        if not diff <= tol:
            raise ModelError(f"the exported {fmt} graph differs from the network by {diff:.3g} "
                             f"(> {tol:g}): this network cannot be exported faithfully; use the "
                             "eager model or report the issue")
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()
    progress(Progress(1.0, f"wrote {target}"))
    return ExportResult(path=target, format=fmt, meta=meta, max_abs_diff=diff,
                        bytes=target.stat().st_size)


# -- formats -------------------------------------------------------------------------------------

def _temp_path(target: Path) -> Path:
    fd, name = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=target.suffix,
                                dir=target.parent)
    os.close(fd)
    return Path(name)


def _export_torchscript(graph: nn.Module, inputs: tuple[torch.Tensor, ...], path: Path,
                        meta: ExportMeta) -> None:
    from engine.models.exported.torchscript import META_NAME

    inputs = tuple(i.half() if meta.precision == "float16" and i.dim() == 4 else i for i in inputs)
    with warnings.catch_warnings(), torch.no_grad():
        # torch.jit is deprecated in favour of torch.export, but TorchScript is still the one
        # format that C++/mobile deployments load without Python; the parity check guards it.
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(graph, inputs, check_trace=False)
        traced = torch.jit.freeze(traced.eval()) if meta.quantized is None else traced
    torch.jit.save(traced, str(path), _extra_files={META_NAME: meta.to_json()})


def _export_onnx(graph: nn.Module, inputs: tuple[torch.Tensor, ...], path: Path,
                 meta: ExportMeta, *, int8: bool) -> None:
    try:
        import onnx
    except ImportError as exc:
        raise ModelError("ONNX export needs the onnx package: pip install onnx (see "
                         "requirements.txt)") from exc
    from engine.models.exported.onnx import META_KEY

    if meta.precision == "float16":
        inputs = (inputs[0].half(), inputs[1], inputs[2])
    # The TorchScript-based exporter, run on the same trace as the TorchScript format: sizes
    # stay graph values (dynamic axes below). torch.export (dynamo=True) specialises on the LR
    # size wherever a network computes with sizes in Python, as LMLTE does.
    axes = {"inp": {0: "batch", 2: "height", 3: "width"}, "coord": {0: "batch", 1: "queries"},
            "cell": {0: "batch", 1: "queries"}, "pred": {0: "batch", 1: "queries"}}
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            torch.onnx.export(graph, inputs, str(path), dynamo=False,
                              input_names=["inp", "coord", "cell"], output_names=["pred"],
                              dynamic_axes=axes, opset_version=ONNX_OPSET)
    except Exception as exc:  # the exporter raises many types (SymbolicValueError, ...)
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ModelError(f"ONNX export failed ({first[:200]}): export to TorchScript instead "
                         "(--format torchscript)") from exc
    model = onnx.load(str(path))
    if int8:
        model = _onnx_int8(model, path)
    del model.metadata_props[:]
    entry = model.metadata_props.add()
    entry.key, entry.value = META_KEY, meta.to_json()
    onnx.save(model, str(path))


def _onnx_int8(model: Any, path: Path) -> Any:
    import onnx

    try:
        from onnxruntime.quantization import QuantType, quantize_dynamic
    except ImportError as exc:
        raise ModelError("int8 ONNX export needs onnxruntime: pip install onnxruntime") from exc
    src = path.with_name(path.stem + ".f32.onnx")
    onnx.save(model, str(src))
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # onnxruntime logs a pre-processing hint on the root logger
    try:
        # Same choice as the TorchScript path: only the fully connected layers (MatMul/Gemm).
        quantize_dynamic(str(src), str(path), weight_type=QuantType.QInt8,
                         op_types_to_quantize=["MatMul", "Gemm"])
    finally:
        root.setLevel(level)
        src.unlink(missing_ok=True)
    return onnx.load(str(path))


# -- parity --------------------------------------------------------------------------------------

def run_exported(path: Path, fmt: str, inputs: tuple[torch.Tensor, ...],
                 meta: ExportMeta) -> torch.Tensor:
    """Run an exported file on normalised (inp, coord, cell); returns pred (B, Q, C) float32."""
    inp, coord, cell = inputs
    if fmt == "torchscript":
        module = torch.jit.load(str(path), map_location="cpu")
        # One-off runs: skip the profiling executor's optimisation passes (seconds per shape).
        with torch.inference_mode(), torch.jit.optimized_execution(False):
            x = inp.half() if meta.precision == "float16" else inp
            return module(x, coord, cell).float()
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    dtype = np.float16 if meta.precision == "float16" else np.float32
    feeds = {"inp": inp.numpy().astype(dtype), "coord": coord.numpy(), "cell": cell.numpy()}
    feeds = {i.name: feeds[i.name] for i in sess.get_inputs()}
    return torch.from_numpy(np.asarray(sess.run(["pred"], feeds)[0], dtype=np.float32))


def _parity(reference: nn.Module, path: Path, fmt: str, cases: list[tuple[torch.Tensor, ...]],
            meta: ExportMeta) -> float:
    worst = 0.0
    for case in cases:
        with torch.inference_mode():
            want = reference(*case).float()
        got = run_exported(path, fmt, case, meta)
        if got.shape != want.shape:
            raise ModelError(f"the exported {fmt} graph returned shape {tuple(got.shape)} instead "
                             f"of {tuple(want.shape)}: it froze an input size; use the eager model")
        worst = max(worst, float((got - want).abs().max()))
    return worst


__all__ = ["EXPORTABLE", "ExportResult", "FORMATS", "PointQueryGraph", "example_inputs",
           "export_model", "meta_for", "run_exported"]
