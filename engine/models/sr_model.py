"""The loaded-model object every family returns and every caller (pipeline, CLI, API) uses.

A family's ``load(...)`` returns a subclass of :class:`SRModel`, built complete: everything it
needs (scheduler, export metadata, tables) is a constructor argument, never attached afterwards.
Callers never look at the network inside; they call :meth:`SRModel.upscale` (exact output size)
or, for families that can render arbitrary points (implicit models such as LMLTE, stated by
``supports_grid``), :meth:`SRModel.upscale_grid`, which is what makes tiled processing exactly
seamless at any fractional scale.

Value conventions at this boundary: images are float tensors (B, C, h, w) with values in [0, 1]
for in-range data (per-band normalised by the caller); outputs are (B, C_out, H, W), clamped to
[0, 1] unless ``clamp=False`` (the raster pipeline keeps the overshoot and clips to the data type
range instead).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:  # torch is imported by the families: the fast model's CPU runtime avoids it
    import torch
    from torch import nn


@dataclass
class SRModel:
    """A super-resolution model ready for inference on one device.

    Attributes:
        name: registry name or checkpoint path it was loaded from.
        family: ``"lmlte"``, ``"ldcsr"``, ``"moe"`` (or an export format family).
        module: the network (``eval()`` mode, on ``device``).
        in_channels: channels the network takes (1 = band-wise model, 3 = RGB model).
        out_channels: channels it returns.
        scale_range: (min, max) per-axis scale it is meant for; above max it still runs, with a
            warning from the pipeline.
        halo: LR pixels of context a tile needs on each side so that a tiled result equals the
            untiled one (receptive field of the encoder plus the decoder's neighbourhood).
        stochastic: True for samplers whose output depends on ``seed``.
        options: default keyword arguments of :meth:`upscale` (``mode``, ``steps``, ...).
        supports_grid: True when :meth:`upscale_grid` is implemented (point-query families);
            the engine's families state it, None derives it from the class (a subclass that
            overrides :meth:`upscale_grid` supports it).
    """

    name: str
    family: str
    module: nn.Module
    in_channels: int
    out_channels: int
    scale_range: tuple[float, float] = (1.0, 4.0)
    halo: int = 16
    stochastic: bool = False
    options: dict[str, Any] = field(default_factory=dict)
    supports_grid: bool | None = None
    #: What :meth:`upscale_grid` takes and returns: torch tensors here; ``"numpy"`` for a
    #: torch-free runtime (``engine.models.fast.runtime``), which the pipeline hands arrays.
    array_api: ClassVar[str] = "torch"

    def __post_init__(self) -> None:
        if self.supports_grid is None:
            self.supports_grid = type(self).upscale_grid is not SRModel.upscale_grid

    @property
    def device(self) -> torch.device:
        """Device of the network's parameters (CPU for a parameter-less module)."""
        import torch

        for p in self.module.parameters():
            return p.device
        return torch.device("cpu")

    def set_threads(self, threads: int) -> None:
        """Run on ``threads`` CPU threads (torch's intra-op setting, process-wide)."""
        import torch

        torch.set_num_threads(threads)

    def upscale(self, lr: torch.Tensor, size: tuple[int, int], *, clamp: bool = True,
                **kwargs: Any) -> torch.Tensor:
        """Super-resolve ``lr`` (B, C, h, w) in [0, 1] to exactly ``size`` = (H, W).

        Diffusion families also take ``seed=`` and ``steps=``; LDCSR takes ``mode=``.
        """
        raise NotImplementedError

    def upscale_grid(self, lr: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor,
                     pixel: tuple[float, float], *, clamp: bool = True,
                     **kwargs: Any) -> torch.Tensor:
        """Render the output pixels centred at (rows[i], cols[j]) of ``lr``.

        Args:
            lr: (B, C, h, w) in [0, 1].
            rows: (H,) float64 pixel-centre positions in LR pixel units along y, measured from
                the top edge of ``lr`` (0 = top edge, h = bottom edge).
            cols: (W,) the same along x.
            pixel: (dy, dx) size of one output pixel in LR pixel units (1 / scale).

        Returns:
            (B, C_out, H, W).
        """
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:
        """JSON-able summary (used by ``engine models`` and the plugin)."""
        return {
            "name": self.name,
            "family": self.family,
            "in_channels": self.in_channels,
            "out_channels": self.out_channels,
            "scale_range": list(self.scale_range),
            "stochastic": self.stochastic,
        }
