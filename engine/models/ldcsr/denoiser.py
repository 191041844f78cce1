"""LDCSR denoiser: the openai/LDM UNet with time, integer-scale and output-size embeddings.

``UNet(x, t, scale, osize)``: x (B, 8, h, w) = cat([x_t, c]) in the scaled latent space,
t (B,) int64 timestep, scale (B,) int64 = int(out_H / lr_H), osize (B,) int64 = out_H.
Each of t, scale, osize goes through the same sinusoidal embedding (cos half first) and its own
two-layer MLP; the sum conditions every residual block. The input is reflect-padded at the
bottom/right to a multiple of 2^(levels-1) and the output cropped back. Returns the predicted
noise (B, 4, h, w).

Module names follow ``modules.diffusionmodules.openaimodel.UNetModel`` (legacy attention order,
``num_head_channels`` heads, no scale-shift norm, conv resampling) so official weights load.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from engine.models.diffusion_blocks import timestep_embedding
from engine.models.ldcsr.config import UNetConfig


class GroupNorm32(nn.GroupNorm):
    """GroupNorm(32) computed in float32 (the UNet's half-precision safe norm)."""

    def __init__(self, channels: int) -> None:
        super().__init__(32, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # float32 statistics whatever the weights' dtype (half precision on CUDA)
        return F.group_norm(x.float(), self.num_groups, self.weight.float(), self.bias.float(),
                            self.eps).type(x.dtype)


def _mlp(dim_in: int, dim: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(dim_in, dim), nn.SiLU(), nn.Linear(dim, dim))


class EmbedSequential(nn.Sequential):
    """Sequential whose residual blocks also receive the embedding."""

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        for layer in self:
            x = layer(x, emb) if isinstance(layer, ResBlock) else layer(x)
        return x


class ResBlock(nn.Module):
    """Norm-SiLU-conv, + embedding, norm-SiLU-dropout-conv, with a 1x1 skip when widths differ."""

    def __init__(self, channels: int, emb_channels: int, out_channels: int | None = None,
                 dropout: float = 0.0) -> None:
        super().__init__()
        out_channels = out_channels or channels
        self.in_layers = nn.Sequential(GroupNorm32(channels), nn.SiLU(),
                                       nn.Conv2d(channels, out_channels, 3, padding=1))
        self.emb_layers = nn.Sequential(nn.SiLU(), nn.Linear(emb_channels, out_channels))
        self.out_layers = nn.Sequential(GroupNorm32(out_channels), nn.SiLU(),
                                        nn.Dropout(dropout),
                                        nn.Conv2d(out_channels, out_channels, 3, padding=1))
        self.skip_connection: nn.Module = (nn.Identity() if out_channels == channels
                                           else nn.Conv2d(channels, out_channels, 1))

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = self.in_layers(x)
        h = h + self.emb_layers(emb).type(h.dtype)[:, :, None, None]
        return self.skip_connection(x) + self.out_layers(h)


class AttentionBlock(nn.Module):
    """Spatial self-attention, heads split before q/k/v (the 'legacy' order)."""

    def __init__(self, channels: int, num_head_channels: int) -> None:
        super().__init__()
        if channels % num_head_channels:
            raise ValueError(f"{channels} channels are not divisible by {num_head_channels}")
        self.num_heads = channels // num_head_channels
        self.norm = GroupNorm32(channels)
        self.qkv = nn.Conv1d(channels, channels * 3, 1)
        self.proj_out = nn.Conv1d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, *spatial = x.shape
        x = x.reshape(b, c, -1)
        qkv = self.qkv(self.norm(x))
        length = qkv.shape[-1]
        ch = c // self.num_heads
        q, k, v = qkv.reshape(b * self.num_heads, ch * 3, length).split(ch, dim=1)
        scale = 1 / math.sqrt(math.sqrt(ch))
        weight = torch.einsum("bct,bcs->bts", q * scale, k * scale)
        weight = torch.softmax(weight.float(), dim=-1).type(weight.dtype)
        a = torch.einsum("bts,bcs->bct", weight, v).reshape(b, -1, length)
        return (x + self.proj_out(a)).reshape(b, c, *spatial)


class Downsample(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.op = nn.Conv2d(channels, channels, 3, stride=2, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(x)


class Upsample(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.interpolate(x, scale_factor=2, mode="nearest"))


class UNet(nn.Module):
    """The LDCSR noise predictor (see the module docstring for inputs)."""

    def __init__(self, cfg: UNetConfig) -> None:
        super().__init__()
        mc = cfg.model_channels
        emb_dim = mc * 4
        self.model_channels = mc
        self.levels = len(cfg.channel_mult)
        self.time_embed = _mlp(mc, emb_dim)
        self.scale_embed = _mlp(mc, emb_dim) if cfg.use_scale_embedding else None
        self.osize_embed = _mlp(mc, emb_dim) if cfg.use_osize_embedding else None
        heads = cfg.num_head_channels

        self.input_blocks = nn.ModuleList([EmbedSequential(nn.Conv2d(cfg.in_channels, mc, 3,
                                                                     padding=1))])
        chans = [mc]
        ch, ds = mc, 1
        for level, mult in enumerate(cfg.channel_mult):
            for _ in range(cfg.num_res_blocks):
                layers: list[nn.Module] = [ResBlock(ch, emb_dim, mult * mc)]
                ch = mult * mc
                if ds in cfg.attention_resolutions:
                    layers.append(AttentionBlock(ch, heads))
                self.input_blocks.append(EmbedSequential(*layers))
                chans.append(ch)
            if level != self.levels - 1:
                self.input_blocks.append(EmbedSequential(Downsample(ch)))
                chans.append(ch)
                ds *= 2
        self.middle_block = EmbedSequential(ResBlock(ch, emb_dim), AttentionBlock(ch, heads),
                                            ResBlock(ch, emb_dim))
        self.output_blocks = nn.ModuleList()
        for level, mult in list(enumerate(cfg.channel_mult))[::-1]:
            for i in range(cfg.num_res_blocks + 1):
                layers = [ResBlock(ch + chans.pop(), emb_dim, mc * mult)]
                ch = mc * mult
                if ds in cfg.attention_resolutions:
                    layers.append(AttentionBlock(ch, heads))
                if level and i == cfg.num_res_blocks:
                    layers.append(Upsample(ch))
                    ds //= 2
                self.output_blocks.append(EmbedSequential(*layers))
        self.bottom_channels = mc * cfg.channel_mult[-1]
        self.out = nn.Sequential(GroupNorm32(ch), nn.SiLU(),
                                 nn.Conv2d(mc, cfg.out_channels, 3, padding=1))

    def embedding(self, t: torch.Tensor, scale: torch.Tensor | None,
                  osize: torch.Tensor | None) -> torch.Tensor:
        """Sum of the time, scale and output-size embeddings: (B, 4 * model_channels)."""
        emb = self.time_embed(timestep_embedding(t, self.model_channels))
        if self.scale_embed is not None:
            if scale is None:
                raise ValueError("this UNet needs the integer scale")
            emb = emb + self.scale_embed(timestep_embedding(scale, self.model_channels))
        if self.osize_embed is not None:
            if osize is None:
                raise ValueError("this UNet needs the output size")
            emb = emb + self.osize_embed(timestep_embedding(osize, self.model_channels))
        return emb

    def forward(self, x: torch.Tensor, t: torch.Tensor, scale: torch.Tensor | None = None,
                osize: torch.Tensor | None = None) -> torch.Tensor:
        emb = self.embedding(t, scale, osize)
        h0, w0 = x.shape[2:]
        m = 2 ** (self.levels - 1)
        # Reflect padding needs pad < size; the official code has the same limit.
        h = F.pad(x, (0, (m - w0 % m) % m, 0, (m - h0 % m) % m), mode="reflect")
        skips = []
        for block in self.input_blocks:
            h = block(h, emb)
            skips.append(h)
        h = self.middle_block(h, emb)
        for block in self.output_blocks:
            h = block(torch.cat([h, skips.pop()], dim=1), emb)
        return self.out(h)[:, :, :h0, :w0]
