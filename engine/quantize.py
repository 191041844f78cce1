"""Weight transforms of a network: int8 dynamic quantisation and magnitude pruning.

Each function returns a new module and leaves the caller's untouched (compute precision and
autocast: :mod:`engine.precision`; the bench-only optimised wrapper: :mod:`engine.bench.optimise`):

* :func:`quantize_dynamic_int8`: post-training dynamic int8 quantisation of every ``nn.Linear``
  (for LMLTE: the hypernetwork / latent MLP and the render MLP). Weights are stored int8,
  activations quantised per batch at run time; CPU only (fbgemm / x86 / qnnpack kernels).
* :func:`prune_magnitude`: global-per-layer L1 magnitude pruning of Conv2d / Linear weights
  (zeros in dense tensors: smaller compressed files, no speed-up without sparse kernels).

What pays is measured by ``python -m engine bench --only export`` (``build/bench/export.json``).
"""

from __future__ import annotations

import copy
import warnings

import torch
from torch import nn

from engine.errors import ParameterError


def quantize_dynamic_int8(module: nn.Module) -> nn.Module:
    """A copy of ``module`` (on the CPU, float32) with every ``nn.Linear`` dynamically int8-quantised.

    Raises:
        ParameterError: this torch build has no quantised CPU engine.
    """
    if not torch.backends.quantized.supported_engines or \
            torch.backends.quantized.supported_engines == ["none"]:
        raise ParameterError("this torch build has no int8 CPU kernels: drop --quantize int8")
    from torch.ao.quantization import quantize_dynamic

    src = copy.deepcopy(module).cpu().float().eval()
    with warnings.catch_warnings():
        # torch 2.13 announces the move of quantised tensors to torchao; the kernels still work.
        warnings.simplefilter("ignore")
        return quantize_dynamic(src, {nn.Linear}, dtype=torch.qint8)

def prune_magnitude(module: nn.Module, amount: float,
                    kinds: tuple[type[nn.Module], ...] = (nn.Conv2d, nn.Linear)) -> nn.Module:
    """A copy of ``module`` with the ``amount`` fraction of smallest-|w| weights of each layer zeroed.

    Args:
        amount: fraction in [0, 1) of each layer's weights set to zero.
        kinds: layer types pruned (biases are kept).
    """
    if not 0.0 <= amount < 1.0:
        raise ParameterError(f"pruning amount {amount} is outside [0, 1): give e.g. 0.2")
    out = copy.deepcopy(module)
    if amount == 0.0:
        return out
    with torch.no_grad():
        for layer in out.modules():
            if isinstance(layer, kinds) and getattr(layer, "weight", None) is not None:
                w = layer.weight
                k = int(round(amount * w.numel()))
                if k < 1:
                    continue
                threshold = w.abs().flatten().kthvalue(k).values
                w.mul_((w.abs() > threshold).to(w.dtype))
    return out


def sparsity(module: nn.Module) -> float:
    """Fraction of exactly-zero weights over all Conv2d / Linear weights of ``module``."""
    zeros = total = 0
    for layer in module.modules():
        if isinstance(layer, (nn.Conv2d, nn.Linear)):
            zeros += int((layer.weight == 0).sum())
            total += layer.weight.numel()
    return zeros / max(total, 1)


__all__ = ["prune_magnitude", "quantize_dynamic_int8", "sparsity"]
