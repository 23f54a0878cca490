import numpy as np
import pytest

from vcam_sharpen.quality.metrics import psnr, ssim


def test_ssim_of_an_image_with_itself_is_one():
    x = np.random.default_rng(0).random((32, 32, 3)).astype(np.float32)
    assert ssim(x, x) == pytest.approx(1.0)
    assert ssim(x, np.clip(x + 0.1, 0, 1)) < 1.0


def test_psnr_known_value():
    a = np.zeros((8, 8, 3))
    assert psnr(a, a + 0.1) == pytest.approx(20.0)
    assert psnr(a, a) == 100.0
