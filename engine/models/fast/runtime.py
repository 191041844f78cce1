"""The ``fast`` model's CPU runtime: onnxruntime and NumPy, without PyTorch.

Why: GDAL upscales a raster in about as long as it takes Python to import PyTorch (1.2-1.8 s on
a 2-core machine), so a CLI job of the ``fast`` model could not reach GDAL's speed through torch
whatever the network did. onnxruntime imports in about 0.1 s, and its convolutions for a few
channels ran 1.5 times faster than torch's on the pipeline's tiles. The raster pipeline therefore
runs ``fast`` through this runtime on the CPU (see ``runtime`` in the model card and
:func:`engine.models.registry.load_model`); training, CUDA and the Python API keep the torch
network (:class:`~engine.models.fast.network.FastSRNet`), which stays the reference: the
runtime's graph is exported from it (:func:`export_graph`), and the tests hold both to the same
pixels.

The graph (``fast.onnx``) holds the learned parts: the LR CNN (with its edge padding) and the
two per-axis phase MLPs. The summed resampling, which only arranges those outputs, is NumPy
banded matrix products here, as :mod:`engine.models.fast.resample` does in torch (there it has
to stay differentiable for training).

``python -m engine.models.fast.runtime CHECKPOINT OUT.onnx`` writes the graph of a checkpoint.
"""

from __future__ import annotations

import json
import sys
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from engine.errors import ModelError, ParameterError
from engine.models.fast.taps import BAND, halo, phase, taps

#: Key of the JSON metadata (the network's args) in the graph's ``metadata_props``.
META_KEY = "arbsr-fast"


# --- Banded blocks (the same blocking as the torch resampling) ---------------------------------


#: One axis: per group of planes, (tap indices (n, T), tap weights (planes, n, T)).
AxisTaps = list[tuple[np.ndarray, np.ndarray]]


#: A block of outputs o0..o1 that reads LR pixels lo..hi of the S stacked planes, with its
#: matrix laid out as its product takes it: (o1 - o0, (hi - lo) * S) for rows, (S, hi - lo,
#: o1 - o0) for columns.
Block = tuple[int, int, int, int, np.ndarray]
#: Axes whose blocks the runtime keeps (rows and columns of the last few tile shapes).
AXIS_CACHE = 8


def _blocks(axis: AxisTaps, rows: bool) -> list[Block]:
    """(o0, o1, lo, hi, float32 matrix) per block of outputs of the ``rows`` or column axis (see
    :data:`Block`); the same blocking as the torch resampling (by first tap, ``BAND`` LR pixels
    per block). Laid out here, once per cached axis, not at every tile."""
    n = axis[0][0].shape[0]
    first = axis[0][0][:, 0]
    blocks = []
    o0 = 0
    while o0 < n:
        o1 = int(np.searchsorted(first, first[o0] + BAND, side="left"))
        o1 = min(max(o1, o0 + 1), n)
        lo = min(int(idx[o0:o1].min()) for idx, _ in axis)
        hi = max(int(idx[o0:o1].max()) for idx, _ in axis) + 1
        mats = []
        for idx, w in axis:
            planes, taps_n = w.shape[0], idx.shape[1]
            m = np.zeros((planes, o1 - o0, hi - lo), dtype=np.float32)
            at = (np.repeat(np.arange(o1 - o0), taps_n), (idx[o0:o1] - lo).reshape(-1))
            for p in range(planes):
                # Adding: clamped edge taps that land on the same pixel sum (edge replication).
                np.add.at(m[p], at, w[p, o0:o1].reshape(-1))
            mats.append(m)
        m = np.concatenate(mats)  # (S, o1 - o0, hi - lo)
        m = (m.transpose(1, 2, 0).reshape(o1 - o0, -1) if rows
             else np.ascontiguousarray(m.transpose(0, 2, 1)))
        blocks.append((o0, o1, lo, hi, m))
        o0 = o1
    return blocks


def resample_blocks(planes: np.ndarray, rows: list[Block], cols: list[Block]) -> np.ndarray:
    """sum over s of ``planes[:, s]`` (N, S, h, w) resampled with the s-th rows x cols weights
    (the axes' blocks) -> (N, H, W) float32: columns first on the LR rows, then rows, with the
    planes stacked into the inner dimension of the second product (the sum happens inside
    it), as :func:`engine.models.fast.resample.summed_resampling` does in torch."""
    n, s, h, _ = planes.shape
    height, width = rows[-1][1], cols[-1][1]
    t = np.empty((n, h, s, width), dtype=np.float32)
    for j0, j1, lo, hi, m in cols:
        # (N, S, h, band) @ (S, band, j) -> (N, S, h, j) -> (N, h, S, j)
        t[..., j0:j1] = np.matmul(planes[..., lo:hi], m).transpose(0, 2, 1, 3)
    out = np.empty((n, height, width), dtype=np.float32)
    for i0, i1, lo, hi, m in rows:
        out[:, i0:i1] = np.matmul(m, t[:, lo:hi].reshape(n, (hi - lo) * s, width))
    return out


