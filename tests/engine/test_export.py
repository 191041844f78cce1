"""Export round trips: TorchScript and ONNX files reproduce the eager network and load back.

Two networks: a tiny LIIF-style point-query network defined here (fast, always available, same
``forward(inp, coord, cell)`` contract and the same shape-dependent operations as LMLTE: nearest
feature lookup, relative coordinates scaled by the LR size, cells, a bilinear skip), and the real
LMLTE network with random weights when ``engine.models.lmlte`` is present. Inputs are the LMLTE
reference cases in tests/data/lmlte/ (non-square LR, x2.5 and per-axis x2/x3).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from engine.errors import ModelError, OutputError, ParameterError
from engine.export import export_model, run_exported
from engine.models.exported import ExportedSRModel, ExportMeta
from engine.models.lmlte.checkpoint import OFFICIAL_EDSR_B_ARGS
from engine.models.lmlte.coords import cell_factor, make_coord_axis
from engine.models.registry import load_model
from engine.models.sr_model import SRModel

DATA = Path(__file__).resolve().parents[1] / "data" / "lmlte"
ROOT = Path(__file__).resolve().parents[2]
CASES = ("case_x2.5.npz", "case_x2_x3.npz")
#: Official EDSR-baseline LMLTE args (configs/train-lmf/train_edsr-baseline-lmlte.yaml).
LMLTE_ARGS = OFFICIAL_EDSR_B_ARGS


# -- a tiny point-query network with the LMLTE calling convention ---------------------------------

def _lr_grid(h: int, w: int, like: torch.Tensor) -> torch.Tensor:
    ys = -1 + 1 / h + (2 / h) * torch.arange(h, dtype=like.dtype, device=like.device)
    xs = -1 + 1 / w + (2 / w) * torch.arange(w, dtype=like.dtype, device=like.device)
    return torch.stack(torch.meshgrid(ys, xs, indexing="ij"), 0)


class TinyImplicit(nn.Module):
    """LIIF-like: conv encoder, nearest feature + relative coordinate + cell -> MLP, + bilinear skip."""

    def __init__(self, channels: int = 3, feat: int = 8, hidden: int = 32) -> None:
        super().__init__()
        self.encoder = nn.Sequential(nn.Conv2d(channels, feat, 3, padding=1), nn.ReLU(),
                                     nn.Conv2d(feat, feat, 3, padding=1))
        self.mlp = nn.Sequential(nn.Linear(feat + 4, hidden), nn.ReLU(),
                                 nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, channels))

    def forward(self, inp: torch.Tensor, coord: torch.Tensor, cell: torch.Tensor) -> torch.Tensor:
        feat = self.encoder(inp)
        b, _, h, w = feat.shape
        grid = coord.flip(-1).unsqueeze(1)
        q_feat = F.grid_sample(feat, grid, mode="nearest", align_corners=False)[:, :, 0].permute(0, 2, 1)
        lr_grid = _lr_grid(h, w, feat).unsqueeze(0).expand(b, 2, h, w)
        q_centre = F.grid_sample(lr_grid, grid, mode="nearest", align_corners=False)[:, :, 0].permute(0, 2, 1)
        # Scaled per axis with the sizes as numbers (as LMLTE does): torch.tensor([h, w])
        # would be frozen into a traced graph, which the export self-check catches.
        rel = torch.stack([(coord[..., 0] - q_centre[..., 0]) * h,
                           (coord[..., 1] - q_centre[..., 1]) * w], -1)
        rel_cell = torch.stack([cell[..., 0] * h, cell[..., 1] * w], -1)
        skip = F.grid_sample(inp, grid, mode="bilinear", padding_mode="border",
                             align_corners=False)[:, :, 0].permute(0, 2, 1)
        return self.mlp(torch.cat([q_feat, rel, rel_cell], -1)) + skip


class TinySRModel(SRModel):
    """Eager SRModel of :class:`TinyImplicit` with the LMLTE test protocol."""

    def upscale(self, lr, size, *, clamp=True, **kwargs):  # type: ignore[no-untyped-def]
        h, w = lr.shape[-2:]
        out_h, out_w = size
        ys, xs = make_coord_axis(out_h), make_coord_axis(out_w)
        coord = torch.stack(torch.meshgrid(ys, xs, indexing="ij"), -1).reshape(1, -1, 2)
        f = cell_factor(out_h / h, out_w / w, 4.0)
        cell = torch.tensor([float(np.float32(2 / out_h)) * f, float(np.float32(2 / out_w)) * f])
        coord = coord.expand(lr.shape[0], -1, -1)
        cell = cell.view(1, 1, 2).expand_as(coord)
        with torch.inference_mode():
            pred = self.module((lr - 0.5) / 0.5, coord, cell)
        out = (pred * 0.5 + 0.5).reshape(lr.shape[0], out_h, out_w, -1).permute(0, 3, 1, 2)
        return out.clamp(0, 1) if clamp else out


def tiny_model(seed: int = 0) -> TinySRModel:
    torch.manual_seed(seed)
    return TinySRModel(name="tiny", family="lmlte", module=TinyImplicit().eval(), in_channels=3,
                       out_channels=3, scale_range=(1.0, 4.0), halo=4)


def lmlte_model() -> SRModel | None:
    """The real LMLTE network (official EDSR-baseline args, random weights), or None if absent."""
    from engine.train.lmlte import build_network

    torch.manual_seed(0)
    try:
        net = build_network(LMLTE_ARGS).eval()
    except (ImportError, ModelError):
        return None
    return TinySRModel(name="lmlte-random", family="lmlte", module=net, in_channels=3,
                       out_channels=3, scale_range=(1.0, 4.0), halo=8)


def case_inputs(name: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    z = np.load(DATA / name)
    inp = torch.from_numpy(z["inp"])[None] * 2 - 1
    return inp, torch.from_numpy(z["coord"])[None], torch.from_numpy(z["cell"])[None]


@pytest.fixture(scope="module")
def tiny() -> TinySRModel:
    return tiny_model()


@pytest.fixture(scope="module")
def exported_tiny(tiny: TinySRModel, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("export")
    return {fmt: export_model(tiny, folder / f"tiny{suffix}", fmt=fmt).path
            for fmt, suffix in (("torchscript", ".pt"), ("onnx", ".onnx"))}


# -- parity --------------------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", ["torchscript", "onnx"])
@pytest.mark.parametrize("case", CASES)
def test_exported_graph_matches_eager_network_on_fixture_inputs(tiny, exported_tiny, fmt, case):
    inputs = case_inputs(case)
    with torch.inference_mode():
        want = tiny.module(*inputs)
    meta = ExportMeta(source_family="lmlte", source_name="tiny", in_channels=3, out_channels=3)
    got = run_exported(exported_tiny[fmt], fmt, inputs, meta)
    assert got.shape == want.shape
    assert float((got - want).abs().max()) <= 1e-4


@pytest.mark.parametrize("fmt", ["torchscript", "onnx"])
def test_exported_file_loads_through_the_registry_and_upscales_like_eager(tiny, exported_tiny, fmt):
    model = load_model(exported_tiny[fmt], device="cpu")
    assert isinstance(model, ExportedSRModel)
    assert model.family == fmt and model.supports_grid
    assert (model.in_channels, model.out_channels, model.halo) == (3, 3, 4)
    lr = torch.from_numpy(np.load(DATA / "case_x2_x3.npz")["inp"])[None]
    for size in [(48, 96), (61, 77), (13, 9)]:  # per-axis, fractional, downscale
        got = model.upscale(lr, size)
        want = tiny.upscale(lr, size)
        assert got.shape == (1, 3, *size)
        assert float((got - want).abs().max()) <= 1e-4


def test_upscale_grid_equals_full_grid_on_a_window(exported_tiny):
    """Tiling contract: rendering a sub-grid gives the same pixels as the full grid."""
    model = load_model(exported_tiny["torchscript"], device="cpu")
    lr = torch.rand(1, 3, 20, 24, generator=torch.Generator().manual_seed(3))
    full = model.upscale(lr, (50, 60))  # x2.5 both axes
    rows = (torch.arange(10, 30, dtype=torch.float64) + 0.5) / 2.5
    cols = (torch.arange(5, 45, dtype=torch.float64) + 0.5) / 2.5
    part = model.upscale_grid(lr, rows, cols, (1 / 2.5, 1 / 2.5))
    assert float((part - full[..., 10:30, 5:45]).abs().max()) <= 1e-5


def test_trace_does_not_freeze_the_input_size(tiny, tmp_path):
    """Traced at 24x32 -> 48x64; must run at other LR sizes, batch sizes and query counts."""
    path = export_model(tiny, tmp_path / "m.pt", fmt="torchscript").path
    module = torch.jit.load(str(path))
    for b, h, w, q in [(1, 7, 5, 3), (2, 40, 33, 1000)]:
        inp = torch.rand(b, 3, h, w) * 2 - 1
        coord = torch.rand(b, q, 2) * 2 - 1
        cell = torch.full((b, q, 2), 0.05)
        with torch.inference_mode():
            assert float((module(inp, coord, cell) - tiny.module(inp, coord, cell)).abs().max()) <= 1e-4


# -- options -------------------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", ["torchscript", "onnx"])
def test_int8_export_is_close_to_float(tiny, tmp_path, fmt):
    result = export_model(tiny, tmp_path / f"q{'.pt' if fmt == 'torchscript' else '.onnx'}",
                          fmt=fmt, quantize="int8")
    assert result.meta.quantized == "int8"
    model = load_model(result.path)
    assert model.describe()["quantized"] == "int8"
    lr = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    diff = (model.upscale(lr, (40, 40)) - tiny.upscale(lr, (40, 40))).abs()
    assert float(diff.mean()) < 0.02


def test_half_export_runs_on_cpu(tiny, tmp_path):
    result = export_model(tiny, tmp_path / "h.pt", fmt="torchscript", half=True)
    model = load_model(result.path)
    assert model.meta.precision == "float16"
    lr = torch.rand(1, 3, 12, 12)
    out = model.upscale(lr, (30, 30))
    assert out.dtype == torch.float32 and out.shape == (1, 3, 30, 30)
    assert float((out - tiny.upscale(lr, (30, 30))).abs().mean()) < 0.02


def test_pruned_export_has_zeros_and_matches_pruned_network(tiny, tmp_path):
    result = export_model(tiny, tmp_path / "p.pt", fmt="torchscript", prune=0.3)
    assert result.meta.pruned == 0.3 and result.max_abs_diff <= 1e-4


# -- errors --------------------------------------------------------------------------------------

def test_export_refuses_bad_requests(tiny, tmp_path):
    with pytest.raises(ParameterError):
        export_model(tiny, tmp_path / "a.pt", fmt="tflite")
    with pytest.raises(ParameterError):
        export_model(tiny, tmp_path / "a.pt", quantize="int8", half=True)
    (tmp_path / "exists.pt").write_bytes(b"x")
    with pytest.raises(OutputError, match="--overwrite"):
        export_model(tiny, tmp_path / "exists.pt")
    diffusion = TinySRModel(name="d", family="ldcsr", module=nn.Identity(), in_channels=3,
                            out_channels=3)
    with pytest.raises(ModelError, match="cannot be exported"):
        export_model(diffusion, tmp_path / "d.pt")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["exists.pt"]  # no temporary left


def test_corrupt_or_foreign_files_give_model_errors(tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not an onnx file")
    with pytest.raises(ModelError, match="re-export"):
        load_model(bad)
    plain = tmp_path / "plain.pt"
    torch.jit.save(torch.jit.script(nn.Linear(2, 2)), str(plain))
    with pytest.raises(ModelError, match="without ArbSR metadata"):
        load_model(plain)
    junk = tmp_path / "junk.pt"
    torch.save({"weights": torch.zeros(2)}, junk)
    with pytest.raises(ModelError):
        load_model(junk)


# -- the real LMLTE network ----------------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["torchscript", "onnx"])
def test_lmlte_export_parity_on_fixture_inputs(tmp_path, fmt):
    model = lmlte_model()
    if model is None:
        pytest.skip("engine.models.lmlte is not part of this build")
    path = export_model(model, tmp_path / f"lmlte{'.pt' if fmt == 'torchscript' else '.onnx'}",
                        fmt=fmt).path
    meta = ExportMeta(source_family="lmlte", source_name="x", in_channels=3, out_channels=3)
    for case in CASES:
        inputs = case_inputs(case)
        with torch.inference_mode():
            want = model.module(*inputs)
        got = run_exported(path, fmt, inputs, meta)
        assert float((got - want).abs().max()) <= 1e-4


# -- CLI -----------------------------------------------------------------------------------------

@pytest.mark.slow
def test_cli_export_then_upscale_a_geotiff(tmp_path, geotiff):
    """``python -m engine export`` of the default model to ONNX, then ``upscale --model m.onnx``.

    (The plugin test runs a TorchScript export through QGIS Processing.)
    """
    pytest.importorskip("engine.models.lmlte")
    pytest.importorskip("engine.commands.upscale")
    from rasters import smooth_image

    env_py = str(ROOT / ".venv" / "bin" / "python")
    py = env_py if Path(env_py).exists() else sys.executable
    out = tmp_path / "m.onnx"
    res = subprocess.run([py, "-m", "engine", "export", "lmlte-default", str(out),
                          "--progress", "json"], cwd=ROOT, capture_output=True, text=True,
                         timeout=300)
    assert res.returncode == 0, res.stderr
    done = json.loads(res.stdout.strip().splitlines()[-1])
    assert done["event"] == "done" and done["results"]["max_abs_diff"] <= 1e-4
    src = geotiff((smooth_image(20, 24, 3) * 1000).astype("uint16"))
    dst = tmp_path / "sr.tif"
    res = subprocess.run([py, "-m", "engine", "upscale", str(src), str(dst), "--scale", "2.5",
                          "--model", str(out), "--progress", "json"], cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    from osgeo import gdal

    ds = gdal.Open(str(dst))
    assert (ds.RasterXSize, ds.RasterYSize, ds.RasterCount) == (60, 50, 3)
    assert ds.GetGeoTransform()[1] == pytest.approx(2.0 * 24 / 60)


def test_onnx_execution_providers_per_device():
    from engine.errors import DeviceError
    from engine.models.exported.onnx import providers_for

    cpu_only = ["CPUExecutionProvider"]
    both = ["CUDAExecutionProvider", "CPUExecutionProvider"]
    assert providers_for(torch.device("cpu"), both) == ["CPUExecutionProvider"]
    assert providers_for(torch.device("cuda", 0), both) == both
    with pytest.raises(DeviceError, match="onnxruntime-gpu"):
        providers_for(torch.device("cuda", 0), cpu_only)


def test_exported_default_model_renders_both_axis_routes_like_the_checkpoint(tmp_path):
    """The bundled LMLTE averages the direct and the transposed route at non-square output
    pixels; its export must give the same pixels there (and at square pixels)."""
    eager = load_model("lmlte-default", device="cpu")
    path = export_model(eager, tmp_path / "default.pt", fmt="torchscript").path
    exported = load_model(path, device="cpu")
    assert exported.meta.axis_ensemble
    torch.manual_seed(2)
    lr = torch.rand(1, 1, 12, 15)
    for size in [(30, 22), (24, 30)]:  # x2.5 by x1.47 (non-square pixels), x2 by x2
        want = eager.upscale(lr, size, clamp=False)
        got = exported.upscale(lr, size, clamp=False)
        assert float((got - want).abs().max()) <= 1e-5
    # A model whose card asks for geometric views (self_ensemble) exports them too.
    eager.options["self_ensemble"] = 4
    path4 = export_model(eager, tmp_path / "views.pt", fmt="torchscript").path
    exported4 = load_model(path4, device="cpu")
    assert exported4.meta.self_ensemble == 4
    want = eager.upscale(lr, (24, 30), clamp=False)
    assert float((exported4.upscale(lr, (24, 30), clamp=False) - want).abs().max()) <= 1e-5
