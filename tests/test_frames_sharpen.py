"""frames.sharpen: frame layouts, odd sizes, degrade modes, split, toggling, and fitting to the output size."""

import numpy as np
import pytest
import torch

from vcam_sharpen.core.degrade import degrade, downscale
from vcam_sharpen.core.errors import UserError
from vcam_sharpen.frames.layout import interleave_phases, split_phases
from vcam_sharpen.frames.sharpen import BilinearUpscaler, BoxDownscaler, Sharpener, bilinear_upscale, fit, to_bgr


def frame(h, w, c=3, seed=0):
    rng = np.random.default_rng(seed)
    shape = (h, w) if c is None else (h, w, c)
    return rng.integers(0, 256, shape, dtype=np.uint8)


def as_tensor(img):
    return torch.from_numpy(img.astype(np.float32) / 255.0).permute(2, 0, 1)[None]


def as_image(t):
    return t[0].permute(1, 2, 0).numpy() * 255.0


class FakeEngine:
    """Same-size 'model': inverts the picture; 2x path upsamples by pixel repetition."""

    input_scale = 1

    def restore_half(self, small):
        return 255 - np.repeat(np.repeat(small, 2, axis=0), 2, axis=1)

    def restore_full(self, img):
        return 255 - img


def test_box_downscale_is_the_rounded_degrade_downscale():
    img = frame(40, 66)
    got = BoxDownscaler().hwc(img).astype(np.float64)
    ref = as_image(downscale(as_tensor(img), 2))
    assert got.shape == (20, 33, 3)
    assert np.abs(got - ref).max() <= 0.5 + 1e-4