# --- The runtime model --------------------------------------------------------------------------


@dataclass(frozen=True)
class CpuDevice:
    """Stands for ``torch.device('cpu')`` where callers only ask ``device.type``."""

    type: str = "cpu"

    def __str__(self) -> str:
        return self.type


def _onnxruntime() -> Any:
    try:
        import onnxruntime
    except ImportError as exc:
        raise ModelError("the fast model's CPU runtime needs onnxruntime: pip install -r "
                         "requirements.txt into the engine's Python") from exc
    return onnxruntime


@dataclass(kw_only=True)
class FastRuntime:
    """The ``fast`` model on the CPU, NumPy in and out: what the raster pipeline runs.

    Same attributes as an :class:`~engine.models.sr_model.SRModel` for the pipeline
    (``in_channels``, ``halo``, ``supports_grid``, ...); ``array_api == "numpy"`` tells it to
    hand over NumPy arrays instead of torch tensors.
    """

    name: str
    path: Path
    features: int
    layers: int
    scale_range: tuple[float, float] = (1.0, 8.0)
    options: dict[str, Any] = field(default_factory=dict)
    threads: int | None = None
    family: str = "fast"
    in_channels: int = 1
    out_channels: int = 1
    stochastic: bool = False
    supports_grid: bool = True
    array_api: ClassVar[str] = "numpy"
    device: CpuDevice = field(default_factory=CpuDevice)
    session: Any = None
    #: Banded blocks of recent axes: the tiles of a raster share their positions (and so their
    #: gains), whole at integer scales, so most tiles reuse their rows' and columns' matrices.
    _axes: OrderedDict[bytes, list[Block]] = field(default_factory=OrderedDict, repr=False)

    def __post_init__(self) -> None:
        from threadpoolctl import ThreadpoolController

        # The banded products are small: one BLAS thread runs them faster than two, which
        # also leave the second core to the graph and to the writer's compression (the 2048²
        # x2 CLI job: 2.5 s with two BLAS threads, 2.2 s with one).
        self._blas = ThreadpoolController()
        if self.session is None:
            self.set_threads(self.threads)

    @property
    def halo(self) -> int:
        """LR context of a tile (:func:`engine.models.fast.taps.halo`)."""
        return halo(self.layers)

    def set_threads(self, threads: int | None) -> None:
        """Run the graph on ``threads`` threads (None: all cores)."""
        self.threads = threads
        try:
            self.session = _session(self.path, threads)
        except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own error types
            first = (str(exc).strip().splitlines() or [""])[0][:160]
            raise ModelError(f"cannot load the fast runtime graph '{self.path}' ({first}): "
                             "reinstall the plugin or re-clone the repository") from exc

    def upscale_grid(self, lr: np.ndarray, rows: np.ndarray, cols: np.ndarray,
                     pixel: tuple[float, float], *, clamp: bool = True,
                     **kwargs: Any) -> np.ndarray:
        """Output pixels centred at ``rows`` x ``cols`` (LR pixel units from the top/left) of
        ``lr`` (B, C, h, w) in [0, 1] -> (B, C, H, W) float32, band by band."""
        if lr.ndim != 4:
            raise ParameterError(f"lr must be (B, C, h, w), got shape {tuple(lr.shape)}")
        b, c, h, w = lr.shape
        x = np.ascontiguousarray(lr.reshape(b * c, 1, h, w), dtype=np.float32)
        rows, cols = np.asarray(rows, np.float64), np.asarray(cols, np.float64)
        py = np.stack([phase(rows), np.full_like(rows, float(pixel[0]))], 1).astype(np.float32)
        px = np.stack([phase(cols), np.full_like(cols, float(pixel[1]))], 1).astype(np.float32)
        feats, gain_y, gain_x = self.session.run(None, {"lr": x, "rows": py, "cols": px})
        planes = np.concatenate([x, feats], axis=1)
        with self._blas.limit(limits=1, user_api="blas"):
            out = resample_blocks(planes, self._blocks("y", rows, h, pixel[0], gain_y),
                                  self._blocks("x", cols, w, pixel[1], gain_x))
        out = out.reshape(b, c, *out.shape[-2:])
        return np.clip(out, 0, 1) if clamp else out

    def _blocks(self, axis: str, positions: np.ndarray, size: int, cell: float,
                gains: np.ndarray) -> list[Block]:
        """The banded blocks of one axis, from the cache when the tile's positions were seen
        along that axis (the gains are a function of the axis, the positions and the cell, so
        they match too)."""
        key = (axis.encode() + np.float64(cell).tobytes() + np.int64(size).tobytes()
               + positions.tobytes())
        blocks = self._axes.get(key)
        if blocks is None:
            blocks = _blocks(self._axis(positions, size, gains), rows=axis == "y")
            self._axes[key] = blocks
            if len(self._axes) > AXIS_CACHE:
                self._axes.popitem(last=False)
        return blocks

    @staticmethod
    def _axis(positions: np.ndarray, size: int, gains: np.ndarray) -> AxisTaps:
        """The cubic taps for the band, then the linear taps times ``gains`` (n, K) for the K
        features (float32 weights, as the torch network multiplies them)."""
        ic, wc = taps(positions, size, "cubic")
        il, wl = taps(positions, size, "linear")
        wl32 = wl.astype(np.float32)[None] * gains.T[:, :, None]
        return [(ic, wc.astype(np.float32)[None]), (il, wl32)]

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "family": self.family, "in_channels": 1, "out_channels": 1,
                "scale_range": list(self.scale_range), "stochastic": False}


