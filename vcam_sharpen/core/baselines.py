"""Classical restorations to compare the networks against."""

from __future__ import annotations

import cv2
import numpy as np
import torch

# Chosen on CIFAR-10 *training* images (grid search: ``python -m train unsharp``),
# never on the test set.
UNSHARP_SIGMA = 1.0
UNSHARP_AMOUNT = 2.0
# The same search for the same-size task, the unsharp row of ``eval --degradation soft``: sigma
# 0.5-4, amount 0.25-2 under the soft webcam preset on the last 2,000 training images
# (``python -m train unsharp --degradation soft --images 2000``: SSIM 0.8596 there).
UNSHARP_SOFT_SIGMA = 2.0
UNSHARP_SOFT_AMOUNT = 0.75


def unsharp_mask(img: np.ndarray, sigma: float = UNSHARP_SIGMA, amount: float = UNSHARP_AMOUNT) -> np.ndarray:
    """``img + amount * (img - GaussianBlur(img, sigma))``, clipped to [0, 1].

    Args:
        img: ``(H, W, 3)`` float32 in [0, 1].
        sigma: Gaussian standard deviation in pixels; kernel size from cv2 (``ksize=(0, 0)``,
            i.e. about 6*sigma+1), border ``cv2.BORDER_REFLECT_101``.
        amount: strength; 0 returns the input.

    Returns:
        ``(H, W, 3)`` float32 in [0, 1].
    """
    img = np.ascontiguousarray(img, dtype=np.float32)
    blur = cv2.GaussianBlur(img, (0, 0), sigmaX=sigma, sigmaY=sigma, borderType=cv2.BORDER_REFLECT_101)
    return np.clip(img + amount * (img - blur), 0.0, 1.0)


def unsharp_for(task: int = 2) -> "UnsharpMask":
    """The unsharp mask tuned for a task, the one source of its sigma and amount for the daemon, compare and eval:
    ``task=2`` the 2x task (the simulated link, ``--upscale``), ``task=1`` the same-size task (``--degrade 1``,
    ``eval --degradation soft``)."""
    return UnsharpMask(UNSHARP_SOFT_SIGMA, UNSHARP_SOFT_AMOUNT) if task == 1 else UnsharpMask(UNSHARP_SIGMA,
                                                                                               UNSHARP_AMOUNT)


class UnsharpMask(torch.nn.Module):
    """Module form of :func:`unsharp_mask` on ``(N, 3, H, W)`` float tensors in [0, 1]."""

    input_scale = 1

    def __init__(self, sigma: float = UNSHARP_SIGMA, amount: float = UNSHARP_AMOUNT) -> None:
        super().__init__()
        self.sigma, self.amount = sigma, amount

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        arr = x.permute(0, 2, 3, 1).cpu().numpy()
        out = np.stack([unsharp_mask(a, self.sigma, self.amount) for a in arr])
        return torch.from_numpy(out).permute(0, 3, 1, 2)


class Bilinear(torch.nn.Module):
    """The degraded frame itself: what a viewer sees without restoration."""

    input_scale = 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x
