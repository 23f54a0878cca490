"""Scoring restorations: degrade (and optionally corrupt) ground-truth images, restore, compare with SSIM and PSNR."""

from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np
import torch
from torch import nn

from .metrics import psnr, ssim
from ..core.corrupt import Corruption
from ..core.degrade import degrade_pair, model_input


def to_tensor(images: np.ndarray) -> torch.Tensor:
    """``(N, H, W, 3)`` uint8 -> ``(N, 3, H, W)`` float32 in [0, 1]."""
    return torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float().div_(255.0)


def to_images(x: torch.Tensor) -> np.ndarray:
    """``(N, 3, H, W)`` float -> ``(N, H, W, 3)`` float32 clamped to [0, 1]."""
    return x.detach().clamp(0.0, 1.0).permute(0, 2, 3, 1).cpu().numpy()


def modcrop(img: np.ndarray, factor: int) -> np.ndarray:
    """Crop ``(H, W, C)`` so H and W are multiples of ``factor`` (the usual super-resolution protocol)."""
    h, w = img.shape[0] - img.shape[0] % factor, img.shape[1] - img.shape[1] % factor
    return img[:h, :w]


@torch.no_grad()
def restore(method: nn.Module, gt: torch.Tensor, factor: int = 2, corrupt: str | Corruption | None = None,
            seed: int = 0, offset: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Degrade a clean batch and restore it with ``method``; returns ``(degraded, restored)``.

    ``corrupt``, ``seed``, ``offset``: see :func:`vcam_sharpen.core.degrade.degrade_pair` (``offset`` is the
    index of the batch's first image in the whole set).
    """
    small, degraded = degrade_pair(gt, factor, corrupt, seed, offset)
    return degraded, method(model_input(method, small, degraded))


def batches(images: np.ndarray | Sequence[np.ndarray], batch_size: int) -> Iterable[np.ndarray]:
    """Equal-size images in batches; a list of differently sized images one at a time."""
    if isinstance(images, np.ndarray):
        for i in range(0, len(images), batch_size):
            yield images[i:i + batch_size]
    else:
        for img in images:
            yield img[None]


@torch.no_grad()
def score_arrays(method: nn.Module, images: np.ndarray | Sequence[np.ndarray], factor: int = 2,
                 batch_size: int = 500, progress=None, corrupt: str | Corruption | None = None,
                 seed: int = 0) -> dict:
    """Mean SSIM and PSNR of ``method`` over ``images``.

    Args:
        method: module mapping the model input (see :func:`vcam_sharpen.core.degrade.model_input`) to a
            ``(N, 3, H, W)`` restoration; outputs are clamped to [0, 1] before scoring.
        images: ``(N, H, W, 3)`` uint8 RGB, or a list of such arrays of any size
            (cropped to multiples of ``factor``).
        progress: optional callable ``progress(n)`` called after each batch.
        corrupt: a corruption spec applied to the half-size images (None or ``clean``: the plain
            protocol); image ``i`` is corrupted with the seed ``[seed, i]``, so the scores do not
            depend on ``batch_size``.

    Returns:
        ``{"ssim": mean, "psnr": mean, "n": count}``.
    """
    s, p, n = 0.0, 0.0, 0
    for chunk in batches(images, batch_size):
        chunk = np.stack([modcrop(img, factor) for img in chunk])
        gt = to_tensor(chunk)
        _, out = restore(method, gt, factor, corrupt, seed, offset=n)
        gt_np, out_np = to_images(gt), to_images(out)
        for a, b in zip(gt_np, out_np):
            s += ssim(a, b)
            p += psnr(a, b)
        n += len(chunk)
        if progress is not None:
            progress(len(chunk))
    return {"ssim": s / max(n, 1), "psnr": p / max(n, 1), "n": n}
