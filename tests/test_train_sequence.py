"""Training on sequences (train/sequence.py, ``--sequence K``): clips that end on the target, the daemon's
temporal stage in the data pipeline, seeded, and the recipe option."""

import json

import cv2
import numpy as np
import pytest
import torch

from train import sequence
from test_train_data import make_photos, run, weights
from vcam_sharpen.core import checkpoint
from vcam_sharpen.core.corrupt import parse_corruption
from vcam_sharpen.core.degrade import degrade_pair
from vcam_sharpen.frames.temporal import TemporalDenoiser


def picture(h=64, w=64, seed=0):
    rng = np.random.default_rng(seed)
    return cv2.resize(rng.integers(0, 256, (h // 4, w // 4, 3), dtype=np.uint8), (w, h),
                      interpolation=cv2.INTER_CUBIC)


def batch(n=6, size=64):
    return torch.from_numpy(np.stack([picture(size, size, s) for s in range(n)])).permute(0, 3, 1, 2).float() / 255


def test_motion_ends_on_the_picture_and_moves_before_it(monkeypatch):
    img = picture()
    moved = [sequence.motion_frames(img, 6, np.random.default_rng(s)) for s in range(20)]
    assert all(len(f) == 6 and f[-1] is img and all(x.shape == img.shape and x.dtype == np.uint8 for x in f)
               for f in moved)
    assert any(not np.array_equal(f[0], img) for f in moved)  # some clips move
    monkeypatch.setattr(sequence, "STILL", 1.0)
    monkeypatch.setattr(sequence, "LOCAL", 0.0)
    still = sequence.motion_frames(img, 6, np.random.default_rng(0))
    assert all(np.array_equal(f, img) for f in still)


def test_a_preset_is_drawn_once_per_clip():
    chain = sequence.fixed_chain(parse_corruption("camera-train+jpeg:90"), np.random.default_rng(3))
    assert not any(name in ("camera-train", "camera") for name, _ in chain.terms)
    assert chain.terms[-1] == ("jpeg", (90,))


def test_clean_still_clips_give_the_half_size_frame_and_noisy_ones_less_noise(monkeypatch):
    monkeypatch.setattr(sequence, "STILL", 1.0)
    monkeypatch.setattr(sequence, "LOCAL", 0.0)
    x = batch()
    half = sequence.half_size  # the exact box average, uint8
    ref = torch.stack([torch.from_numpy(half((x[i] * 255).round().byte().permute(1, 2, 0).numpy(), 2))
                       for i in range(len(x))]).permute(0, 3, 1, 2).float() / 255
    small, degraded = sequence.sequence_pair(x, 2, parse_corruption("clean"), count=6)
    assert small.shape == (6, 3, 32, 32) and degraded.shape == x.shape
    assert torch.equal(small, ref)  # a still clean clip: the stage changes nothing
    noise = parse_corruption("noise:6")
    single, _ = degrade_pair(x, 2, noise, seed=0)
    clip, _ = sequence.sequence_pair(x, 2, noise, count=8)
    err = lambda a: float(((a - ref) ** 2).mean().sqrt() * 255)  # noqa: E731
    assert err(clip) < 0.7 * err(single)  # averaged over the clip by the daemon's own stage


def test_the_model_input_is_the_daemons_temporal_stage_on_the_corrupted_frames():
    img = picture(48, 48, 7)
    corruption = parse_corruption("noise:4")
    got = sequence.clip_input(img, 5, 2, corruption, seed=2, index=11)
    rng = np.random.default_rng([2, 11, 1])
    chain = sequence.fixed_chain(corruption, rng)
    stage = TemporalDenoiser("on")
    for t, frame in enumerate(sequence.motion_frames(img, 5, rng)):
        small = chain.apply(sequence.half_size(frame, 2), np.random.default_rng([2, 11, 2 + t]))
        out = stage.planar(np.ascontiguousarray(small.transpose(2, 0, 1)))
    assert np.array_equal(got, out.transpose(1, 2, 0))


def test_same_seed_same_data_on_any_threads_and_offsets():
    x, c = batch(8), parse_corruption("camera-train")
    a, _ = sequence.sequence_pair(x, 2, c, seed=1, offset=100, count=4)
    b, _ = sequence.sequence_pair(x, 2, c, seed=1, offset=100, count=4, workers=3)
    part, _ = sequence.sequence_pair(x[4:], 2, c, seed=1, offset=104, count=4)  # a share of the batch
    other, _ = sequence.sequence_pair(x, 2, c, seed=2, offset=100, count=4)
    assert torch.equal(a, b) and torch.equal(a[4:], part) and not torch.equal(a, other)
    with pytest.raises(ValueError):
        sequence.sequence_pair(x, 1, c, count=4)


def test_recipe_trains_on_sequences_and_records_it(tiny_cifar, tmp_path):
    photos = make_photos(tmp_path / "photos")
    opts = ["student", "--alpha", "0", "--epochs", "1", "--data-mix", "patches", "--patch-dirs", str(photos),
            "--patch-size", "32", "--patches", "24", "--corrupt", "camera-train"]
    assert run(tiny_cifar, tmp_path / "a", *opts, "--sequence", "3") == 0
    assert run(tiny_cifar, tmp_path / "b", *opts, "--sequence", "3") == 0
    assert run(tiny_cifar, tmp_path / "c", *opts) == 0
    a, b, c = (weights(tmp_path / n / "model.pt") for n in "abc")
    assert all(torch.equal(a[k], b[k]) for k in a) and not all(torch.equal(a[k], c[k]) for k in a)
    assert checkpoint.read(tmp_path / "a" / "model.pt")["config"]["sequence"] == 3
    assert json.loads((tmp_path / "a" / "metrics.json").read_text())["config"]["sequence"] == 3


def test_bad_sequence_is_a_one_line_error(tiny_cifar, tmp_path, capsys):
    assert run(tiny_cifar, tmp_path / "x", "student", "--alpha", "0", "--sequence", "-1") == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "\n" not in err and "--sequence" in err
