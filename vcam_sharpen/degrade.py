"""The link simulation shared by training, evaluation and the daemon.

A frame is downscaled by ``factor`` and upscaled back to its size, both times with
``torch.nn.functional.interpolate(mode="bilinear", align_corners=False, antialias=False)``.
For ``factor=2`` the downscale is exactly a 2x2 box average (each output sample
falls halfway between four input pixels), so the degraded frame is a deterministic
function of the half-size frame; models may take that half-size frame directly.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def downscale(x: torch.Tensor, factor: int = 2) -> torch.Tensor:
    """Bilinear downscale (align_corners=False, no antialias).

    Args:
        x: ``(N, C, H, W)`` float tensor, values in [0, 1]. H and W need not be
            multiples of ``factor``; the small size is ``(H // factor, W // factor)``.
        factor: integer >= 1.

    Returns:
        ``(N, C, H // factor, W // factor)`` tensor, same dtype, values in [0, 1].
    """
    if factor < 1:
        raise ValueError(f"degradation factor must be >= 1, got {factor}")
    if factor == 1:
        return x
    h, w = x.shape[-2:]
    if h < factor or w < factor:
        raise ValueError(f"a {w}x{h} image is too small to downscale by {factor}")
    return F.interpolate(x, size=(h // factor, w // factor), mode="bilinear", align_corners=False)


def upscale(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear upscale (align_corners=False) of ``(N, C, h, w)`` to ``size=(H, W)``."""
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


def degrade(x: torch.Tensor, factor: int = 2) -> torch.Tensor:
    """Simulate a bad link: downscale by ``factor`` then bilinear upscale back.

    Args:
        x: ``(N, C, H, W)`` float tensor in [0, 1].
        factor: integer >= 1; 1 returns ``x`` unchanged.

    Returns:
        Tensor of the same shape and dtype as ``x``, values in [0, 1].
    """
    if factor == 1:
        return x
    return upscale(downscale(x, factor), tuple(x.shape[-2:]))


class Degrade(nn.Module):
    """Module form of :func:`degrade`."""

    def __init__(self, factor: int = 2) -> None:
        super().__init__()
        self.factor = factor

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return degrade(x, self.factor)
