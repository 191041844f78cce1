"""LDCSR stage 1: the KL autoencoder whose decoder is itself a continuous-scale SR network.

* :class:`Encoder` (official ``GAPEncoder``) sees the HR image together with the LR image
  upsampled to the HR size (6 channels, LR first) and returns the moments of a 4-channel latent at
  1/8 of the output size (each stride-2 step pads one pixel at bottom/right, then floors).
  The same class, with ``in_channels=3`` and ``double_z=False``, is the stage-2 LR encoder.
* :class:`Decoder` (official ``GAPDecoder``) is an LR-to-SR network guided by the latent: an
  IMDN-style branch (FRUs) runs at LR resolution, modulated at each level by the latent features
  (resized to the LR grid) and by the output/input scale; a multi-level upsampler (SADN-style,
  bilinear to any size) makes the output, and the bicubic-upsampled LR is added as a residual.
* :class:`AutoencoderKL` holds both plus ``quant_conv`` / ``post_quant_conv``.

Module and parameter names follow the official code so that its state_dicts load strictly.
Values: images in [-1, 1], NCHW float. Sizes are Python ints.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from engine.models.ldcsr.config import DecoderConfig, EncoderConfig


def swish(x: torch.Tensor) -> torch.Tensor:
    """x * sigmoid(x) (the official ``nonlinearity``)."""
    return x * torch.sigmoid(x)


def group_norm(channels: int) -> nn.GroupNorm:
    """GroupNorm with 32 groups and eps 1e-6, as the LDM autoencoder uses."""
    return nn.GroupNorm(32, channels, eps=1e-6, affine=True)


class ResnetBlock(nn.Module):
    """Pre-activation residual block without time embedding (norm-swish-conv twice)."""

    def __init__(self, *, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.in_channels, self.out_channels = in_channels, out_channels
        self.norm1 = group_norm(in_channels)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        self.norm2 = group_norm(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1)
        if in_channels != out_channels:
            self.nin_shortcut = nn.Conv2d(in_channels, out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv1(swish(self.norm1(x)))
        h = self.conv2(swish(self.norm2(h)))
        if self.in_channels != self.out_channels:
            x = self.nin_shortcut(x)
        return x + h


class Downsample(nn.Module):
    """Stride-2 3x3 conv after padding one pixel at the right and bottom (floor of size / 2)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, stride=2, padding=0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.pad(x, (0, 1, 0, 1)))


class Encoder(nn.Module):
    """Convolutional encoder to a latent at 1/2^(levels-1) resolution.

    Args:
        in_channels: 6 for the stage-1 encoder (bicubic LR + HR), 3 for the LR encoder.
        ch, ch_mult, num_res_blocks: width, per-level multipliers, blocks per level.
        z_channels: latent channels; the output has twice as many when ``double_z``
            (mean and log-variance).
    """

    def __init__(self, *, in_channels: int = 6, ch: int = 64,
                 ch_mult: tuple[int, ...] | list[int] = (1, 2, 2, 4), num_res_blocks: int = 2,
                 z_channels: int = 4, double_z: bool = True) -> None:
        super().__init__()
        self.num_resolutions = len(ch_mult)
        self.conv_in = nn.Conv2d(in_channels, ch, 3, padding=1)
        in_mult = (1,) + tuple(ch_mult)
        self.down = nn.ModuleList()
        block_in = ch
        for level, mult in enumerate(ch_mult):
            stage = nn.Module()
            stage.block = nn.ModuleList()
            stage.attn = nn.ModuleList()  # empty in every LDCSR config; kept for the key layout
            block_in = ch * in_mult[level]
            for _ in range(num_res_blocks):
                stage.block.append(ResnetBlock(in_channels=block_in, out_channels=ch * mult))
                block_in = ch * mult
            if level != self.num_resolutions - 1:
                stage.downsample = Downsample(block_in)
            self.down.append(stage)
        self.mid = nn.Module()
        self.mid.block_1 = ResnetBlock(in_channels=block_in, out_channels=block_in)
        self.mid.block_2 = ResnetBlock(in_channels=block_in, out_channels=block_in)
        self.norm_out = group_norm(block_in)
        self.conv_out = nn.Conv2d(block_in, 2 * z_channels if double_z else z_channels, 3,
                                  padding=1)

    @classmethod
    def from_config(cls, cfg: EncoderConfig) -> Encoder:
        return cls(in_channels=cfg.in_channels, ch=cfg.ch, ch_mult=cfg.ch_mult,
                   num_res_blocks=cfg.num_res_blocks, z_channels=cfg.z_channels,
                   double_z=cfg.double_z)

    def forward(self, hr: torch.Tensor | None, lr: torch.Tensor) -> torch.Tensor:
        """Encode. With ``hr`` (B,3,H,W): input = cat(bicubic(lr -> H,W), hr); else ``lr`` as is.

        Returns:
            (B, 2*z or z, floor(H/8), floor(W/8)) for four levels.
        """
        if hr is not None:
            lr = torch.cat([F.interpolate(lr, size=hr.shape[2:], mode="bicubic",
                                          align_corners=False), hr], dim=1)
        h = self.conv_in(lr)
        for level, stage in enumerate(self.down):
            for block in stage.block:
                h = block(h)
            if level != self.num_resolutions - 1:
                h = stage.downsample(h)
        h = self.mid.block_2(self.mid.block_1(h))
        return self.conv_out(swish(self.norm_out(h)))


