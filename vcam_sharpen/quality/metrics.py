"""Image quality metrics, on ``(H, W, 3)`` float RGB images in [0, 1]."""

from __future__ import annotations

import numpy as np


def ssim(gt: np.ndarray, out: np.ndarray) -> float:
    """``skimage.metrics.structural_similarity(gt, out, channel_axis=2, data_range=1.0)``.

    Defaults of scikit-image apply: 7x7 uniform window, K1=0.01, K2=0.03.
    """
    from skimage.metrics import structural_similarity  # lazy: scikit-image takes ~1 s to import

    return float(structural_similarity(gt, out, channel_axis=2, data_range=1.0))


def psnr(gt: np.ndarray, out: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB for data range 1.0 (capped at 100 dB for identical images)."""
    mse = float(np.mean((np.asarray(gt, np.float64) - np.asarray(out, np.float64)) ** 2))
    return 100.0 if mse <= 1e-10 else float(10.0 * np.log10(1.0 / mse))
