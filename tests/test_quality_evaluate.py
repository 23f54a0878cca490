"""Scoring: degrade ground truth, restore, SSIM and PSNR; batching and cropping never change a score."""

import numpy as np
import torch

from conftest import smooth_images
from vcam_sharpen.core.baselines import Bilinear, UnsharpMask
from vcam_sharpen.core.degrade import degrade
from vcam_sharpen.quality.evaluate import batches, modcrop, restore, score_arrays, to_images, to_tensor


def test_tensor_round_trip():
    imgs = smooth_images(3)
    t = to_tensor(imgs)
    assert t.shape == (3, 3, 32, 32) and t.dtype == torch.float32 and 0 <= t.min() and t.max() <= 1
    back = to_images(t * 1.5 - 0.2)  # clamped on the way back
    assert back.shape == (3, 32, 32, 3) and back.min() >= 0 and back.max() <= 1
    assert np.allclose(to_images(t) * 255, imgs, atol=1e-4)


def test_modcrop():
    img = np.zeros((33, 47, 3))
    assert modcrop(img, 2).shape == (32, 46, 3) and modcrop(img, 4).shape == (32, 44, 3)
    assert modcrop(img, 1).shape == img.shape


def test_restore_feeds_the_model_its_input():
    gt = to_tensor(smooth_images(2))
    degraded, out = restore(Bilinear(), gt, 2)
    assert torch.equal(degraded, degrade(gt, 2)) and torch.equal(out, degraded)

    class Half(torch.nn.Module):
        input_scale = 2

        def forward(self, x):
            return torch.nn.functional.interpolate(x, scale_factor=2, mode="nearest")

    _, out = restore(Half(), gt, 2)
    assert out.shape == gt.shape  # it got the half-size batch


def test_batches():
    arr = np.zeros((5, 4, 4, 3))
    assert [len(b) for b in batches(arr, 2)] == [2, 2, 1]
    assorted = [np.zeros((4, 4, 3)), np.zeros((6, 8, 3))]
    assert [b.shape for b in batches(assorted, 10)] == [(1, 4, 4, 3), (1, 6, 8, 3)]


def test_scores_do_not_depend_on_the_batch_size_and_count_every_image():
    imgs = smooth_images(7)
    seen = []
    a = score_arrays(Bilinear(), imgs, 2, batch_size=3, progress=seen.append)
    b = score_arrays(Bilinear(), imgs, 2, batch_size=100)
    assert seen == [3, 3, 1] and a["n"] == b["n"] == 7
    assert a["ssim"] == b["ssim"] and a["psnr"] == b["psnr"] and 0 < a["ssim"] < 1
    assert score_arrays(UnsharpMask(), imgs, 2)["ssim"] > a["ssim"]  # sharpening helps these blocky images


def test_identity_scores_perfectly_and_odd_sizes_are_cropped():
    perfect = score_arrays(Bilinear(), smooth_images(2), factor=1)
    assert perfect["ssim"] == 1.0 and perfect["psnr"] == 100.0
    odd = [smooth_images(1, size=32)[0][:31, :29], smooth_images(1, seed=1)[0]]
    assert score_arrays(Bilinear(), odd, 2)["n"] == 2
