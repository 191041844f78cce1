"""engine.quantize: int8 dynamic quantisation, pruning, and the half / channels-last code path."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from engine.bench.optimise import OptimisedSRModel, optimise
from engine.errors import ParameterError
from engine.precision import autocast_dtype, inference_context
from engine.quantize import prune_magnitude, quantize_dynamic_int8, sparsity
from tests.engine.test_export import TinySRModel, tiny_model


@pytest.fixture(scope="module")
def tiny() -> TinySRModel:
    return tiny_model()


def _lr(seed: int = 0) -> torch.Tensor:
    return torch.rand(1, 3, 14, 18, generator=torch.Generator().manual_seed(seed))


def test_int8_quantises_every_linear_and_stays_close(tiny):
    fast = optimise(tiny, int8=True)
    assert isinstance(fast, OptimisedSRModel) and fast.supports_grid == tiny.supports_grid
    from torch.ao.nn.quantized.dynamic import Linear as DynamicLinear

    linears = [m for m in fast.module.modules() if isinstance(m, nn.Linear | DynamicLinear)]
    assert linears and all(isinstance(m, DynamicLinear) for m in linears)
    assert any(isinstance(m, nn.Linear) for m in tiny.module.modules())  # original untouched
    lr = _lr()
    out, ref = fast.upscale(lr, (35, 45)), tiny.upscale(lr, (35, 45))
    assert out.dtype == torch.float32 and out.shape == ref.shape
    assert float((out - ref).abs().mean()) < 0.01
    assert fast.describe()["int8"] is True


def test_half_and_channels_last_code_path_runs_on_cpu(tiny):
    """On the CPU autocast uses bfloat16: the same code as float16 autocast on CUDA."""
    fast = optimise(tiny, half=True, channels_last=True)
    lr = _lr(1)
    out = fast.upscale(lr, (28, 36))
    assert out.dtype == torch.float32
    assert float((out - tiny.upscale(lr, (28, 36))).abs().mean()) < 0.02
    conv = next(m for m in fast.module.modules() if isinstance(m, nn.Conv2d))
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    assert tiny.module.encoder[0].weight.is_contiguous()  # original layout untouched


def test_autocast_precision_per_device():
    assert autocast_dtype(torch.device("cuda")) == torch.float16
    assert autocast_dtype(torch.device("cpu")) == torch.bfloat16
    with inference_context(torch.device("cpu"), half=True):
        y = nn.Linear(4, 4)(torch.rand(2, 4))
    assert y.dtype == torch.bfloat16
    with inference_context(torch.device("cpu"), half=False):
        assert nn.Linear(4, 4)(torch.rand(2, 4)).dtype == torch.float32


def test_optimise_without_options_returns_the_model(tiny):
    assert optimise(tiny) is tiny


def test_int8_is_refused_on_a_gpu_model_and_with_half(tiny):
    class OnGpu(TinySRModel):
        @property
        def device(self) -> torch.device:  # type: ignore[override]
            return torch.device("cuda")

    gpu = OnGpu(name="g", family="lmlte", module=tiny.module, in_channels=3, out_channels=3)
    with pytest.raises(ParameterError, match="CPU only"):
        optimise(gpu, int8=True)
    with pytest.raises(ParameterError):
        optimise(tiny, int8=True, half=True)
    assert optimise(gpu, half=True).channels_last  # default on for CUDA half


def test_prune_magnitude_zeroes_the_smallest_weights(tiny):
    pruned = prune_magnitude(tiny.module, 0.3)
    assert sparsity(tiny.module) < 0.01
    assert 0.28 < sparsity(pruned) < 0.32
    for a, b in zip(tiny.module.modules(), pruned.modules()):
        if isinstance(a, nn.Linear):
            kept = b.weight != 0
            assert torch.equal(a.weight[kept], b.weight[kept])
            assert a.weight[~kept].abs().max() <= a.weight[kept].abs().min()
    with pytest.raises(ParameterError):
        prune_magnitude(tiny.module, 1.0)


def test_quantize_dynamic_int8_copies(tiny):
    q = quantize_dynamic_int8(tiny.module)
    assert q is not tiny.module
    x = torch.rand(1, 3, 8, 8) * 2 - 1
    coord = torch.rand(1, 10, 2) * 2 - 1
    cell = torch.full((1, 10, 2), 0.1)
    with torch.inference_mode():
        assert np.isfinite(q(x, coord, cell).numpy()).all()


def test_optimised_model_runs_through_the_raster_pipeline(tiny, geotiff, tmp_path):
    from osgeo import gdal

    from engine.pipeline import Scale, upscale_raster
    from rasters import smooth_image

    src = geotiff((smooth_image(20, 26, 3) * 255).astype("uint8"))
    outs = []
    for name, m in (("ref", tiny), ("int8", optimise(tiny, int8=True))):
        dst = tmp_path / f"{name}.tif"
        upscale_raster(src, dst, m, scale=Scale(x=2.5, y=2.5), tile=8)
        outs.append(gdal.Open(str(dst)).ReadAsArray().astype(int))
    assert outs[0].shape == (3, 50, 65)
    assert np.abs(outs[0] - outs[1]).mean() < 3


def test_static_int8_encoder_with_calibration(tiny):
    calib = [_lr(s) for s in range(3)]
    fast = optimise(tiny, calibration=calib)
    assert fast.int8
    assert any("quantized" in type(m).__module__ for m in fast.module.encoder.modules())
    assert not any(isinstance(m, nn.Conv2d) for m in fast.module.encoder.modules())
    lr = _lr(7)
    assert float((fast.upscale(lr, (28, 36)) - tiny.upscale(lr, (28, 36))).abs().mean()) < 0.05
    with pytest.raises(ParameterError, match="calibration"):
        from engine.bench.optimise import quantize_static_encoder

        quantize_static_encoder(tiny.module, [])


def test_the_real_default_model_runs_and_exports_in_int8(tmp_path):
    """The stand-in above has no modulated layers: the bundled LMLTE folds its render layers'
    biases into per-pixel tables and multiplies by their weights directly, which a quantised
    layer has no float form of. Large enough for the latent MLP's pixel blocks, at a scale with
    cell decoding (the phase layer) and through an exported TorchScript file."""
    import engine
    from engine.export import export_model
    from skimage import data as skimage_data

    model = engine.load_model("lmlte-default")
    lr = torch.from_numpy(skimage_data.camera()[100:244, 80:220].astype(np.float32) / 255)[None, None]
    assert lr.shape[-2] * lr.shape[-1] > 16384  # engine.models.lmlte.network.MOD_BLOCK
    ref = model.upscale(lr, (360, 350))
    fast = optimise(model, int8=True)
    assert float((fast.upscale(lr, (360, 350)) - ref).abs().mean()) < 0.002
    result = export_model(model, tmp_path / "q.pt", fmt="torchscript", quantize="int8")
    exported = engine.load_model(result.path)
    assert exported.describe()["quantized"] == "int8"
    assert float((exported.upscale(lr, (360, 350)) - ref).abs().mean()) < 0.002
