"""The corruption model: its primitives (vcam_sharpen.core.corrupt_ops), spec language, presets and batches
(vcam_sharpen.core.corrupt)."""

import sys

import cv2
import numpy as np
import pytest

from vcam_sharpen.core import corrupt, corrupt_ops
from vcam_sharpen.core.corrupt import (
    Corruption, CorruptionError, corrupt_batch, corrupt_tensor, parse_corruption, sample_camera,
)
from vcam_sharpen.core.corrupt_ops import gaussian_blur, gaussian_noise, h264, jpeg, poisson_gaussian_noise
from vcam_sharpen.core.errors import UserError


def natural(h=48, w=64, seed=0):
    """A deterministic photo-like test image: smooth colour gradients plus
    band-limited texture (no external data files needed)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    base = np.stack([80 + 120 * x / w, 60 + 140 * y / h, 200 - 100 * (x + y) / (h + w)], -1)
    # Texture is mostly shared by the channels (luma), as in real photos.
    tex = rng.normal(0, 40, (h, w, 1)) + rng.normal(0, 8, (h, w, 3))
    tex = cv2.GaussianBlur(tex.astype(np.float32), (0, 0), 1.2)
    return np.clip(base + tex, 0, 255).astype(np.uint8)


def flat(level, size=128):
    return np.full((size, size, 3), level, np.uint8)


def psnr(a, b):
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255.0 ** 2 / mse)


def rng(seed=0):
    return np.random.default_rng(seed)


# ------------------------------------------------------------- primitives

def test_clean_is_identity_and_input_untouched():
    img = natural()
    keep = img.copy()
    out = parse_corruption("clean").apply(img, rng())
    assert out.dtype == np.uint8 and np.array_equal(out, img) and out is not img
    parse_corruption("blur:1+noise:5+jpeg:50").apply(img, rng())
    assert np.array_equal(img, keep)


def test_noise_zero_and_blur_zero_are_identity():
    img = natural()
    assert np.array_equal(parse_corruption("noise:0").apply(img, rng()), img)
    assert np.array_equal(gaussian_blur(img, 0), img)


@pytest.mark.parametrize("spec", ["noise:5", "pg:0.2,2", "blur:0.7+pg:0.1,2+jpeg:80"])
def test_same_seed_same_output_different_seed_different(spec):
    img, c = natural(), parse_corruption(spec)
    a, b = c.apply(img, rng(1)), c.apply(img, rng(1))
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c.apply(img, rng(2)))


@pytest.mark.parametrize("sigma", [2.0, 5.0, 10.0])
def test_noise_std_matches_sigma_in_grey_levels(sigma):
    out = parse_corruption(f"noise:{sigma}").apply(flat(128), rng())
    std = (out.astype(np.float64) - 128).std()
    assert abs(std - sigma) < 0.1 * sigma
    # The function itself takes sigma in [0, 1] units.
    std_fn = (gaussian_noise(flat(128), sigma / 255, rng()).astype(np.float64) - 128).std()
    assert abs(std_fn - sigma) < 0.1 * sigma


def test_poisson_gaussian_variance_grows_with_intensity_as_modelled():
    A, B = 0.3, 2.0  # grey levels: var = A * X + B**2
    variances = []
    for level in (20, 100, 200):
        out = parse_corruption(f"pg:{A},{B}").apply(flat(level), rng(level)).astype(np.float64)
        var = out.var()
        expected = A * level + B ** 2 + 1 / 12  # + uniform rounding error
        assert abs(var - expected) < 0.1 * expected, (level, var, expected)
        variances.append(var)
    assert variances[0] < variances[1] < variances[2]
    # Function units: a, b in [0, 1] scale.
    out = poisson_gaussian_noise(flat(200), A / 255, B / 255, rng()).astype(np.float64)
    assert abs(out.var() - (A * 200 + B ** 2)) < 0.1 * (A * 200 + B ** 2)


def test_jpeg_quality_ordering_and_channel_order():
    img = natural()
    assert psnr(img, jpeg(img, 100)) > 40
    assert psnr(img, jpeg(img, 10)) < psnr(img, jpeg(img, 90)) - 5
    red = np.zeros((32, 32, 3), np.uint8)
    red[..., 0] = 220
    out = jpeg(red, 90)
    assert out.shape == red.shape and out.dtype == np.uint8
    assert out[..., 0].mean() > 200 and out[..., 2].mean() < 20  # RGB stays RGB


def test_h264_missing_pyav_raises_runtime_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "av", None)  # makes `import av` fail
    with pytest.raises(RuntimeError, match="pip install av") as e:
        h264(natural(), 23)
    assert "\n" not in str(e.value)


def test_h264_odd_sizes_lossless_crf0_and_quality():
    av = pytest.importorskip("av")
    for h, w in [(31, 45), (32, 47), (17, 16)]:
        out = h264(natural(h, w), 28)
        assert out.shape == (h, w, 3) and out.dtype == np.uint8
    img = natural(31, 45)
    # CRF 0 is lossless in YUV: the only loss is the RGB->yuv420p conversion.
    padded = np.pad(img, ((0, 1), (0, 1), (0, 0)), mode="edge")
    ref = av.VideoFrame.from_ndarray(padded, format="rgb24").reformat(format="yuv420p")
    ref = ref.to_ndarray(format="rgb24")[:31, :45]
    assert np.abs(h264(img, 0).astype(int) - ref).max() <= 1
    grey = np.repeat(img[..., :1], 3, axis=2)  # no chroma to subsample
    assert psnr(grey, h264(grey, 0)) > 40
    assert psnr(img, h264(img, 45)) < psnr(img, h264(img, 0)) - 3
    assert np.array_equal(h264(img, 30), h264(img, 30))  # deterministic


def test_blur_reduces_high_frequency_energy():
    img = rng(3).integers(0, 256, (64, 64, 3), dtype=np.uint8)

    def hf(a):
        return cv2.Laplacian(a.astype(np.float32), cv2.CV_32F).var()

    e0, e1, e2 = hf(img), hf(gaussian_blur(img, 0.5)), hf(gaussian_blur(img, 1.2))
    assert e2 < e1 < 0.8 * e0
    assert abs(gaussian_blur(img, 1.2).mean() - img.mean()) < 1  # blur keeps brightness


# ----------------------------------------------------------- spec language

@pytest.mark.parametrize("text", ["", "foo", "noise", "noise:", "noise:abc", "pg:1", "pg:1,2,3",
                                  "jpeg:70:1", "camera:2", "clean:1", "blur:1+", "jpeg 70"])
def test_parse_syntax_errors(text):
    with pytest.raises(ValueError) as e:
        parse_corruption(text)
    msg = str(e.value)
    assert "\n" not in msg and "noise:SIGMA" in msg and "h264:CRF" in msg


@pytest.mark.parametrize("text,value,rng_text", [
    ("jpeg:0", "0", "[1, 100]"), ("jpeg:101", "101", "[1, 100]"), ("jpeg:70.5", "70.5", "[1, 100]"),
    ("h264:52", "52", "[0, 51]"), ("h264:-1", "-1", "[0, 51]"), ("noise:-1", "-1", "[0, 255]"),
    ("blur:-0.5", "-0.5", "[0, 50]"), ("pg:0.1,-2", "-2", "[0, 255]"), ("noise:nan", "nan", "[0, 255]"),
    # bounded work: a huge blur hangs or eats GBs, a huge noise overflows (both at parse time now)
    ("blur:1e5", "100000", "[0, 50]"), ("blur:1e9", "1000000000", "[0, 50]"), ("blur:inf", "inf", "[0, 50]"),
    ("noise:1e308", "1e+308", "[0, 255]"), ("pg:1e300,1", "1e+300", "[0, 255]"), ("noise:256", "256", "[0, 255]"),
])
def test_parse_range_errors_name_value_and_range(text, value, rng_text):
    """Every numeric term has a documented range, enforced when the spec is parsed."""
    with pytest.raises(ValueError) as e:
        parse_corruption(text)
    msg = str(e.value)
    assert "\n" not in msg and value in msg and rng_text in msg


@pytest.mark.parametrize("text", ["clean", "camera", "noise:5", "noise:0.5", "pg:0.1,2.5", "jpeg:70",
                                  "h264:23", "blur:0.8", "blur:0.8+noise:3+jpeg:70", "pg:0.05,1+h264:30"])
def test_spec_str_round_trip(text):
    c = parse_corruption(text)
    assert isinstance(c, Corruption)
    assert str(c) == text
    assert parse_corruption(str(c)) == c


def test_bad_image_rejected():
    with pytest.raises(ValueError):
        gaussian_blur(np.zeros((8, 8), np.uint8), 1)
    with pytest.raises(ValueError):
        jpeg(np.zeros((8, 8, 3), np.float32), 50)


# ---------------------------------------------------------------- batches

def test_corrupt_batch_independent_of_split_and_deterministic():
    imgs = np.stack([natural(seed=i) for i in range(4)])
    spec = "blur:0.6+noise:4+jpeg:75"
    whole = corrupt_batch(imgs, spec, seed=7)
    assert whole.shape == imgs.shape and whole.dtype == np.uint8
    assert np.array_equal(whole, corrupt_batch(imgs, spec, seed=7))
    parts = np.concatenate([corrupt_batch(imgs[:1], spec, 7), corrupt_batch(imgs[1:3], spec, 7, offset=1),
                            corrupt_batch(imgs[3:], spec, 7, offset=3)])
    assert np.array_equal(whole, parts)
    # image i really is corrupted with default_rng([seed, i])
    assert np.array_equal(whole[2], parse_corruption(spec).apply(imgs[2], np.random.default_rng([7, 2])))
    assert not np.array_equal(whole, corrupt_batch(imgs, spec, seed=8))
    # identical images at different indices get different noise
    same = corrupt_batch(np.stack([imgs[0], imgs[0]]), "noise:5", 7)
    assert not np.array_equal(same[0], same[1])


def test_corrupt_batch_list_of_mixed_sizes():
    imgs = [natural(20, 30), natural(31, 17, seed=1)]
    out = corrupt_batch(imgs, "noise:3+jpeg:60", seed=1)
    assert isinstance(out, list) and [o.shape for o in out] == [(20, 30, 3), (31, 17, 3)]
    assert np.array_equal(out[1], corrupt_batch(imgs[1:], "noise:3+jpeg:60", seed=1, offset=1)[0])


def test_camera_preset_is_a_deterministic_mix():
    imgs = np.stack([natural(24, 32, seed=i % 5) for i in range(50)])
    out = corrupt_batch(imgs, "camera", seed=11)
    assert np.array_equal(out, corrupt_batch(imgs, "camera", seed=11))
    clean = [np.array_equal(o, i) for o, i in zip(out, imgs)]
    assert 2 <= sum(clean) <= 25  # ~20% clean expected
    changed = [psnr(i, o) for o, i, c in zip(out, imgs, clean) if not c]
    assert min(changed) > 20  # realistic, not destroyed
    chains = [str(sample_camera(np.random.default_rng([11, i]))) for i in range(50)]
    assert len(set(chains)) > 30 and any("blur" in c for c in chains)


def test_camera_without_pyav_uses_jpeg_with_same_draws():
    for i in range(40):
        with_av = str(sample_camera(np.random.default_rng([3, i]), h264_ok=True))
        without = str(sample_camera(np.random.default_rng([3, i]), h264_ok=False))
        assert "h264" not in without
        if "h264" not in with_av:
            assert with_av == without
        else:
            assert with_av.split("+h264")[0] == without.split("+jpeg")[0]


def test_corrupt_tensor_matches_numpy_path():
    torch = pytest.importorskip("torch")
    imgs = np.stack([natural(seed=i) for i in range(3)])
    x = torch.from_numpy(imgs).permute(0, 3, 1, 2).float() / 255
    y = corrupt_tensor(x, "noise:5+jpeg:70", seed=4)
    assert y.shape == x.shape and y.dtype == x.dtype and 0 <= y.min() and y.max() <= 1
    ref = corrupt_batch(imgs, "noise:5+jpeg:70", seed=4)
    assert np.array_equal((y * 255).round().byte().permute(0, 2, 3, 1).numpy(), ref)
    assert torch.equal(corrupt_tensor(x, "clean", seed=0), x)


def test_spec_errors_are_user_errors_and_properties():
    with pytest.raises(CorruptionError) as e:
        parse_corruption("jpeg:101")
    assert isinstance(e.value, UserError) and isinstance(e.value, ValueError)
    assert parse_corruption("clean").is_clean and parse_corruption("clean+clean").is_clean
    assert not parse_corruption("jpeg:90").is_clean
    assert [parse_corruption(t).is_random for t in ("clean", "jpeg:70+blur:1", "h264:30", "noise:1", "pg:1,1",
                                                     "camera")] == [False, False, False, True, True, True]
    assert parse_corruption("blur:1+h264:30").needs_h264 and not parse_corruption("camera").needs_h264


def test_threads_give_the_same_result():
    imgs = np.stack([natural(24, 32, seed=i % 5) for i in range(12)])
    for spec in ("camera", "blur:0.7+pg:0.1,2+jpeg:60"):
        assert np.array_equal(corrupt_batch(imgs, spec, 5, offset=3, workers=3), corrupt_batch(imgs, spec, 5, offset=3))


def test_soft_preset_always_blurs_within_its_range_and_is_seeded():
    from vcam_sharpen.core.corrupt import SOFT, sample_soft

    chains = [sample_soft(np.random.default_rng([0, i]), h264_ok=False) for i in range(200)]
    assert chains == [sample_soft(np.random.default_rng([0, i]), h264_ok=False) for i in range(200)]
    for c in chains:
        names = [n for n, _ in c.terms]
        assert names == ["blur", "pg", "jpeg"]
        assert SOFT["blur"][0] <= c.terms[0][1][0] <= SOFT["blur"][1]
        assert SOFT["jpeg"][0] <= c.terms[2][1][0] <= SOFT["jpeg"][1]


def test_soft_train_adds_clean_and_sharp_but_noisy_images():
    from vcam_sharpen.core.corrupt import sample_soft

    chains = [sample_soft(np.random.default_rng([0, i]), train=True, h264_ok=False) for i in range(1000)]
    clean = sum(c.is_clean for c in chains) / len(chains)
    sharp = sum(not c.is_clean and c.terms[0][0] != "blur" for c in chains) / len(chains)
    assert 0.16 < clean < 0.24 and 0.11 < sharp < 0.19


def test_soft_specs_parse_and_are_random():
    for text in ("soft", "soft-train"):
        c = parse_corruption(text)
        assert str(c) == text and c.is_random and not c.is_clean


def test_camera_train_mix_keeps_clean_images_and_stays_milder_than_camera():
    from vcam_sharpen.core.corrupt import CAMERA_TRAIN, sample_camera_train

    def draw(ok):
        return [sample_camera_train(np.random.default_rng([0, i]), h264_ok=ok) for i in range(2000)]

    chains = draw(True)
    assert chains == draw(True)  # seeded
    clean = sum(c.is_clean for c in chains) / len(chains)
    both = sum(len(c.terms) == 2 for c in chains) / len(chains)
    assert 0.26 < clean < 0.34 and 0.17 < both < 0.23
    for c in chains:
        for name, args in c.terms:
            if name == "jpeg":
                assert CAMERA_TRAIN["jpeg"][0] <= args[0] <= CAMERA_TRAIN["jpeg"][1]
            elif name == "h264":
                assert CAMERA_TRAIN["h264"][0] <= args[0] <= CAMERA_TRAIN["h264"][1]
            elif name == "noise":
                assert CAMERA_TRAIN["noise"][0] <= args[0] <= CAMERA_TRAIN["noise"][1]
            else:
                assert name in ("clean", "pg")
    # without PyAV the same draws, H.264 replaced by JPEG
    for a, b in zip(chains, draw(False)):
        assert [n.replace("h264", "jpeg") for n, _ in a.terms] == [n for n, _ in b.terms]
    c = parse_corruption("camera-train")
    assert str(c) == "camera-train" and c.is_random


def test_the_spec_module_re_exports_the_primitives():
    for name in ("gaussian_noise", "poisson_gaussian_noise", "jpeg", "h264", "gaussian_blur", "h264_available"):
        assert getattr(corrupt, name) is getattr(corrupt_ops, name)


def test_a_chain_of_too_many_terms_is_refused():
    with pytest.raises(ValueError, match="at most 16 terms"):
        parse_corruption("+".join(["blur:1"] * 17))
    assert len(parse_corruption("+".join(["blur:1"] * 16)).terms) == 16
