"""Conv experts and the sparse dispatch that runs only the experts a patch was routed to.

Dispatch (per block): the feature map (B, C, H, W) is cut into non-overlapping ``patch`` x
``patch`` regions. Each region is taken *with a halo* of ``halo`` pixels on every side (zero
padding at the image border, as an ordinary convolution would see), so a patch is a small image
of side ``patch + 2 * halo``. The patches routed to expert ``e`` (in either of their top-k slots)
are gathered in batches (on the CPU of at most :data:`DISPATCH_CHUNK`), expert ``e`` runs on
each, and the central ``patch`` x ``patch`` outputs are weighted by the renormalised gates and
added back (``index_add_``). Bounded batches keep the tensors of a call the same few sizes from
tile to tile: one batch of all of an expert's patches (a size that changes with every routing)
left the heap growing from tile to tile, up to twice a tile's working memory. Experts that no
patch selected are never called, so the cost grows with ``k``, not with the number of experts.

Halo and padding choices: an expert has two 3x3 convolutions, so its central pixels depend on 2
pixels of context each side; ``halo = 2`` makes the central outputs' convolutions see the true
neighbouring features instead of padding, so no seam appears between patches routed to the same
expert. The cost is the halo area: (patch + 4)^2 / patch^2 = 2.25x the convolution work at
``patch = 8``. GroupNorm statistics are taken over each halo'd patch (the expert's input), not
over the whole feature map: this is what a per-region expert sees, and it keeps the expert's
output independent of far-away image content (good for tiling). Across patches routed to
*different* experts the outputs are different functions by design; the shared dense projection
before the router and the decoder convolutions after it smooth the transitions.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from engine.models.moe.router import Routing


#: Patches one expert call takes at most on the CPU.
DISPATCH_CHUNK = 128


def _groups(channels: int, wanted: int = 8) -> int:
    g = min(wanted, channels)
    while channels % g:
        g -= 1
    return g


class ConvExpert(nn.Module):
    """Residual conv block with GroupNorm and adaptive GroupNorm on the timestep embedding.

    ``x + conv2(SiLU(GN(conv1(SiLU(AdaGN(x, temb))))))`` where ``AdaGN(x, temb) = GN(x) * (1 +
    scale) + shift`` with (scale, shift) a linear map of ``temb`` (Dhariwal & Nichol 2021, sec.
    3): every expert knows the noise level it is denoising at. ``conv2`` starts at zero so an
    untrained expert is the identity.

    Args:
        channels: feature width.
        temb_dim: timestep embedding width.

    ``forward(x, temb)``: x (N, C, s, s), temb (N, T) -> (N, C, s, s).
    """

    def __init__(self, *, channels: int, temb_dim: int) -> None:
        super().__init__()
        g = _groups(channels)
        self.norm1 = nn.GroupNorm(g, channels)
        self.film = nn.Linear(temb_dim, 2 * channels)
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.norm2 = nn.GroupNorm(g, channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)
        nn.init.zeros_(self.conv2.weight)
        nn.init.zeros_(self.conv2.bias)

    def forward(self, x: torch.Tensor, temb: torch.Tensor) -> torch.Tensor:
        scale, shift = self.film(F.silu(temb))[:, :, None, None].chunk(2, dim=1)
        h = self.norm1(x) * (1 + scale) + shift
        h = self.conv1(F.silu(h))
        h = self.conv2(F.silu(self.norm2(h)))
        return x + h


class SparseMoE(nn.Module):
    """``num_experts`` :class:`ConvExpert`\\ s applied sparsely per patch.

    Args:
        channels: feature width.
        temb_dim: timestep embedding width.
        num_experts: E.
        patch: patch side (must divide the feature map's H and W).
        halo: context pixels each side of a patch (see module docstring).

    ``forward(h, temb, routing)``: h (B, C, H, W), temb (B, T), routing for N = B * H/p * W/p
    patches -> (B, C, H, W) = sum over the chosen experts of gate * expert(patch).
    """

    def __init__(self, *, channels: int, temb_dim: int, num_experts: int = 8, patch: int = 8,
                 halo: int = 2) -> None:
        super().__init__()
        self.experts = nn.ModuleList(ConvExpert(channels=channels, temb_dim=temb_dim)
                                     for _ in range(num_experts))
        self.patch, self.halo = patch, halo

    def forward(self, h: torch.Tensor, temb: torch.Tensor, routing: Routing) -> torch.Tensor:
        b, c, height, width = h.shape
        p, r = self.patch, self.halo
        hp, wp = height // p, width // p
        s = p + 2 * r
        # Patch n = b * L + row * wp + col (the router's order), read from (b, row, col) views of
        # the padded map: only the patches of one expert call are ever copied, in bounded
        # chunks (varying-size copies of every patch made the allocator's heap grow from tile
        # to tile). Outputs are added into patch-major rows (index_add_ is ten times faster
        # than an accumulating index_put_ into views of the map) and laid out once at the end.
        windows = F.pad(h, (r, r, r, r)).unfold(2, s, p).unfold(3, s, p).permute(0, 2, 3, 1, 4, 5)
        out = h.new_zeros(b * hp * wp, c, p, p)
        # Bounded batches on the CPU (glibc's heap); a GPU's caching allocator copes with varying
        # sizes, and fewer, larger launches suit it.
        limit = DISPATCH_CHUNK if h.device.type == "cpu" else max(1, b * hp * wp)
        for e, expert in enumerate(self.experts):
            rows, slot = (routing.experts == e).nonzero(as_tuple=True)
            for i in range(0, rows.numel(), limit):  # none: the expert never runs
                sel, sl = rows[i:i + limit], slot[i:i + limit]
                where = (sel // (hp * wp), sel % (hp * wp) // wp, sel % wp)
                y = expert(windows[where], temb[where[0]])[:, :, r:r + p, r:r + p]
                out.index_add_(0, sel, y * routing.gates[sel, sl][:, None, None, None])
        return out.view(b, hp, wp, c, p, p).permute(0, 3, 1, 4, 2, 5).reshape(b, c, height, width)
