"""MoE-DiffSR denoiser: a residual-diffusion U-Net whose blocks are LR-routed mixtures of experts.

What is denoised: the HR *residual* over the bicubic-upsampled LR image, ``r = (hr - up(lr)) *
residual_scale`` in the [-1, 1] value domain (SR3/SRDiff-style residual diffusion, Li et al.
2022). Because ``up(lr)`` can be computed for any output size, any (fractional, per-axis) scale
works; the network is fully convolutional and pads internally to the size its patch grid needs,
then crops. ``residual_scale`` (default 4) brings the small residual to roughly unit variance so
the noise schedule's signal-to-noise ratios mean what they say.

Data flow for one step (shapes for a single-band model, ``unshuffle = 2``)::

    x_t (B,1,H,W), up (B,1,H,W) --PixelUnshuffle(2)--> (B,8,H/2,W/2) --conv--> c0
    lr (B,1,h,w) --LREncoder--> (B,Cf,h,w) --resize+1x1 per level--> f_l (B,Cl,H_l,W_l)
    encoder: [MoEBlock(c_l), skip] , stride-2 conv ; middle MoEBlock ; decoder: upsample,
    concat skip, MoEBlock(2c_l -> c_l) ; GN-SiLU-conv -> 4 channels --PixelShuffle(2)--> (B,1,H,W)

The final upsampling is a sub-pixel convolution (Shi et al. 2016): the U-Net runs at half the
output resolution (a quarter of the pixels), which is where most of the compute is saved.

Each :class:`MoEBlock`: ``h = conv1x1([h, f_l])`` (LR features concatenated and projected),
router over ``[h, f_l] + temb`` per patch, top-k experts run sparsely (``experts.SparseMoE``).
Router statistics of the last forward pass are kept on each block (``last_routing``) so the
trainer can add the balance / z losses and log expert usage without changing the forward
signature.

Prediction target: v-prediction by default (Salimans & Ho 2022): with few DDIM steps the x_0
estimate from ``v`` stays well conditioned at high noise, where epsilon-prediction divides by a
vanishing sqrt(alpha_bar). The scheduler's ``prediction_type`` must match the one trained.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from engine.models.diffusion_blocks import timestep_embedding
from engine.models.moe.experts import SparseMoE, _groups
from engine.models.moe.lr_encoder import LREncoder
from engine.models.moe.router import PatchRouter, Routing, balance_loss, z_loss


class MoEBlock(nn.Module):
    """LR-conditioned mixture-of-experts conv block.

    Args:
        in_channels: channels of the incoming features (skip concatenation included).
        out_channels: block width (experts' width).
        lr_channels: LR pyramid channels at this level.
        temb_dim: timestep embedding width.
        num_experts, top_k, patch, halo: routing settings (see router / experts).

    ``forward(h, f, temb)``: h (B, in, H, W) or a sequence of tensors whose channels add up to
    ``in`` (the decoder's features and skip, taken as if concatenated), f (B, lr, H, W), temb
    (B, T) -> (B, out, H, W).
    """

    def __init__(self, *, in_channels: int, out_channels: int, lr_channels: int, temb_dim: int,
                 num_experts: int = 8, top_k: int = 2, patch: int = 8, halo: int = 2) -> None:
        super().__init__()
        self.proj = nn.Conv2d(in_channels + lr_channels, out_channels, 1)
        self.router = PatchRouter(channels=out_channels, lr_channels=lr_channels,
                                  temb_dim=temb_dim, num_experts=num_experts, top_k=top_k,
                                  patch=patch)
        self.moe = SparseMoE(channels=out_channels, temb_dim=temb_dim, num_experts=num_experts,
                             patch=patch, halo=halo)
        self.last_routing: Routing | None = None

    def _project(self, parts: list[torch.Tensor], f: torch.Tensor) -> torch.Tensor:
        """``proj`` of the channel concatenation of ``parts`` and ``f``, as a sum of 1x1
        convolutions by the weight's channel slices: the concatenation, the largest tensors of
        a tile at the finest level, is never made."""
        weight, out, c0 = self.proj.weight, None, 0
        for part in [*parts, f]:
            c1 = c0 + part.shape[1]
            y = F.conv2d(part, weight[:, c0:c1], self.proj.bias if out is None else None)
            out = y if out is None else out.add_(y)
            c0 = c1
        assert out is not None
        return out

    def forward(self, h: torch.Tensor | Sequence[torch.Tensor], f: torch.Tensor,
                temb: torch.Tensor) -> torch.Tensor:
        h = self._project([h] if isinstance(h, torch.Tensor) else list(h), f)
        routing = self.router(h, f, temb)
        self.last_routing = routing
        return self.moe(h, temb, routing)


class MoEDiffSRNet(nn.Module):
    """The whole network: LR encoder + MoE U-Net, predicting v (or eps) of the residual.

    Args:
        in_channels: image channels (1 = band-wise model).
        channels: U-Net width per level, e.g. (32, 64).
        lr_channels: LR encoder width (also the pyramid width).
        lr_blocks: LR encoder residual blocks.
        temb_dim: timestep / scale embedding width.
        num_experts: experts per MoE block (8).
        top_k: experts per patch (2).
        patch: routing patch side in feature pixels (same at every level).
        halo: expert context pixels (2 for two 3x3 convolutions).
        unshuffle: PixelUnshuffle factor of the input / PixelShuffle factor of the output.
        residual_scale: multiplier from HR residual (in [-1, 1] units) to diffusion space.

    ``forward(x_t, t, up, lr, scale)``:
        x_t (B, C, H, W) noisy scaled residual; t (B,) int timesteps; up (B, C, H, W) bicubic
        upsample of ``lr`` in [-1, 1]; lr (B, C, h, w) in [-1, 1]; scale (B,) float mean scale.
        Returns (B, C, H, W), the prediction (v or eps). Any H, W >= 1.
    """

    def __init__(self, *, in_channels: int = 1, channels: tuple[int, ...] = (32, 64),
                 lr_channels: int = 32, lr_blocks: int = 2, temb_dim: int = 64,
                 num_experts: int = 8, top_k: int = 2, patch: int = 8, halo: int = 2,
                 unshuffle: int = 2, residual_scale: float = 4.0) -> None:
        super().__init__()
        self.args = dict(in_channels=in_channels, channels=list(channels),
                         lr_channels=lr_channels, lr_blocks=lr_blocks, temb_dim=temb_dim,
                         num_experts=num_experts, top_k=top_k, patch=patch, halo=halo,
                         unshuffle=unshuffle, residual_scale=residual_scale)
        channels = tuple(channels)
        self.in_channels, self.levels = in_channels, len(channels)
        self.unshuffle, self.patch, self.temb_dim = unshuffle, patch, temb_dim
        self.residual_scale = residual_scale
        moe = dict(lr_channels=lr_channels, temb_dim=temb_dim, num_experts=num_experts,
                   top_k=top_k, patch=patch, halo=halo)
        self.encoder = LREncoder(in_channels=in_channels, channels=lr_channels,
                                 num_blocks=lr_blocks,
                                 level_channels=(lr_channels,) * len(channels))
        self.temb = nn.Sequential(nn.Linear(temb_dim, temb_dim), nn.SiLU(),
                                  nn.Linear(temb_dim, temb_dim))
        self.semb = nn.Sequential(nn.Linear(temb_dim, temb_dim), nn.SiLU(),
                                  nn.Linear(temb_dim, temb_dim))
        u2 = unshuffle * unshuffle
        self.head = nn.Conv2d(2 * in_channels * u2, channels[0], 3, padding=1)
        self.down_blocks = nn.ModuleList()
        self.downs = nn.ModuleList()
        for i, c in enumerate(channels):
            self.down_blocks.append(MoEBlock(in_channels=c, out_channels=c, **moe))
            if i + 1 < len(channels):
                self.downs.append(nn.Conv2d(c, channels[i + 1], 3, stride=2, padding=1))
        self.mid = MoEBlock(in_channels=channels[-1], out_channels=channels[-1], **moe)
        self.up_blocks = nn.ModuleList()
        self.ups = nn.ModuleList()
        for i in reversed(range(len(channels))):
            c = channels[i]
            self.up_blocks.append(MoEBlock(in_channels=2 * c, out_channels=c, **moe))
            if i > 0:
                self.ups.append(nn.Conv2d(c, channels[i - 1], 3, padding=1))
        self.out_norm = nn.GroupNorm(_groups(channels[0]), channels[0])
        self.out = nn.Conv2d(channels[0], in_channels * u2, 3, padding=1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    @property
    def size_multiple(self) -> int:
        """Output sizes are padded internally to a multiple of this."""
        return self.unshuffle * (2 ** (self.levels - 1)) * self.patch

    def moe_blocks(self) -> list[MoEBlock]:
        """Every MoE block, encoder to decoder order."""
        return [*self.down_blocks, self.mid, *self.up_blocks]

    def embed(self, t: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
        """(B, T) embedding of the timestep plus the (log) scale."""
        te = self.temb(timestep_embedding(t.float(), self.temb_dim))
        # log-scale * 100 spreads x1..x8 over ~200 "positions" of the sinusoidal code.
        se = self.semb(timestep_embedding(torch.log(scale.float().clamp_min(1e-3)) * 100.0,
                                          self.temb_dim))
        return te + se

    def forward(self, x_t: torch.Tensor, t: torch.Tensor, up: torch.Tensor, lr: torch.Tensor,
                scale: torch.Tensor) -> torch.Tensor:
        height, width = x_t.shape[-2:]
        m = self.size_multiple
        ph, pw = (-height) % m, (-width) % m
        if ph or pw:  # replicate padding: valid for any size, even smaller than the pad
            x_t = F.pad(x_t, (0, pw, 0, ph), mode="replicate")
            up = F.pad(up, (0, pw, 0, ph), mode="replicate")
        temb = self.embed(t, scale)
        u = self.unshuffle
        h = self.head(torch.cat([F.pixel_unshuffle(x_t, u), F.pixel_unshuffle(up, u)], 1))
        sizes = [(h.shape[-2] >> i, h.shape[-1] >> i) for i in range(self.levels)]
        feats = self.encoder.pyramid(self.encoder(lr), sizes)
        skips = []
        for i, block in enumerate(self.down_blocks):
            h = block(h, feats[i], temb)
            skips.append(h)
            if i < len(self.downs):
                h = self.downs[i](h)
        h = self.mid(h, feats[-1], temb)
        for j, block in enumerate(self.up_blocks):
            i = self.levels - 1 - j
            h = block((h, skips[i]), feats[i], temb)
            if i > 0:
                h = self.ups[j](F.interpolate(h, scale_factor=2.0, mode="nearest"))
        h = self.out(F.silu(self.out_norm(h)))
        return F.pixel_shuffle(h, u)[..., :height, :width]

    def aux_losses(self) -> dict[str, torch.Tensor]:
        """Balance and z losses of the last forward pass, averaged over the MoE blocks."""
        blocks = [b.last_routing for b in self.moe_blocks() if b.last_routing is not None]
        if not blocks:
            zero = next(self.parameters()).new_zeros(())
            return {"balance": zero, "z": zero}
        bal = torch.stack([balance_loss(r.probs, r.experts) for r in blocks]).mean()
        z = torch.stack([z_loss(r.logits) for r in blocks]).mean()
        return {"balance": bal, "z": z}

    def expert_usage(self) -> torch.Tensor:
        """(blocks, E) fraction of assignments per expert in the last forward pass."""
        rows = []
        for b in self.moe_blocks():
            r = b.last_routing
            if r is not None:
                c = r.counts().float()
                rows.append(c / c.sum().clamp_min(1))
        return torch.stack(rows) if rows else torch.zeros(0)
