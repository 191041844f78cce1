"""Light LR encoder and the feature pyramid that conditions every U-Net level.

The LR image is encoded once at its own resolution (cheap: it is ``scale**2`` times smaller than
the output), then resized to each U-Net level's grid and projected, so every MoE block sees LR
features aligned with its own feature map whatever the (fractional) scale.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class _ResBlock(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(F.silu(self.conv1(x)))


class LREncoder(nn.Module):
    """EDSR-like shallow encoder (Lim et al. 2017, no upsampling) plus per-level projections.

    Args:
        in_channels: channels of the LR image (1 for the band-wise model).
        channels: feature width.
        num_blocks: residual blocks; receptive field = 2 * (1 + 2 * num_blocks) + 1 LR pixels.
        level_sizes_channels: output channels of the projection for each U-Net level.

    ``forward(lr)``: lr (B, C, h, w) in [-1, 1] -> features (B, channels, h, w).
    ``pyramid(feat, sizes)``: list of (B, out_l, H_l, W_l), bilinear resize then 1x1 projection.
    """

    def __init__(self, *, in_channels: int = 1, channels: int = 32, num_blocks: int = 2,
                 level_channels: tuple[int, ...] = (32, 32)) -> None:
        super().__init__()
        self.head = nn.Conv2d(in_channels, channels, 3, padding=1)
        self.body = nn.Sequential(*[_ResBlock(channels) for _ in range(num_blocks)])
        self.proj = nn.ModuleList(nn.Conv2d(channels, c, 1) for c in level_channels)
        self.num_blocks = num_blocks

    @property
    def receptive_radius(self) -> int:
        """LR pixels each side that one feature depends on."""
        return 1 + 2 * self.num_blocks

    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        x = self.head(lr)
        return x + self.body(x)

    def pyramid(self, feat: torch.Tensor, sizes: list[tuple[int, int]]) -> list[torch.Tensor]:
        out = []
        for proj, size in zip(self.proj, sizes):
            # align_corners=False keeps pixel centres consistent with the bicubic upsample.
            f = F.interpolate(feat, size=size, mode="bilinear", align_corners=False)
            out.append(proj(f))
        return out
