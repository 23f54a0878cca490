"""Training losses."""

from __future__ import annotations

import torch
import torch.nn.functional as F


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
