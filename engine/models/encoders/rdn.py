"""RDN feature encoder (Zhang et al. 2018, "Residual Dense Network") with the LIIF/LMF names.

Keys match official checkpoints (``SFENet1/2``, ``RDBs.N.convs.M.conv.0``, ``RDBs.N.LFF``,
``GFF.0/1``). Input (B, n_colors, h, w); output (B, G0, h, w).
"""

from __future__ import annotations

import torch
from torch import nn

#: RDNconfig -> (blocks D, convs per block C, growth G)
CONFIGS = {"A": (20, 6, 32), "B": (16, 8, 64)}


class RDBConv(nn.Module):
    """3x3 conv + ReLU whose output is concatenated to its input (dense connection)."""

    def __init__(self, in_channels: int, grow: int, k: int = 3) -> None:
        super().__init__()
        self.conv = nn.Sequential(nn.Conv2d(in_channels, grow, k, padding=(k - 1) // 2), nn.ReLU())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat((x, self.conv(x)), 1)


class RDB(nn.Module):
    """Residual dense block: C dense convs, 1x1 local feature fusion, identity skip."""

    def __init__(self, g0: int, g: int, c: int) -> None:
        super().__init__()
        self.convs = nn.Sequential(*[RDBConv(g0 + i * g, g) for i in range(c)])
        self.LFF = nn.Conv2d(g0 + c * g, g0, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.LFF(self.convs(x)) + x


class RDN(nn.Module):
    """RDN trunk without upsampler (``no_upsampling=True``)."""

    #: Only convolutions: an output pixel depends on the input within receptive_radius alone.
    convolutional = True

    def __init__(self, G0: int = 64, RDNkSize: int = 3, RDNconfig: str = "B",
                 no_upsampling: bool = True, n_colors: int = 3, **_ignored: object) -> None:
        super().__init__()
        if not no_upsampling:
            raise ValueError("RDN encoder: only no_upsampling=True is supported for LMLTE")
        d, c, g = CONFIGS[RDNconfig]
        k = RDNkSize
        self.D = d
        self.SFENet1 = nn.Conv2d(n_colors, G0, k, padding=(k - 1) // 2)
        self.SFENet2 = nn.Conv2d(G0, G0, k, padding=(k - 1) // 2)
        self.RDBs = nn.ModuleList([RDB(G0, g, c) for _ in range(d)])
        self.GFF = nn.Sequential(nn.Conv2d(d * G0, G0, 1), nn.Conv2d(G0, G0, k, padding=(k - 1) // 2))
        self.out_dim = G0
        self.n_colors = n_colors
        r = (k - 1) // 2
        # two shallow convs, C convs per block, final 3x3 fusion conv
        self.receptive_radius = r * (2 + d * c + 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f1 = self.SFENet1(x)
        x = self.SFENet2(f1)
        outs = []
        for block in self.RDBs:
            x = block(x)
            outs.append(x)
        return self.GFF(torch.cat(outs, 1)) + f1


def make_rdn(G0: int = 64, RDNkSize: int = 3, RDNconfig: str = "B", **kwargs: object) -> RDN:
    """``rdn`` (configuration B: 16 blocks x 8 convs, growth 64, as LMF)."""
    return RDN(G0=G0, RDNkSize=RDNkSize, RDNconfig=RDNconfig, **kwargs)