@pytest.mark.parametrize("h, w", [(720, 1280), (31, 45), (2, 3)])
def test_box_downscale_is_the_formula_exactly(h, w):
    # (a + b + c + d + 2) >> 2: rounded half up, as the docstring says, at every size
    img = np.random.default_rng(h * w).integers(0, 256, (h, w, 3), np.uint8)
    q = img[: h // 2 * 2, : w // 2 * 2].astype(np.int32)
    want = ((q[0::2, 0::2] + q[0::2, 1::2] + q[1::2, 0::2] + q[1::2, 1::2] + 2) >> 2).astype(np.uint8)
    box = BoxDownscaler()
    assert np.array_equal(box.hwc(img), want)
    assert np.array_equal(box.planar(img), want.transpose(2, 0, 1))
    # views as sources hand them over (RGB turned to BGR, every other column): the same sums
    assert np.array_equal(box.hwc(img[:, :, ::-1]), want[:, :, ::-1])
    if w >= 4:
        assert np.array_equal(box.planar(img[:, ::2][:, : w // 2]), BoxDownscaler().planar(img[:, ::2].copy()))


def test_planar_and_hwc_agree_and_buffers_are_reused():
    img = frame(31, 45)  # odd: last row/column dropped
    box = BoxDownscaler()
    hwc = box.hwc(img).copy()
    planar = box.planar(img)
    assert planar.shape == (3, 15, 22) and np.array_equal(planar.transpose(1, 2, 0), hwc)
    assert box.planar(img) is planar
    with pytest.raises(ValueError):
        box.planar(frame(1, 5))
    with pytest.raises(ValueError):
        box.planar(np.zeros((4, 4, 3), np.float32))


def test_plain_path_is_the_degraded_frame():
    img = frame(48, 64)
    out = Sharpener(None, degrade=2).process(img)
    ref = as_image(degrade(as_tensor(img), 2))
    assert out.shape == img.shape and out.dtype == np.uint8
    assert np.abs(out.astype(np.float64) - ref).max() <= 1.0 + 1e-3  # two roundings of at most 0.5


@pytest.mark.parametrize("h, w", [(12, 17), (1, 1), (2, 5)])
def test_bilinear_upscale_is_the_rounded_float_upscale(h, w):
    small = frame(h, w)
    up = bilinear_upscale(small)
    ref = torch.nn.functional.interpolate(as_tensor(small), scale_factor=2, mode="bilinear", align_corners=False)
    assert up.shape == (2 * h, 2 * w, 3) and up.flags.c_contiguous
    assert np.abs(up.astype(np.float64) - as_image(ref)).max() <= 0.5 + 1e-3
    upscaler = BilinearUpscaler()
    planar = upscaler.planar(np.ascontiguousarray(small.transpose(2, 0, 1)))
    second = upscaler.hwc(small)
    assert np.array_equal(planar, up) and np.array_equal(second, up)
    assert second is not planar and upscaler.hwc(small) is planar  # two buffers used in turn


@pytest.mark.parametrize("h, w", [(360, 640), (13, 17), (1, 1), (7, 1), (1, 6)])
def test_bilinear_upscale_is_the_formula_exactly(h, w):
    # per axis (x[i-1] + 3 x[i]) and (3 x[i] + x[i+1]), edges replicated, then (sum + 8) >> 4: rounded half up once
    small = np.random.default_rng(h * w).integers(0, 256, (h, w, 3), np.uint8)
    x = np.pad(small.astype(np.int32), ((1, 1), (1, 1), (0, 0)), mode="edge")
    rows = np.empty((2 * h, w + 2, 3), np.int32)
    rows[0::2], rows[1::2] = x[:-2] + 3 * x[1:-1], 3 * x[1:-1] + x[2:]
    acc = np.empty((2 * h, 2 * w, 3), np.int32)
    acc[:, 0::2], acc[:, 1::2] = rows[:, :-2] + 3 * rows[:, 1:-1], 3 * rows[:, 1:-1] + rows[:, 2:]
    want = ((acc + 8) >> 4).astype(np.uint8)
    up = BilinearUpscaler()
    assert np.array_equal(up.hwc(small), want)
    assert np.array_equal(up.planar(np.ascontiguousarray(small.transpose(2, 0, 1))), want)
    assert np.array_equal(up.planar(small.transpose(2, 0, 1)), want)  # strided planes
    assert np.array_equal(up.hwc(small[:, :, ::-1]), want[:, :, ::-1])  # a channel-reversed view


@pytest.mark.parametrize("shape", [(481, 641, 3), (480, 640), (481, 641, 1), (480, 640, 4), (3, 5, 3)])
@pytest.mark.parametrize("engine", [None, FakeEngine()])
@pytest.mark.parametrize("degrade_factor", [1, 2])
@pytest.mark.parametrize("split", [False, True])
def test_output_keeps_the_input_size(shape, engine, degrade_factor, split):
    img = frame(*shape[:2], shape[2] if len(shape) == 3 else None)
    s = Sharpener(engine, degrade=degrade_factor, split=split)
    out = s.process(img)
    assert out.shape == (shape[0], shape[1], 3) and out.dtype == np.uint8
    assert set(s.timings) == {"prep", "temporal", "inference"}
    assert s.output_size(shape[1], shape[0]) == (shape[1], shape[0])


def test_odd_size_replicates_the_last_row_and_column():
    img = frame(9, 11)
    out = Sharpener(FakeEngine(), degrade=2).process(img)
    assert np.array_equal(out[8, :10], out[7, :10]) and np.array_equal(out[:, 10], out[:, 9])


def test_grey_and_bgra_become_bgr():
    grey = frame(6, 8, None)
    assert np.array_equal(to_bgr(grey), np.repeat(grey[:, :, None], 3, axis=2))
    bgra = frame(6, 8, 4)
    assert np.array_equal(to_bgr(bgra), bgra[:, :, :3])
    with pytest.raises(TypeError):
        to_bgr(np.zeros((4, 4, 3), np.float32))
    with pytest.raises(ValueError):
        to_bgr(np.zeros((4, 4, 2), np.uint8))


def test_degrade_one_without_model_is_identity_and_with_model_runs_it():
    img = frame(10, 14)
    assert np.array_equal(Sharpener(None, degrade=1).process(img), img)
    assert np.array_equal(Sharpener(FakeEngine(), degrade=1).process(img), 255 - img)


def test_toggle_off_publishes_the_degraded_frame():
    img = frame(20, 30)
    s = Sharpener(FakeEngine(), degrade=2)
    on = s.process(img).copy()
    s.enabled = False
    off = s.process(img)
    assert np.array_equal(off, Sharpener(None, degrade=2).process(img))
    assert s.timings["inference"] == 0.0 and not np.array_equal(on, off)


def test_split_left_degraded_right_restored():
    img = frame(20, 30)
    plain = Sharpener(None, degrade=2).process(img).copy()
    full = Sharpener(FakeEngine(), degrade=2).process(img).copy()
    out = Sharpener(FakeEngine(), degrade=2, split=True).process(img)
    assert np.array_equal(out[:, :15], plain[:, :15]) and np.array_equal(out[:, 15:], full[:, 15:])
    out1 = Sharpener(FakeEngine(), degrade=1, split=True).process(img)
    assert np.array_equal(out1[:, :15], img[:, :15]) and np.array_equal(out1[:, 15:], 255 - img[:, 15:])


def test_split_switched_on_while_a_frame_is_made_finishes_that_frame():
    class SwitchingEngine(FakeEngine):  # the panel turns split on while the model runs
        def restore_half(self, small):
            sharp.split = True
            return super().restore_half(small)

    img = frame(20, 30)
    sharp = Sharpener(SwitchingEngine(), degrade=2)
    assert sharp.process(img).shape == (20, 30, 3)  # this frame without split, the next one with it
    assert np.array_equal(sharp.process(img), Sharpener(FakeEngine(), degrade=2, split=True).process(img))


def test_upscale_mode_doubles_the_size():
    small = frame(15, 21)
    s = Sharpener(FakeEngine(), upscale=True)
    out = s.process(small)
    assert out.shape == (30, 42, 3) and s.output_size(21, 15) == (42, 30)
    assert np.array_equal(out, FakeEngine().restore_half(small))
    assert Sharpener(None, upscale=True).process(small).shape == (30, 42, 3)


def test_bad_arguments():
    with pytest.raises(UserError):
        Sharpener(None, degrade=3)

    class Upscaler(FakeEngine):
        input_scale = 2

    with pytest.raises(UserError, match="is a 2x model"):
        Sharpener(Upscaler(), degrade=1)
    Sharpener(Upscaler(), degrade=2)  # fine
    with pytest.raises(ValueError):
        Sharpener(None, degrade=2).process(frame(1, 5))


def test_fit_letterboxes_and_keeps_frames_of_the_right_size():
    odd = np.full((481, 641, 3), 200, np.uint8)
    out = fit(odd, (1280, 720))
    assert out.shape == (720, 1280, 3)
    assert out[360, 640].tolist() == [200, 200, 200]
    assert out[360, 0].tolist() == [0, 0, 0]  # aspect kept: bars at the sides
    wide = fit(np.full((90, 320, 3), 50, np.uint8), (64, 48))
    assert wide.shape == (48, 64, 3) and wide[0, 32].tolist() == [0, 0, 0] and wide[24, 32].tolist() == [50] * 3
    assert fit(np.full((24, 32, 3), 9, np.uint8), (64, 48)).min() == 9  # same aspect: scaled, no bars
    same = np.zeros((24, 32, 3), np.uint8)
    assert fit(same, (32, 24)) is same


@pytest.mark.parametrize("shape", [(481, 641, 3), (480, 640), (480, 640, 4)])
@pytest.mark.parametrize("degrade_factor", [1, 2])
def test_with_a_size_every_result_is_fitted_to_it(shape, degrade_factor):
    """Grey and BGRA frames become BGR (to_bgr), then the result is fitted: the one place frames are fitted."""
    img = np.full(shape, 150, np.uint8)
    if len(shape) == 3 and shape[2] == 4:
        img[..., 3] = 7  # alpha is dropped, not mixed in
    s = Sharpener(FakeEngine(), degrade=degrade_factor, size=(1280, 720))
    out = s.process(img)
    assert out.shape == (720, 1280, 3) and s.output_size(shape[1], shape[0]) == (1280, 720)
    assert out[360, 640].tolist() == [105] * 3  # the fake engine's 255 - 150
    assert out[360, 0].tolist() == [0, 0, 0]  # 4:3 in 16:9: bars at the sides
    assert set(s.timings) == {"prep", "temporal", "inference"} and s.timings["prep"] > 0
    up = Sharpener(None, upscale=True, size=(64, 48))
    assert up.process(frame(15, 21)).shape == (48, 64, 3) and up.output_size(21, 15) == (64, 48)


def test_interleave_phases_puts_each_phase_on_its_pixels():
    h, w = 3, 4
    phases = np.zeros((16, h, w), np.uint8)
    for py in range(2):
        for px in range(2):
            for c in range(3):
                phases[(2 * py + px) * 3 + c] = 10 * (2 * py + px) + c
    out = interleave_phases(phases)
    assert out.shape == (2 * h, 2 * w, 3)
    assert out[0, 0].tolist() == [0, 1, 2] and out[0, 1].tolist() == [10, 11, 12]
    assert out[1, 0].tolist() == [20, 21, 22] and out[5, 7].tolist() == [30, 31, 32]
    buf = np.empty((2 * h, 2 * w, 3), np.uint8)
    assert interleave_phases(phases, buf) is buf


def test_interleave_phases_is_the_same_for_sliced_planes_and_a_strided_buffer():
    # the reuse store passes planes cut from a larger one; a caller may pass part of a bigger frame as ``out``
    # (OpenCV cannot write there, NumPy does): all give the phase layout's frame
    rng = np.random.default_rng(0)
    store = rng.integers(0, 256, (16, 40, 52), np.uint8)
    phases = store[:, :37, :50]
    want = phases[:12].reshape(2, 2, 3, 37, 50).transpose(3, 0, 4, 1, 2).reshape(74, 100, 3)
    assert np.array_equal(interleave_phases(phases), want)
    assert np.array_equal(interleave_phases(np.ascontiguousarray(phases)), want)
    big = np.zeros((80, 120, 3), np.uint8)
    assert interleave_phases(phases, big[3:77, 5:105]) is not None
    assert np.array_equal(big[3:77, 5:105], want) and not big[:3].any() and not big[:, 105:].any()


@pytest.mark.parametrize("shape", [(6, 8), (7, 9)])
def test_split_phases_is_the_inverse_of_interleave_phases(shape):
    img = frame(*shape)
    planes = split_phases(img)
    h, w = shape[0] // 2, shape[1] // 2
    assert planes.shape == (12, h, w)
    assert np.array_equal(interleave_phases(planes), img[: 2 * h, : 2 * w])
    buf = np.empty((12, h, w), np.uint8)
    assert split_phases(img, buf) is buf


class Resettable(FakeEngine):
    """A fake 2x engine with state (as the noise-aware choice has): counts its resets."""

    input_scale = 2

    def __init__(self):
        self.resets = 0

    def reset(self):
        self.resets += 1


def test_reset_forgets_the_temporal_state_and_the_engines():
    sharp = Sharpener(Resettable(), degrade=2, temporal="on")
    for seed in range(3):
        sharp.process(frame(32, 48, seed=seed))
    assert sharp.temporal.noise is not None
    sharp.reset()
    assert sharp.temporal.noise is None and sharp.engine.resets == 1
    Sharpener(None, degrade=2).reset()  # no engine, or one without state: only the stage
    Sharpener(FakeEngine(), degrade=1).reset()
