import pytest
import torch
import torch.nn.functional as F

from train.losses import distillation_loss, ssim
from vcam_sharpen.quality.metrics import ssim as reference


def test_distillation_loss_is_the_formula():
    torch.manual_seed(0)
    s, t, y = torch.rand(2, 3, 8, 8, requires_grad=True), torch.rand(2, 3, 8, 8), torch.rand(2, 3, 8, 8)
    expected = 0.7 * ((s - t) ** 2).mean() + 0.3 * ((s - y) ** 2).mean()
    assert torch.allclose(distillation_loss(s, t, y, 0.7, 0.3), expected)


def test_alpha_zero_is_plain_supervision_and_teacher_gets_no_gradient():
    s, y = torch.rand(1, 3, 4, 4), torch.rand(1, 3, 4, 4)
    assert torch.allclose(distillation_loss(s, None, y, 0.0, 1.0), F.mse_loss(s, y))
    t = torch.rand(1, 3, 4, 4, requires_grad=True)
    distillation_loss(s.requires_grad_(), t, y, 1.0, 1.0).backward()
    assert t.grad is None


def test_torch_ssim_matches_skimage():
    import numpy as np

    torch.manual_seed(1)
    x = torch.rand(3, 3, 32, 32)
    y = (x + 0.1 * torch.randn_like(x)).clamp(0, 1)
    expected = np.mean([reference(a.permute(1, 2, 0).numpy(), b.permute(1, 2, 0).numpy()) for a, b in zip(x, y)])
    assert ssim(x, y).item() == pytest.approx(expected, abs=1e-5)
    assert ssim(x, x).item() == pytest.approx(1.0, abs=1e-6)
