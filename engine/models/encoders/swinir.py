"""SwinIR feature encoder (Liang et al. 2021) as used by LIIF-style decoders in LMF.

Module names and buffers match official checkpoints exactly, so ``strict=True`` loading works:
``conv_first``, ``patch_embed.norm``, ``layers.N.residual_group.blocks.M.{norm1, attn.{
relative_position_bias_table, relative_position_index, qkv, proj}, norm2, mlp.fc1/fc2}``, the
``attn_mask`` buffer of every shifted block (computed for ``img_size``; other sizes get a mask
computed on the fly), ``layers.N.conv``, ``norm``, ``conv_after_body``, ``conv_before_upsample.0``.

Input (B, n_colors, h, w); the input is reflect-padded to a multiple of ``window_size`` (as the
reference), so the output is (B, 64, ceil(h/ws)*ws, ceil(w/ws)*ws). Callers that need features
aligned with their input pad it themselves first (see ``LMLTEModel._window_pad`` in
:mod:`engine.models.lmlte.checkpoint`).
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn


def window_partition(x: torch.Tensor, ws: int) -> torch.Tensor:
    """(B, H, W, C) -> (B * nW, ws, ws, C)."""
    b, h, w, c = x.shape
    x = x.view(b, h // ws, ws, w // ws, ws, c)
    return x.permute(0, 1, 3, 2, 4, 5).reshape(-1, ws, ws, c)


def window_reverse(windows: torch.Tensor, ws: int, h: int, w: int) -> torch.Tensor:
    """(B * nW, ws, ws, C) -> (B, H, W, C)."""
    b = windows.shape[0] // ((h // ws) * (w // ws))
    x = windows.view(b, h // ws, w // ws, ws, ws, -1)
    return x.permute(0, 1, 3, 2, 4, 5).reshape(b, h, w, -1)


class DropPath(nn.Module):
    """Stochastic depth per sample (training only)."""

    def __init__(self, p: float = 0.0) -> None:
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.p == 0.0 or not self.training:
            return x
        keep = 1 - self.p
        mask = x.new_empty((x.shape[0],) + (1,) * (x.dim() - 1)).bernoulli_(keep)
        return x * mask / keep


class Mlp(nn.Module):
    """fc1 - GELU - fc2."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class WindowAttention(nn.Module):
    """Window multi-head self-attention with a learned relative position bias."""

    def __init__(self, dim: int, ws: int, num_heads: int, qkv_bias: bool = True) -> None:
        super().__init__()
        self.ws = ws
        self.num_heads = num_heads
        self.scale = (dim // num_heads) ** -0.5
        self.relative_position_bias_table = nn.Parameter(torch.zeros((2 * ws - 1) ** 2, num_heads))
        coords = torch.stack(torch.meshgrid(torch.arange(ws), torch.arange(ws), indexing="ij"))
        flat = coords.flatten(1)
        rel = (flat[:, :, None] - flat[:, None, :]).permute(1, 2, 0).contiguous()
        rel[:, :, 0] += ws - 1
        rel[:, :, 1] += ws - 1
        rel[:, :, 0] *= 2 * ws - 1
        self.register_buffer("relative_position_index", rel.sum(-1))
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)
        nn.init.trunc_normal_(self.relative_position_bias_table, std=0.02)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        b_, n, c = x.shape
        qkv = self.qkv(x).reshape(b_, n, 3, self.num_heads, c // self.num_heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0] * self.scale, qkv[1], qkv[2]
        attn = q @ k.transpose(-2, -1)
        bias = self.relative_position_bias_table[self.relative_position_index.view(-1)]
        attn = attn + bias.view(n, n, -1).permute(2, 0, 1).unsqueeze(0)
        if mask is not None:
            nw = mask.shape[0]
            attn = attn.view(b_ // nw, nw, self.num_heads, n, n) + mask.unsqueeze(1).unsqueeze(0)
            attn = attn.view(-1, self.num_heads, n, n)
        attn = attn.softmax(-1)
        return self.proj((attn @ v).transpose(1, 2).reshape(b_, n, c))


def shift_mask(h: int, w: int, ws: int, shift: int, device: torch.device | None = None) -> torch.Tensor:
    """Attention mask (nW, ws*ws, ws*ws) of 0 / -100 for a cyclically shifted window grid."""
    img = torch.zeros((1, h, w, 1), device=device)
    cnt = 0
    for hs in (slice(0, -ws), slice(-ws, -shift), slice(-shift, None)):
        for wsl in (slice(0, -ws), slice(-ws, -shift), slice(-shift, None)):
            img[:, hs, wsl, :] = cnt
            cnt += 1
    win = window_partition(img, ws).view(-1, ws * ws)
    mask = win.unsqueeze(1) - win.unsqueeze(2)
    return mask.masked_fill(mask != 0, -100.0).masked_fill(mask == 0, 0.0)


class SwinTransformerBlock(nn.Module):
    """(Shifted) window attention + MLP, pre-norm, with residuals."""

    def __init__(self, dim: int, resolution: tuple[int, int], num_heads: int, ws: int,
                 shift: int, mlp_ratio: float, drop_path: float) -> None:
        super().__init__()
        if min(resolution) <= ws:
            shift, ws = 0, min(resolution)
        self.ws, self.shift, self.resolution = ws, shift, resolution
        self.norm1 = nn.LayerNorm(dim)
        self.attn = WindowAttention(dim, ws, num_heads)
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))
        self.register_buffer("attn_mask", shift_mask(*resolution, ws, shift) if shift > 0 else None)
        self._mask_cache: dict[tuple[int, int, str], torch.Tensor] = {}

    def _mask(self, size: tuple[int, int], device: torch.device) -> torch.Tensor | None:
        if self.shift == 0:
            return None
        if tuple(size) == tuple(self.resolution):
            return self.attn_mask
        key = (size[0], size[1], str(device))
        if key not in self._mask_cache:
            self._mask_cache[key] = shift_mask(size[0], size[1], self.ws, self.shift, device)
        return self._mask_cache[key]

    def forward(self, x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        h, w = size
        b, _, c = x.shape
        shortcut = x
        x = self.norm1(x).view(b, h, w, c)
        if self.shift > 0:
            x = torch.roll(x, shifts=(-self.shift, -self.shift), dims=(1, 2))
        win = window_partition(x, self.ws).view(-1, self.ws * self.ws, c)
        win = self.attn(win, mask=self._mask(size, x.device))
        x = window_reverse(win.view(-1, self.ws, self.ws, c), self.ws, h, w)
        if self.shift > 0:
            x = torch.roll(x, shifts=(self.shift, self.shift), dims=(1, 2))
        x = shortcut + self.drop_path(x.reshape(b, h * w, c))
        return x + self.drop_path(self.mlp(self.norm2(x)))


class BasicLayer(nn.Module):
    """A stack of Swin blocks alternating plain and shifted windows."""

    def __init__(self, dim: int, resolution: tuple[int, int], depth: int, num_heads: int, ws: int,
                 mlp_ratio: float, drop_path: Sequence[float]) -> None:
        super().__init__()
        self.blocks = nn.ModuleList([
            SwinTransformerBlock(dim, resolution, num_heads, ws, 0 if i % 2 == 0 else ws // 2,
                                 mlp_ratio, drop_path[i]) for i in range(depth)])

    def forward(self, x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        for blk in self.blocks:
            x = blk(x, size)
        return x


class RSTB(nn.Module):
    """Residual Swin transformer block: Swin layer, 3x3 conv, residual."""

    def __init__(self, dim: int, resolution: tuple[int, int], depth: int, num_heads: int, ws: int,
                 mlp_ratio: float, drop_path: Sequence[float]) -> None:
        super().__init__()
        self.residual_group = BasicLayer(dim, resolution, depth, num_heads, ws, mlp_ratio, drop_path)
        self.conv = nn.Conv2d(dim, dim, 3, 1, 1)

    def forward(self, x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        y = self.residual_group(x, size)
        b, _, c = y.shape
        y = self.conv(y.transpose(1, 2).reshape(b, c, size[0], size[1]))
        return y.flatten(2).transpose(1, 2) + x


class PatchEmbed(nn.Module):
    """Flatten to tokens (B, HW, C) and LayerNorm (``patch_embed.norm``)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(x.flatten(2).transpose(1, 2))


class SwinIR(nn.Module):
    """SwinIR trunk with the ``upsampler='none'`` head LMF uses (64 output features)."""

    def __init__(self, img_size: int = 48, in_chans: int | None = None, embed_dim: int = 180,
                 depths: Sequence[int] = (6, 6, 6, 6, 6, 6), num_heads: Sequence[int] = (6, 6, 6, 6, 6, 6),
                 window_size: int = 8, mlp_ratio: float = 2.0, drop_path_rate: float = 0.1,
                 n_colors: int = 3, no_upsampling: bool = True, **_ignored: object) -> None:
        super().__init__()
        n_in = int(in_chans or n_colors)
        self.window_size = window_size
        self.n_colors = n_in
        self.out_dim = 64
        self.conv_first = nn.Conv2d(n_in, embed_dim, 3, 1, 1)
        self.patch_embed = PatchEmbed(embed_dim)
        dpr = [x.item() for x in torch.linspace(0, drop_path_rate, sum(depths))]
        res = (img_size, img_size)
        self.layers = nn.ModuleList()
        for i, (d, nh) in enumerate(zip(depths, num_heads)):
            start = sum(depths[:i])
            self.layers.append(RSTB(embed_dim, res, d, nh, window_size, mlp_ratio, dpr[start:start + d]))
        self.norm = nn.LayerNorm(embed_dim)
        self.conv_after_body = nn.Conv2d(embed_dim, embed_dim, 3, 1, 1)
        self.conv_before_upsample = nn.Sequential(nn.Conv2d(embed_dim, 64, 3, 1, 1),
                                                  nn.LeakyReLU(inplace=True))
        self.apply(self._init_weights)
        # Shifted windows chain context across the tile; beyond this the effect is negligible.
        self.receptive_radius = 4 * window_size

    @staticmethod
    def _init_weights(m: nn.Module) -> None:
        if isinstance(m, nn.Linear):
            nn.init.trunc_normal_(m.weight, std=0.02)
            if m.bias is not None:
                nn.init.constant_(m.bias, 0)
        elif isinstance(m, nn.LayerNorm):
            nn.init.constant_(m.bias, 0)
            nn.init.constant_(m.weight, 1.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        ws = self.window_size
        x = F.pad(x, (0, (ws - w % ws) % ws, 0, (ws - h % ws) % ws), "reflect")
        x = self.conv_first(x)
        size = (x.shape[2], x.shape[3])
        t = self.patch_embed(x)
        for layer in self.layers:
            t = layer(t, size)
        t = self.norm(t)
        b, _, c = t.shape
        feat = t.transpose(1, 2).reshape(b, c, size[0], size[1])
        return self.conv_before_upsample(self.conv_after_body(feat) + x)


def make_swinir(**kwargs: object) -> SwinIR:
    """``swinir`` with the LMF defaults (180 dims, 6x6 blocks, window 8, img_size 48)."""
    return SwinIR(**kwargs)  # type: ignore[arg-type]