def load_runtime(path: Path, *, name: str, options: dict[str, Any] | None = None,
                 scale_range: tuple[float, float] = (1.0, 8.0),
                 threads: int | None = None) -> FastRuntime:
    """The runtime of the graph at ``path`` (written by :func:`export_graph`).

    Raises:
        ModelError: missing or unreadable graph, or one without the runtime's metadata.
    """
    if not path.is_file():
        raise ModelError(f"the CPU runtime of model '{name}' is missing ({path}): reinstall the "
                         "plugin or re-clone the repository")
    try:
        # One session, kept: it also carries the network's args in its metadata.
        session = _session(path, threads)
        args = json.loads(session.get_modelmeta().custom_metadata_map[META_KEY])
    except Exception as exc:  # noqa: BLE001 - onnxruntime / JSON / missing key
        raise ModelError(f"'{path}' is not a fast runtime graph: re-export it with python -m "
                         "engine.models.fast.runtime CHECKPOINT OUT.onnx") from exc
    return FastRuntime(name=name, path=path, features=int(args["features"]),
                       layers=int(args["layers"]), scale_range=scale_range,
                       options=dict(options or {}), threads=threads, session=session)


def _session(path: Path, threads: int | None) -> Any:
    """An onnxruntime CPU session of the graph on ``threads`` threads (None: all cores)."""
    ort = _onnxruntime()
    opts = ort.SessionOptions()
    if threads:
        opts.intra_op_num_threads = int(threads)
    # No spinning between calls: the reader and the writer threads need the cores then.
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    opts.log_severity_level = 3
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


# --- Export (torch) -----------------------------------------------------------------------------


def export_graph(net: Any, path: Path) -> None:
    """Write the learned parts of ``net`` (a band-wise ``FastSRNet``) as the runtime's graph:
    inputs ``lr`` (N, 1, h, w), ``rows`` (H, 2), ``cols`` (W, 2) (phase, cell); outputs the
    features (N, K, h, w) and the gains (H, K), (W, K)."""
    import onnx
    import torch
    from torch import nn

    if int(net.args["in_channels"]) != 1:
        raise ModelError("the fast runtime takes band-wise models (in_channels = 1)")

    class Graph(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = net

        def forward(self, lr: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor
                    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
            return self.net.lr_features(lr), self.net.rows(rows), self.net.cols(cols)

    graph = Graph().to("cpu", memory_format=torch.contiguous_format).float().eval()
    dynamic = {"lr": {0: "n", 2: "h", 3: "w"}, "rows": {0: "H"}, "cols": {0: "W"},
               "features": {0: "n", 2: "h", 3: "w"}, "gain_rows": {0: "H"},
               "gain_cols": {0: "W"}}
    tmp = path.with_name(path.name + ".tmp")
    with torch.no_grad():
        torch.onnx.export(graph, (torch.rand(1, 1, 16, 16), torch.rand(5, 2), torch.rand(7, 2)),
                          str(tmp), input_names=["lr", "rows", "cols"],
                          output_names=["features", "gain_rows", "gain_cols"],
                          dynamic_axes=dynamic, opset_version=17, dynamo=False)
    proto = onnx.load(str(tmp))
    entry = proto.metadata_props.add()
    entry.key, entry.value = META_KEY, json.dumps(dict(net.args), sort_keys=True)
    onnx.save(proto, str(tmp))
    tmp.replace(path)


def main(argv: list[str]) -> int:
    """``python -m engine.models.fast.runtime CHECKPOINT OUT.onnx``."""
    if len(argv) != 2:
        print("usage: python -m engine.models.fast.runtime CHECKPOINT OUT.onnx", file=sys.stderr)
        return 2
    from engine.models.registry import load_model

    model = load_model(argv[0], device="cpu")
    if model.family != "fast":
        print(f"error: '{argv[0]}' is not a fast model checkpoint", file=sys.stderr)
        return 2
    export_graph(model.module, Path(argv[1]))
    print(f"wrote {argv[1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))


__all__ = ["FastRuntime", "export_graph", "load_runtime", "resample_blocks"]
