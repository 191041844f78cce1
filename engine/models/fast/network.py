"""The ``fast`` network: GDAL-style cubic resampling plus a learned, content- and phase-dependent
correction, all of it cheap per output pixel.

    f = body(lr)                                   # K features per LR pixel (a tiny CNN)
    out = cubic(lr) + sum_k linear(f)_k * a_k(phase_y, cell_y) * b_k(phase_x, cell_x)

``cubic`` and ``linear`` are separable resamplings at the output pixel centres, computed together
as one summed resampling (:mod:`engine.models.fast.resample`); ``a`` and ``b`` are small MLPs of
the position of the output centre between two LR centres (its phase) and of the output pixel
size (the cell), one per axis, evaluated once per output row and once per column. The
correction is learned resampling in the spirit of LeRF (Li et al., 2024): the LR content steers
how each output pixel is reconstructed from its neighbours, and the phase bases let it place
detail between LR pixel centres, at any fractional and per-axis scale. Per output pixel the cost
is one banded matrix product over the K + 1 planes; the CNN runs on the LR grid (a quarter of
the pixels at x2).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from engine.models.fast.resample import AxisTaps, phase, summed_resampling, taps


def _axis_taps(positions: torch.Tensor, size: int, gains: torch.Tensor) -> AxisTaps:
    """One axis of the summed resampling: the cubic taps for the band, then the linear taps
    times ``gains`` (K, n) for the K features."""
    dtype = gains.dtype
    ic, wc = taps(positions.to(gains.device), size, "cubic")
    il, wl = taps(positions.to(gains.device), size, "linear")
    return [(ic, wc.to(dtype)[None]), (il, wl.to(dtype)[None] * gains[:, :, None])]


def _axis_mlp(features: int, hidden: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(2, hidden), nn.SiLU(), nn.Linear(hidden, features))


class FastSRNet(nn.Module):
    """Args:
        in_channels: image channels (1: band-wise).
        channels: hidden width of the LR CNN.
        layers: 3x3 convolutions of the LR CNN (receptive radius = layers).
        features: K, correction features per LR pixel.
        hidden: width of the per-axis phase MLPs.
    """

    def __init__(self, *, in_channels: int = 1, channels: int = 16, layers: int = 3,
                 features: int = 8, hidden: int = 16) -> None:
        super().__init__()
        self.args = dict(in_channels=in_channels, channels=channels, layers=layers,
                         features=features, hidden=hidden)
        convs: list[nn.Module] = []
        width = in_channels
        for i in range(layers):
            last = i == layers - 1
            out = features * in_channels if last else channels
            convs.append(nn.Conv2d(width, out, 3))  # valid: the input is padded once, below
            if not last:
                convs.append(nn.ReLU(inplace=True))
            width = out
        self.body = nn.Sequential(*convs)
        self.in_channels, self.features = in_channels, features
        self.rows = _axis_mlp(features, hidden)
        self.cols = _axis_mlp(features, hidden)

    def lr_features(self, lr: torch.Tensor) -> torch.Tensor:
        """The CNN's K features (N, K, h, w) of ``lr`` (N, C, h, w); also the CPU runtime's
        graph (:func:`engine.models.fast.runtime.export_graph`)."""
        # Edge replication once for the whole CNN (cheaper than padding every layer, and raster
        # edges see continued content instead of zeros).
        r = int(self.args["layers"])
        # Channels-last: oneDNN's direct convolution for few channels is 2-3 times faster in
        # NHWC than in NCHW (the weights are converted once, in ``load``).
        padded = F.pad(lr, (r, r, r, r), mode="replicate")
        return self.body(padded.contiguous(memory_format=torch.channels_last))

    def forward(self, lr: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor,
                pixel: tuple[float, float]) -> torch.Tensor:
        """``lr`` (B, C, h, w) in [0, 1] rendered at pixel centres ``rows`` (H,) x ``cols`` (W,)
        (LR pixel units from the top/left edge); ``pixel``: output pixel size (dy, dx) in LR
        pixels. Returns (B, C, H, W)."""
        b, c, h, w = lr.shape
        dtype, dev = lr.dtype, lr.device
        k = self.features
        py = torch.stack([phase(rows), torch.full_like(rows, float(pixel[0]),
                                                       dtype=torch.float64)], 1)
        px = torch.stack([phase(cols), torch.full_like(cols, float(pixel[1]),
                                                       dtype=torch.float64)], 1)
        gain_y = self.rows(py.to(dev, dtype)).t()  # (K, H)
        gain_x = self.cols(px.to(dev, dtype)).t()  # (K, W)
        feats = self.lr_features(lr)
        # Per band: its cubic base and its K features, summed in one resampling whose linear
        # taps carry the phase bases as gains.
        planes = torch.cat([lr.reshape(b * c, 1, h, w), feats.reshape(b * c, k, h, w)], 1)
        out = summed_resampling(planes.contiguous(), _axis_taps(rows, h, gain_y),
                                _axis_taps(cols, w, gain_x))
        return out.reshape(b, c, *out.shape[-2:])


__all__ = ["FastSRNet"]
