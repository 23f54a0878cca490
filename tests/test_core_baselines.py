"""The classical baselines: the unsharp mask (function and module) and the plain bilinear frame."""

import numpy as np
import pytest
import torch

from vcam_sharpen.core.baselines import UNSHARP_AMOUNT, UNSHARP_SIGMA, Bilinear, UnsharpMask, unsharp_mask


def test_unsharp_mask_sharpens_edges_and_keeps_flat_areas():
    img = np.zeros((16, 16, 3), np.float32)
    img[:, 8:] = 0.5
    out = unsharp_mask(img)
    assert out.dtype == np.float32 and out.shape == img.shape and 0 <= out.min() and out.max() <= 1
    assert out[8, 7, 0] == 0.0 and out[8, 8, 0] > 0.5  # overshoot on the bright side, clipped on the dark
    assert np.allclose(out[:, :4], 0) and np.allclose(out[:, 12:], 0.5, atol=1e-3)
    assert np.array_equal(unsharp_mask(img, amount=0.0), img)
    assert (UNSHARP_SIGMA, UNSHARP_AMOUNT) == (1.0, 2.0)


def test_the_module_is_the_function_per_image():
    x = torch.rand(2, 3, 9, 11, generator=torch.Generator().manual_seed(0))
    m = UnsharpMask(0.75, 1.5)
    assert m.input_scale == 1
    y = m(x)
    assert y.shape == x.shape
    want = unsharp_mask(x[1].permute(1, 2, 0).numpy(), 0.75, 1.5)
    assert np.allclose(y[1].permute(1, 2, 0).numpy(), want)


def test_bilinear_is_the_degraded_frame_itself():
    x = torch.rand(1, 3, 4, 4)
    assert Bilinear()(x) is x and Bilinear.input_scale == 1


@pytest.mark.parametrize("sigma", [0.5, 2.0])
def test_stronger_amount_is_sharper(sigma):
    rng = np.random.default_rng(0)
    img = rng.random((32, 32, 3)).astype(np.float32) * 0.5 + 0.25
    weak, strong = unsharp_mask(img, sigma, 0.5), unsharp_mask(img, sigma, 2.0)
    assert np.abs(strong - img).mean() > np.abs(weak - img).mean() > 0
