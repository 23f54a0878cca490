"""The temporal stage's two update paths (frames/tnr_step.py) agree, so the fused one can stand in for the other."""

import numpy as np
import pytest

from vcam_sharpen.frames.temporal import TemporalDenoiser
from vcam_sharpen.frames.tnr_step import fused_available, step_fused, step_opencv, weight_lut

needs_numba = pytest.mark.skipif(not fused_available(), reason="Numba is not installed")


def _sequence(n=8, h=60, w=88, sigma=6.0, seed=0):
    """A textured picture under noise, with a bright square moving 5 px a frame (motion the test must see)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    base = 110 + 50 * np.sin(x / 5.0) * np.cos(y / 7.0)
    frames = []
    for i in range(n):
        img = np.stack([base, base * 0.9 + 15, 230 - base])
        img[:, 20:34, 5 + 5 * i:19 + 5 * i] = 240
        frames.append(np.clip(img + rng.normal(0, sigma, img.shape), 0, 255).round().astype(np.uint8))
    return frames


@needs_numba
@pytest.mark.parametrize("shape", [(60, 88), (7, 9), (5, 5), (2, 3), (1, 5)])
def test_fused_update_equals_opencv_within_a_grey_level(shape):
    rng = np.random.default_rng(1)
    h, w = shape
    planes = rng.integers(0, 256, (3, h, w)).astype(np.uint8)
    state = np.clip(planes + rng.normal(0, 4, planes.shape), 0, 255).astype(np.float32)
    outs = []
    for step in (step_fused, step_opencv):
        s, out, idx = state.copy(), np.empty_like(planes), np.empty((h, w), np.uint8)
        step(planes, s, out, idx, (0.25, 1.0, 2.2), 256 / 60.0, 256 / 30.0, {})
        outs.append((s, out, idx))
    (s1, o1, i1), (s2, o2, i2) = outs
    assert np.abs(i1.astype(int) - i2).max() <= 2 and np.mean(i1 != i2) < 0.1
    assert np.abs(o1.astype(int) - o2).max() <= 1
    assert np.abs(s1 - s2).max() < 1.0


@needs_numba
def test_fused_weight_is_the_lut_curve():
    """The fused kernel computes the weight the OpenCV path looks up: where both see the same index, the
    same update (a still frame: index 0, weight kmin; a frame far off: the largest index, weight 1)."""
    planes = np.full((3, 9, 11), 100, np.uint8)
    for state_value, sy, k in ((96.0, 256.0, weight_lut(0.3)[0]), (10.0, 0.256, 1.0)):
        s, out, idx = np.full(planes.shape, state_value, np.float32), np.empty_like(planes), np.empty((9, 11), np.uint8)
        step_fused(planes, s, out, idx, (0.3, 1.0, 2.2), sy, sy, {})
        assert np.allclose(s, state_value + k * (100 - state_value), atol=1e-4)


@needs_numba
def test_fused_stage_follows_the_opencv_stage_over_a_sequence():
    """Frame after frame (state carried), the two paths stay within a grey level and see the same motion."""
    fused, ref = TemporalDenoiser("on", fused=True), TemporalDenoiser("on", fused=False)
    for f in _sequence():
        a, b = fused.planar(f).copy(), ref.planar(f).copy()
        assert np.abs(a.astype(int) - b).max() <= 1
        if fused.moved() is not None:
            assert np.mean(fused.moved() != ref.moved()) < 0.01
    assert fused.fused and not ref.fused


def test_without_numba_the_stage_takes_the_opencv_path(monkeypatch):
    import vcam_sharpen.frames.tnr_step as tnr
    monkeypatch.setattr(tnr, "_KERNEL", False)  # what a machine without Numba finds
    td = TemporalDenoiser("on")
    td.warm()
    frames = _sequence(3)
    for f in frames:
        out = td.planar(f)
    assert td.fused is False and out.shape == frames[0].shape
