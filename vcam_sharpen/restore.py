"""Run a sharpening model on a degraded batch: the one call training, eval and the daemon share."""

from __future__ import annotations

import torch
from torch import nn

from .degrade import downscale, upscale


def model_scale(model: nn.Module) -> int:
    """1 if the model takes the degraded full-size frame, 2 if it takes the half-size frame."""
    return int(getattr(model, "input_scale", 1))


def model_input(model: nn.Module, small: torch.Tensor, degraded: torch.Tensor) -> torch.Tensor:
    """Pick what ``model`` consumes: the half-size frame or the degraded full-size frame."""
    return small if model_scale(model) > 1 else degraded


def degrade_pair(x: torch.Tensor, factor: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    """``(small, degraded)`` for a clean ``(N, 3, H, W)`` batch in [0, 1]."""
    small = downscale(x, factor)
    return small, upscale(small, tuple(x.shape[-2:])) if factor > 1 else x
