"""LR-aware top-k router over spatial patches, with the load-balancing and z losses.

Routing is per patch (``patch`` x ``patch`` pixels of the block's feature map), not per image, so
different regions of one image (fields, roofs, roads, water) can go to different experts. The
router sees the block features, the LR features and the timestep embedding: what a region needs
changes along the diffusion trajectory (coarse structure at high noise, texture at low noise).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass
class Routing:
    """Top-k routing decision for N = B * Hp * Wp patches.

    Attributes:
        logits: (N, E) float router logits.
        probs: (N, E) softmax of the logits.
        experts: (N, k) int64 chosen experts, best first.
        gates: (N, k) float weights of the chosen experts, renormalised to sum to 1.
        grid: (B, Hp, Wp) patch grid shape.
    """

    logits: torch.Tensor
    probs: torch.Tensor
    experts: torch.Tensor
    gates: torch.Tensor
    grid: tuple[int, int, int]

    @property
    def num_experts(self) -> int:
        return int(self.probs.shape[1])

    def counts(self) -> torch.Tensor:
        """(E,) number of (patch, slot) assignments per expert."""
        return torch.bincount(self.experts.reshape(-1), minlength=self.num_experts)


def balance_loss(probs: torch.Tensor, experts: torch.Tensor) -> torch.Tensor:
    """Batch-level load-balancing loss (Switch Transformer, Fedus et al. 2022 eq. 4-6).

    ``E * sum_e f_e * P_e`` with ``f_e`` the fraction of the N * k assignments given to expert
    ``e`` and ``P_e`` the mean router probability of ``e`` over the whole batch. It equals 1 for
    uniform routing and E when everything goes to one expert. Computed over the batch (all
    patches of all images), not per image, so an image may legitimately send all its regions of
    one kind to one expert: balance is asked of the whole batch only, which leaves room for
    content specialisation.

    Args:
        probs: (N, E) router probabilities.
        experts: (N, k) chosen expert indices.
    """
    n, e = probs.shape
    frac = torch.bincount(experts.reshape(-1), minlength=e).to(probs.dtype) / experts.numel()
    return e * (frac * probs.mean(0)).sum()


def z_loss(logits: torch.Tensor) -> torch.Tensor:
    """Router z-loss (ST-MoE, Zoph et al. 2022 eq. 5): mean of logsumexp(logits)^2.

    Keeps logits small so the softmax stays in a numerically comfortable range (matters in half
    precision).
    """
    return torch.logsumexp(logits.float(), dim=1).pow(2).mean()


class PatchRouter(nn.Module):
    """Router: pooled [block features, LR features] + timestep embedding -> expert logits.

    Args:
        channels: block feature channels.
        lr_channels: LR feature channels at this level.
        temb_dim: timestep embedding width.
        num_experts: E.
        top_k: experts per patch.
        patch: patch side in feature pixels.
        hidden: router MLP width.

    ``forward(h, f, temb)``: h (B, C, H, W), f (B, Cf, H, W), temb (B, T) with H, W multiples of
    ``patch`` -> :class:`Routing`.
    """

    def __init__(self, *, channels: int, lr_channels: int, temb_dim: int, num_experts: int = 8,
                 top_k: int = 2, patch: int = 8, hidden: int = 32) -> None:
        super().__init__()
        if not 1 <= top_k <= num_experts:
            raise ValueError(f"top_k must be in [1, {num_experts}], got {top_k}")
        self.num_experts, self.top_k, self.patch = num_experts, top_k, patch
        # Mean and standard deviation of each channel over the patch: the std carries texture
        # strength, which the mean alone would lose.
        self.feat = nn.Conv2d(2 * (channels + lr_channels), hidden, 1)
        self.temb = nn.Linear(temb_dim, hidden)
        self.out = nn.Conv2d(hidden, num_experts, 1)
        nn.init.normal_(self.out.weight, std=0.01)  # near-uniform routing at initialisation
        nn.init.zeros_(self.out.bias)

    def forward(self, h: torch.Tensor, f: torch.Tensor, temb: torch.Tensor) -> Routing:
        x = torch.cat([h, f], dim=1)
        p = self.patch
        mean = F.avg_pool2d(x, p)
        std = (F.avg_pool2d(x * x, p) - mean * mean).clamp_min(0).add(1e-6).sqrt()
        z = F.silu(self.feat(torch.cat([mean, std], 1)) + self.temb(temb)[:, :, None, None])
        logits = self.out(z)  # (B, E, Hp, Wp)
        b, e, hp, wp = logits.shape
        logits = logits.permute(0, 2, 3, 1).reshape(-1, e)
        probs = logits.float().softmax(dim=1)
        top, idx = probs.topk(self.top_k, dim=1)
        gates = (top / top.sum(1, keepdim=True)).to(h.dtype)
        return Routing(logits, probs, idx, gates, (b, hp, wp))
