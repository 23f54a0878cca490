"""Training losses."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def ssim(x: torch.Tensor, y: torch.Tensor, win: int = 7, data_range: float = 1.0) -> torch.Tensor:
    """Differentiable mean SSIM matching ``skimage.metrics.structural_similarity`` defaults.

    Uniform ``win x win`` window, K1=0.01, K2=0.03, sample covariance, averaged over
    channels and the valid (unpadded) region, then over the batch.
    ``x`` and ``y`` are ``(N, C, H, W)`` with H, W >= ``win``.
    """
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    n = win * win
    cov_norm = n / (n - 1)
    mean = lambda t: F.avg_pool2d(t, win, stride=1)  # noqa: E731
    ux, uy = mean(x), mean(y)
    vx = cov_norm * (mean(x * x) - ux * ux)
    vy = cov_norm * (mean(y * y) - uy * uy)
    vxy = cov_norm * (mean(x * y) - ux * uy)
    s = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux * ux + uy * uy + c1) * (vx + vy + c2))
    return s.mean()


def distillation_loss(student: torch.Tensor, teacher: torch.Tensor, target: torch.Tensor,
                      alpha: float, beta: float) -> torch.Tensor:
    """``alpha * MSE(student, teacher) + beta * MSE(student, target)``.

    All three are ``(N, 3, H, W)`` float tensors of equal shape; the teacher
    output is treated as a constant (no gradient flows into the teacher).
    ``alpha=0`` is plain supervised training.
    """
    loss = beta * F.mse_loss(student, target)
    if alpha:
        loss = loss + alpha * F.mse_loss(student, teacher.detach())
    return loss
