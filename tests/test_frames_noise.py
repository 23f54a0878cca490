"""Invariants of the noise estimates (frames/noise.py): the spatial one and the frame-to-frame one."""

import cv2
import numpy as np
import pytest

from vcam_sharpen.frames import noise
from vcam_sharpen.frames.noise import estimate_noise, global_shift, grid_noise, luma_grid, shift_window


def _scene(h, w, seed=1):
    """A textured BGR picture (planar): smooth shading, sharp edges, fine stripes, a random texture patch."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    base = 100 + 60 * np.sin(x / 7.0) * np.cos(y / 11.0) + 40 * ((x // 16 + y // 16) % 2) + 20 * np.sin(x * 1.3)
    rng = np.random.default_rng(seed)
    base[: h // 3, : w // 3] += cv2.GaussianBlur(rng.normal(0, 30, (h // 3, w // 3)).astype(np.float32), (0, 0), 1.5)
    img = np.stack([base, base * 0.8 + 20, 255 - base * 0.9]).clip(20, 230)
    return img.round().astype(np.uint8)


def _noisy(img, sigma, seed):
    rng = np.random.default_rng(seed)
    return np.clip(img + rng.normal(0, sigma, img.shape), 0, 255).round().astype(np.uint8)


def _jpeg(planes, quality):
    ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(planes.transpose(1, 2, 0)), [cv2.IMWRITE_JPEG_QUALITY, quality])
    return np.ascontiguousarray(cv2.imdecode(buf, cv2.IMREAD_COLOR).transpose(2, 0, 1))


def _grids(frames):
    subs = [f[:, ::4, ::4].astype(np.float32) for f in frames]
    return subs, [luma_grid(s) for s in subs]


def test_spatial_estimate_matches_sigma_and_ignores_texture():
    img = _scene(180, 240)
    luma, chroma = estimate_noise(img)
    assert luma < 1.0 and chroma < 1.0  # edges and texture are not noise
    for sigma in (2.0, 5.0, 10.0):
        luma, chroma = estimate_noise(_noisy(img, sigma, 0))
        assert abs(luma - sigma) < 0.1 * sigma + 0.4 and abs(chroma - sigma) < 0.1 * sigma + 0.4


def test_strips_read_what_the_whole_frame_reads(monkeypatch):
    img = _scene(720, 1280)
    assert noise._strip_rows(720, 1280) is not None and noise._strip_rows(180, 240) is None
    rows = noise._strip_rows(720, 1280)
    assert len(rows) * 1280 < 720 * 1280 / 4  # a small part of a large frame...
    assert rows.min() < 16 and rows.max() > 720 - 128  # ... spread over all of it
    for sigma in (0.0, 2.0, 5.0):
        f = _noisy(img, sigma, 3) if sigma else img
        strips = estimate_noise(f)
        monkeypatch.setattr(noise, "_strip_rows", lambda h, w: None)
        whole = estimate_noise(f)
        monkeypatch.undo()
        assert strips == pytest.approx(whole, abs=0.03 * sigma + 0.25)  # statistically the same figure


def test_frame_to_frame_estimate_reads_sigma_and_low_when_clean():
    img = _scene(240, 320)
    for sigma in (2.0, 5.0):
        subs, ys = _grids([_noisy(img, sigma, 1), _noisy(img, sigma, 2)])
        luma, chroma = grid_noise((subs[0], subs[1]), ys)["sigma"]
        assert luma == pytest.approx(sigma, rel=0.15) and chroma == pytest.approx(sigma, rel=0.25)
    subs, ys = _grids([img, img.copy()])
    assert max(grid_noise((subs[0], subs[1]), ys)["sigma"]) < 0.1  # a still clean picture has no change


def test_frame_to_frame_estimate_sees_noise_a_codec_hid():
    """JPEG takes the fine grain the spatial estimator reads, but each frame's errors are new."""
    img = _scene(240, 320)
    frames = [_jpeg(_noisy(img, 5, i), 40) for i in range(2)]
    spatial = estimate_noise(frames[0])[0]
    subs, ys = _grids(frames)
    temporal = grid_noise((subs[0], subs[1]), ys)["sigma"][0]
    assert temporal > 2 * spatial and temporal > 1.5


def test_three_frame_variances_tell_a_clean_frame_from_a_noisy_one():
    img = _scene(240, 320)
    est = luma_grid(_noisy(img, 3, 9)[:, ::4, ::4].astype(np.float32))  # an estimate with some error
    for sigma, clean in ((6.0, False), (0.0, True)):
        frames = [_noisy(img, sigma, 1) if sigma else img, _noisy(img, 6, 2), _noisy(img, 6, 3)]
        subs, ys = _grids(frames)
        st = grid_noise((subs[0], subs[1]), ys, est)
        gain = st["v_e"] / (st["v"] + st["v_e"])
        assert (gain > 0.7) if clean else (gain < 0.4), (sigma, st)


def test_global_shift_finds_a_pan_not_noise():
    img = _scene(400, 640)
    a = luma_grid(_noisy(img, 5, 1)[:, ::4, ::4].astype(np.float32))
    b = luma_grid(_noisy(img, 5, 2)[:, ::4, ::4].astype(np.float32))
    moved = luma_grid(_noisy(np.roll(img, 8, axis=2), 5, 2)[:, ::4, ::4].astype(np.float32))
    win = shift_window(a.shape)
    assert global_shift(b, a, win) < 0.2
    assert 1.0 < global_shift(moved, a, win) < 2.5  # 8 px on a 4x grid: 2 (the threshold of a pan is 0.5)