# --- decoder parts -------------------------------------------------------------------------

class CCALayer(nn.Module):
    """Contrast-aware channel attention (IMDN): gate = MLP(std + mean over space)."""

    def __init__(self, channel: int, reduction: int = 16) -> None:
        super().__init__()
        self.conv_du = nn.Sequential(
            nn.Conv2d(channel, channel // reduction, 1), nn.ReLU(inplace=True),
            nn.Conv2d(channel // reduction, channel, 1), nn.Sigmoid())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = x.mean(dim=(2, 3), keepdim=True)
        std = (x - mean).pow(2).mean(dim=(2, 3), keepdim=True).sqrt()
        return x * self.conv_du(std + mean)


class IMDModule(nn.Module):
    """Information multi-distillation block: three 1/4 splits kept, the rest refined."""

    def __init__(self, in_channels: int, distillation_rate: float = 0.25) -> None:
        super().__init__()
        self.distilled = int(in_channels * distillation_rate)
        self.remaining = in_channels - self.distilled
        self.c1 = nn.Conv2d(in_channels, in_channels, 3, padding=1)
        self.c2 = nn.Conv2d(self.remaining, in_channels, 3, padding=1)
        self.c3 = nn.Conv2d(self.remaining, in_channels, 3, padding=1)
        self.c4 = nn.Conv2d(self.remaining, self.distilled, 3, padding=1)
        self.c5 = nn.Conv2d(in_channels, in_channels, 1)
        self.cca = CCALayer(self.distilled * 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        split = (self.distilled, self.remaining)
        d1, r1 = torch.split(F.leaky_relu(self.c1(x), 0.05), split, dim=1)
        d2, r2 = torch.split(F.leaky_relu(self.c2(r1), 0.05), split, dim=1)
        d3, r3 = torch.split(F.leaky_relu(self.c3(r2), 0.05), split, dim=1)
        out = torch.cat([d1, d2, d3, self.c4(r3)], dim=1)
        return self.c5(self.cca(out)) + x


class FRU(nn.Module):
    """Feature refinement unit: ``num_modules`` IMD blocks, 1x1 fusion, 3x3 conv, residual."""

    def __init__(self, nf: int, num_modules: int) -> None:
        super().__init__()
        self.IMDB = nn.ModuleList(IMDModule(nf) for _ in range(num_modules))
        self.c = nn.Sequential(nn.Conv2d(nf * num_modules, nf, 1), nn.LeakyReLU(0.05, True))
        self.LR_conv = nn.Conv2d(nf, nf, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outs = []
        h = x
        for block in self.IMDB:
            h = block(h)
            outs.append(h)
        return self.LR_conv(self.c(torch.cat(outs, dim=1))) + x


class StyleLayer(nn.Module):
    """x * a + latent_features * b, with (a, b) the scale vectors normalised to unit length."""

    def __init__(self) -> None:
        super().__init__()
        # Unused by the forward pass; present in the official state_dict (``decoder.style.weight``).
        self.weight = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor, scale1: torch.Tensor, scale2: torch.Tensor,
                shift: torch.Tensor) -> torch.Tensor:
        inv = torch.rsqrt(scale1 ** 2 + scale2 ** 2 + 1e-8)
        c = x.size(1)
        out = x * (scale1 * inv).view(-1, c, 1, 1) + shift * (scale2 * inv).view(-1, c, 1, 1)
        return F.leaky_relu(out, 0.01)


class ScaleAwareUpsampler(nn.Module):
    """Multi-level upsampler to any output size (official ``SADNUpsampler``).

    Level l is the LR feature map after l pixel-shuffle x2 steps; every level is resized
    bilinearly to the output size, weighted by a sigmoid MLP of ``lr_H / out_H``, concatenated
    and fused by 1x1 convs. The MLP (1->64->levels) and the fuse width (256) are fixed sizes.
    """

    def __init__(self, n_feats: int, out_channels: int = 3, levels: int = 4) -> None:
        super().__init__()
        self.levels = levels
        # Registration order = the official state_dict order (scale MLP first).
        self.scale_aware_layer = nn.Sequential(nn.Linear(1, 64), nn.ReLU(),
                                               nn.Linear(64, levels), nn.Sigmoid())
        self.UPNet_x2_list = nn.Sequential(*[
            nn.Sequential(nn.Conv2d(n_feats, n_feats * 4, 3, padding=1), nn.PixelShuffle(2))
            for _ in range(levels - 1)])
        self.fuse = nn.Sequential(
            nn.Conv2d(n_feats * levels, 256, 1), nn.ReLU(),
            nn.Conv2d(256, 256, 1), nn.ReLU(),
            nn.Conv2d(256, 256, 1), nn.ReLU(),
            nn.Conv2d(256, 256, 1), nn.ReLU(),
            nn.Conv2d(256, out_channels, 1))

    def forward(self, x: torch.Tensor, out_size: tuple[int, int]) -> torch.Tensor:
        r = torch.full((1, 1), x.shape[2] / out_size[0], dtype=x.dtype, device=x.device)
        weights = self.scale_aware_layer(r)[0]
        feats = []
        h = x
        for level in range(self.levels):
            if level > 0:
                h = self.UPNet_x2_list[level - 1](h)
            feats.append(F.interpolate(h, out_size, mode="bilinear", align_corners=False)
                         * weights[level])
        return self.fuse(torch.cat(feats, dim=1))


class Decoder(nn.Module):
    """Latent-guided LR-to-SR decoder (official ``GAPDecoder``).

    ``forward(z, lr, out_size)``: z (B, z_channels, h', w') after ``post_quant_conv``,
    lr (B, 3, h, w) in [-1, 1], out_size (H, W) Python ints -> (B, out_ch, H, W), unclamped.
    The scale seen by the network is ``H / h`` (height only, as in the official code).
    """

    def __init__(self, *, ch: int = 64, out_ch: int = 3,
                 ch_mult: tuple[int, ...] | list[int] = (1, 1, 1, 1), num_res_blocks: int = 2,
                 in_channels: int = 3, z_channels: int = 4,
                 num_sr_modules: tuple[int, ...] | list[int] = (12, 12, 12, 12)) -> None:
        super().__init__()
        if len(num_sr_modules) != len(ch_mult):
            raise ValueError("num_sr_modules needs one entry per ch_mult level")
        self.num_resolutions = len(ch_mult)
        self.style = StyleLayer()
        self.head = nn.Conv2d(in_channels, ch, 3, padding=1)
        self.FRUList = nn.ModuleList(FRU(ch, n) for n in num_sr_modules)
        self.upsampler = ScaleAwareUpsampler(ch, out_channels=out_ch)
        block_in = ch * ch_mult[-1]
        self.conv_in = nn.Conv2d(z_channels, block_in, 3, padding=1)
        self.mid = nn.Module()
        self.mid.block_1 = ResnetBlock(in_channels=block_in, out_channels=block_in)
        self.mid.block_2 = ResnetBlock(in_channels=block_in, out_channels=block_in)
        ups: list[nn.Module] = []
        for level in reversed(range(self.num_resolutions)):
            up = nn.Module()
            up.block = nn.ModuleList()
            for _ in range(num_res_blocks):
                up.block.append(ResnetBlock(in_channels=block_in,
                                            out_channels=ch * ch_mult[level]))
                block_in = ch * ch_mult[level]
            up.transfer = nn.Conv2d(block_in, ch, 1)
            up.condition_scale1 = nn.Linear(1, ch)
            up.condition_scale2 = nn.Linear(1, ch)
            ups.insert(0, up)
        self.up = nn.ModuleList(ups)

    @classmethod
    def from_config(cls, cfg: DecoderConfig) -> Decoder:
        return cls(ch=cfg.ch, out_ch=cfg.out_ch, ch_mult=cfg.ch_mult,
                   num_res_blocks=cfg.num_res_blocks, in_channels=cfg.in_channels,
                   z_channels=cfg.z_channels, num_sr_modules=cfg.num_sr_modules)

    def forward(self, z: torch.Tensor, lr: torch.Tensor, out_size: tuple[int, int],
                ) -> torch.Tensor:
        out_size = (int(out_size[0]), int(out_size[1]))
        lr_size = lr.shape[2:]
        scale = torch.full((1,), out_size[0] / lr_size[0], dtype=lr.dtype, device=lr.device)
        h = self.mid.block_2(self.mid.block_1(self.conv_in(z)))
        guides, s1, s2 = [], [], []
        for level in reversed(range(self.num_resolutions)):
            up = self.up[level]
            for block in up.block:
                h = block(h)
            guides.append(F.interpolate(up.transfer(h), lr_size, mode="nearest"))
            s1.append(up.condition_scale1(scale))
            s2.append(up.condition_scale2(scale))
        mid = self.head(lr)
        for i, fru in enumerate(self.FRUList):
            mid = fru(self.style(mid, s1[i], s2[i], guides[i]))
        base = F.interpolate(lr, out_size, mode="bicubic", align_corners=False)
        return self.upsampler(mid, out_size) + base


class AutoencoderKL(nn.Module):
    """Stage-1 model: ``encoder``, ``decoder``, ``quant_conv``, ``post_quant_conv``."""

    def __init__(self, encoder: EncoderConfig, decoder: DecoderConfig, embed_dim: int = 4,
                 ) -> None:
        super().__init__()
        self.encoder = Encoder.from_config(encoder)
        self.decoder = Decoder.from_config(decoder)
        self.quant_conv = nn.Conv2d(2 * encoder.z_channels, 2 * embed_dim, 1)
        self.post_quant_conv = nn.Conv2d(embed_dim, encoder.z_channels, 1)

    def encode(self, hr: torch.Tensor, lr: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Posterior (mean, logvar) of the latent of ``hr`` given ``lr``; logvar in [-30, 20]."""
        moments = self.quant_conv(self.encoder(hr, lr))
        mean, logvar = torch.chunk(moments, 2, dim=1)
        return mean, logvar.clamp(-30.0, 20.0)

    def decode(self, z: torch.Tensor, lr: torch.Tensor, out_size: tuple[int, int],
               ) -> torch.Tensor:
        """SR image (B, 3, H, W) in about [-1, 1] from an unscaled latent ``z``."""
        return self.decoder(self.post_quant_conv(z), lr, out_size)

    def forward(self, hr: torch.Tensor, lr: torch.Tensor, *,
                generator: torch.Generator | None = None, sample: bool = True,
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Reconstruction, mean, logvar (training: a posterior sample unless ``sample=False``)."""
        mean, logvar = self.encode(hr, lr)
        z = mean
        if sample:
            eps = torch.randn(mean.shape, generator=generator, device=mean.device,
                              dtype=mean.dtype)
            z = mean + torch.exp(0.5 * logvar) * eps
        return self.decode(z, lr, (hr.shape[2], hr.shape[3])), mean, logvar
