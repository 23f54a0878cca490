"""Invariants of the temporal denoiser (frames/temporal.py)."""

import cv2
import numpy as np
import pytest

from vcam_sharpen.frames.temporal import MODES, TemporalDenoiser, check_mode, estimate_noise, weight_lut


def _scene(h=72, w=96, seed=1):
    """A textured BGR picture (planar): smooth shading, sharp edges and fine stripes."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    base = 100 + 60 * np.sin(x / 7.0) * np.cos(y / 11.0) + 40 * ((x // 16 + y // 16) % 2) + 20 * np.sin(x * 1.3)
    img = np.stack([base, base * 0.8 + 20, 255 - base]).clip(0, 255)
    return img.round().astype(np.uint8)


def _noisy(img, sigma, seed):
    rng = np.random.default_rng(seed)
    return np.clip(img + rng.normal(0, sigma, img.shape), 0, 255).round().astype(np.uint8)


def test_check_mode():
    assert [check_mode(m) for m in MODES] == list(MODES)
    for bad in ("yes", True, None, "ON"):
        with pytest.raises(ValueError, match="temporal must be one of off, on, auto"):
            check_mode(bad)


def test_noise_estimate_reads_sigma_and_low_on_a_still_clean_picture():
    img = _scene(180, 240)
    td = TemporalDenoiser("on")
    for i in range(6):
        td.planar(img.copy())
    assert max(td.noise) < 1.0  # edges and texture are not noise, and nothing changes
    td = TemporalDenoiser("on")
    for i in range(12):
        td.planar(_noisy(img, 5, i))
    assert td.noise[0] == pytest.approx(5, rel=0.15) and td.noise[1] == pytest.approx(5, rel=0.25)


def _jpeg(planes, quality):
    ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(planes.transpose(1, 2, 0)), [cv2.IMWRITE_JPEG_QUALITY, quality])
    return np.ascontiguousarray(cv2.imdecode(buf, cv2.IMREAD_COLOR).transpose(2, 0, 1))


def test_noise_a_codec_hid_is_seen_and_averaged():
    """Noise then JPEG on every frame: the spatial estimate reads little, the frame-to-frame one does not,
    so auto filters, and what changes from frame to frame (the noise and the codec's errors) falls."""
    img = _scene(180, 240)
    frames = [_jpeg(_noisy(img, 8, i), 60) for i in range(16)]
    assert estimate_noise(frames[0])[0] < 1.4  # what the spatial estimate alone reads: auto would stay off
    td = TemporalDenoiser("auto")
    for f in frames:
        out = td.planar(f)
    assert td.active and td.noise[0] > 1.4
    still = np.mean(frames, axis=0)  # what is the same in every frame (the picture and the codec's bias)
    assert np.std(out - still) < 0.7 * np.std(frames[-1] - still)


def test_a_textured_pan_under_codec_noise_is_not_smeared():
    """A textured picture moving 4 px a frame (no block is still) with codec noise: every output frame is
    as close to its clean frame as the input frame is, give or take a little (no trail, no blend)."""
    big = _scene(180, 400)
    td = TemporalDenoiser("on")
    for i in range(10):
        clean = np.ascontiguousarray(big[:, :, 4 * i:4 * i + 240])
        f = _jpeg(_noisy(clean, 4, i), 50)
        out = td.planar(f)
        err_in, err_out = (np.abs(a.astype(float) - clean).mean() for a in (f, out))
        assert err_out < err_in + 0.3, (i, err_in, err_out)


def test_weight_lut_monotone_from_kmin_to_one():
    lut = weight_lut(0.2)
    assert lut.shape == (256,) and lut.dtype == np.float32
    assert lut[0] == pytest.approx(0.2) and lut[-1] == pytest.approx(1.0)
    assert np.all(np.diff(lut) >= 0)


def test_first_frame_static_clean_and_identity():
    img = _scene()
    td = TemporalDenoiser("on")
    assert np.array_equal(td.planar(img), img)  # first frame out == in
    for _ in range(5):  # a static noiseless sequence stays identical
        assert np.array_equal(td.planar(img.copy()), img)
    noisy = [_noisy(img, 5, i) for i in range(4)]
    for mode, strength in (("off", 1.0), ("on", 0.0)):
        td = TemporalDenoiser(mode, strength=strength)
        for f in noisy:
            assert np.array_equal(td.planar(f), f)
        assert not td.active


def test_reset_passes_the_next_frame_through():
    img = _scene()
    td = TemporalDenoiser("on")
    for i in range(5):
        td.planar(_noisy(img, 5, i))
    f = _noisy(img, 5, 99)
    assert not np.array_equal(td.planar(f.copy()), f)
    td.reset()
    assert np.array_equal(td.planar(f), f)
    assert td.noise is not None  # re-estimated from that frame


def test_noise_falls_on_a_static_noisy_sequence():
    img = _scene(120, 160)
    td = TemporalDenoiser("on")
    errs = []
    for i in range(12):
        out = td.planar(_noisy(img, 5, i))
        errs.append(np.mean((out.astype(np.float64) - img) ** 2))
    assert errs[0] > 20
    assert errs[-1] < errs[0] / 4  # variance down by 4x or more
    assert td.noise[0] == pytest.approx(5, rel=0.2)


def test_moving_edge_is_not_ghosted():
    """A bright bar moving 8 px per frame: the output follows the frame, with no trail."""
    h, w = 48, 160
    td = TemporalDenoiser("on")
    for step in range(12):
        frame = np.full((3, h, w), 60, np.uint8)
        x0 = 8 * step
        frame[:, :, x0:x0 + 16] = 200
        noisy = _noisy(frame, 3, step)
        out = td.planar(noisy)
        # near the edges and in the trail, the output is the new frame (noise included), never a blend
        err = np.abs(out.astype(int) - frame).max(axis=(0, 1))
        assert err.max() < 20, (step, err.max())


def test_cut_and_size_change_reset():
    a, b = _scene(seed=1), 255 - _scene(seed=1)
    td = TemporalDenoiser("on")
    for i in range(4):
        td.planar(_noisy(a, 4, i))
    nb = _noisy(b, 4, 10)
    assert np.array_equal(td.planar(nb), nb)  # a cut: the new scene as it is
    small = _scene(40, 64)
    assert np.array_equal(td.planar(small), small)  # a new size: starts again


def test_deterministic_and_hwc_matches_planar():
    img = _scene()
    frames = [_noisy(img, 5, i) for i in range(6)]
    a, b, c = TemporalDenoiser("on"), TemporalDenoiser("on"), TemporalDenoiser("on")
    for f in frames:
        pa = a.planar(f).copy()
        assert np.array_equal(pa, b.planar(f))
        hw = c.hwc(np.ascontiguousarray(f.transpose(1, 2, 0)))
        assert hw.shape == (f.shape[1], f.shape[2], 3)
        assert np.array_equal(hw.transpose(2, 0, 1), pa)


def test_auto_follows_the_noise_with_hysteresis():
    img = _scene(120, 160)
    td = TemporalDenoiser("auto", every=1)
    for i in range(6):
        td.planar(_noisy(img, 0.3, i))
    assert not td.active
    for i in range(10):
        td.planar(_noisy(img, 5, i))
    assert td.active
    td.noise = (1.2, 1.2)  # between the two thresholds: stays on
    assert td.wanted()
    td._auto_on = False
    assert not td.wanted()  # ... but does not switch on there


def test_bad_input():
    td = TemporalDenoiser()
    with pytest.raises(ValueError, match="uint8"):
        td.planar(np.zeros((3, 8, 8), np.float32))
    with pytest.raises(ValueError, match="strength"):
        TemporalDenoiser(strength=2.0)


def test_idle_auto_still_finds_noise_a_codec_hid_when_it_appears():
    """While auto hands frames through it samples the frame-to-frame estimate on 2 frames in `every` only:
    noise that a codec hides from the spatial estimate, appearing mid-stream, still turns the stage on."""
    img = _scene(180, 240)
    td = TemporalDenoiser("auto")
    for i in range(20):
        td.planar(img.copy())
    assert not td.active and td._prev_y is None  # idle between samples: no grids kept
    on = None
    for i in range(48):
        td.planar(_jpeg(_noisy(img, 8, i), 60))
        if td.active and on is None:
            on = i
    assert on is not None and on <= 24
    assert td.active


def test_idle_auto_is_not_turned_on_by_one_moving_frame():
    """A clean still camera with one frame moved by a pixel (under the pan test: its still blocks change):
    that lone frame-to-frame sample does not carry the idle estimate past the auto threshold."""
    img = _scene(180, 240)
    moved = np.ascontiguousarray(np.roll(img, 1, axis=2))
    td = TemporalDenoiser("auto")
    for i in range(64):
        td.planar((moved if i in (17, 33) else img).copy())
        assert not td.active and td.noise[0] < 1.0, i


def test_a_one_pixel_dot_moving_leaves_no_ghost():
    """The motion test's 5x5 box must still let a lone pixel's large change through: a 1-pixel dot (+100 grey)
    moving 3 px a frame under noise is taken as it is, with nothing left where it was."""
    rng = np.random.default_rng(0)
    for sigma in (2.0, 5.0):
        td = TemporalDenoiser("on")
        for i in range(16):
            img = np.full((3, 64, 96), 100.0)
            x = 10 + 3 * i
            img[:, 30, x] = 200
            out = td.planar(np.clip(img + rng.normal(0, sigma, img.shape), 0, 255).round().astype(np.uint8))
            if i > 3:
                assert out[:, 30, x].mean() > 190  # the dot itself
                assert abs(out[:, 30, x - 3].mean() - 100) < 3 * sigma  # where it was: no trail


def test_the_motion_map_marks_what_moved_and_is_none_when_nothing_was_filtered():
    rng = np.random.default_rng(3)
    base = np.full((3, 64, 96), 120.0, np.float32)
    stage = TemporalDenoiser("on")
    assert stage.moved() is None
    maps = []
    for i in range(6):
        frame = base.copy()
        frame[:, 20:36, 8 + 8 * i:24 + 8 * i] = 200.0  # a bright square moving 8 px a frame
        noisy = np.clip(frame + rng.normal(0, 3.0, frame.shape), 0, 255).astype(np.uint8)
        stage.planar(noisy)
        maps.append(stage.moved())
    assert maps[0] is None  # the first frame starts the estimate: nothing to compare with
    last = maps[-1]
    assert last.shape == (64, 96) and last[20:36, 8 + 8 * 5:24 + 8 * 5].mean() > 0.5  # the square's new place
    assert last[48:, :].mean() < 0.02  # still noisy background: not motion
    TemporalDenoiser("off").planar(noisy)
    off = TemporalDenoiser("off")
    off.planar(noisy)
    assert off.moved() is None


def test_the_motion_test_widens_for_codec_errors_not_for_white_noise():
    """White noise: the frame-to-frame and spatial estimates agree, the thresholds stay; noise a codec hid
    (spatially correlated errors): they widen, at most 1.5x, and the still picture's remaining change falls
    further than with the thresholds kept."""
    img = _scene(180, 240)
    white = TemporalDenoiser("on")
    for i in range(16):
        white.planar(_noisy(img, 5, i))
    assert white.widening() == 1.0
    frames = [_jpeg(_noisy(img, 8, i), 60) for i in range(16)]
    still = np.mean(frames, axis=0)
    errs = {}
    for widen in (True, False):
        td = TemporalDenoiser("on")
        if not widen:
            td.widening = lambda: 1.0
        for f in frames:
            out = td.planar(f)
        errs[widen] = float(np.std(out - still))
        if widen:
            assert 1.0 < td.widening() <= 1.5
    assert errs[True] < errs[False]
