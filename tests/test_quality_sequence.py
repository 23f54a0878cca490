"""eval on consecutive frames (quality/sequence.py): the corruption protocol, flicker, peers, the pan-and-cut test."""

import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from vcam_sharpen.core import loader
from vcam_sharpen.core.corrupt import corrupt_batch, parse_corruption
from vcam_sharpen.core.errors import UserError
from vcam_sharpen.frames.sharpen import BoxDownscaler
from vcam_sharpen.quality.metrics import ssim
from vcam_sharpen.quality import sequence
from vcam_sharpen.quality.report import run_eval
from vcam_sharpen.quality.sequence import (HalfSizeCorruption, fast_ssim, load_sequence, pan_sequence,
                                           peer_outputs, score_sequence, sequence_rows, sharpener_outputs)

PHOTO = Path(__file__).resolve().parents[2] / "shared" / "data" / "hr" / "strecha_fountain-P11_0000.png"


def _photo(h=200, w=560, seed=0):
    """A picture with edges, smooth shading and texture (BGR uint8)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    base = 110 + 50 * np.sin(x / 13.0) * np.cos(y / 17.0) + 50 * ((x // 24 + y // 24) % 2)
    base += cv2.GaussianBlur(rng.normal(0, 25, (h, w)).astype(np.float32), (0, 0), 1.2)
    return np.stack([base, base * 0.7 + 40, 255 - base], axis=2).clip(0, 255).astype(np.uint8)


def test_half_size_corruption_is_eval_corrupts():
    """Frame i's half-size picture gets what eval --corrupt gives image i: generator [seed, i], RGB order."""
    frames = [_photo(64, 96, s) for s in range(3)]
    cond = parse_corruption("noise:5+jpeg:60")
    box, plain = HalfSizeCorruption(cond, seed=3), BoxDownscaler()
    smalls_rgb = [np.ascontiguousarray(plain.planar(f)[::-1].transpose(1, 2, 0)) for f in frames]
    expected = corrupt_batch(smalls_rgb, cond, seed=3)
    for f, e in zip(frames, expected):
        got = box.planar(f)
        assert np.array_equal(got[::-1].transpose(1, 2, 0), e)


def test_fast_ssim_is_the_metric():
    rng = np.random.default_rng(0)
    for shape in ((40, 56, 3), (33, 71, 3)):
        a = rng.random(shape).astype(np.float32)
        b = np.clip(a + rng.normal(0, 0.05, shape), 0, 1).astype(np.float32)
        assert fast_ssim(a, b) == pytest.approx(ssim(a, b), abs=1e-6)
    photo = _photo(64, 96).astype(np.float32) / 255
    assert fast_ssim(photo, photo) == pytest.approx(1.0)


def test_score_sequence_flicker():
    clean = [_photo(48, 64, s) for s in range(4)]
    same = score_sequence(clean, [c.copy() for c in clean])
    assert same["flicker"] == 0 and same["psnr"] == 100.0 and same["n"] == 4
    shifted = [c.astype(np.int16) + (5 if i % 2 else 0) for i, c in enumerate(clean)]
    out = score_sequence(clean, [np.clip(s, 0, 255).astype(np.uint8) for s in shifted])
    assert 4.0 < out["flicker"] <= 5.0  # every step adds or removes 5 grey levels (a few clip at 255)
    assert len(out["frames_ssim"]) == 4


def test_pan_sequence_moves_and_cuts():
    photo = _photo()
    frames = pan_sequence(photo, 10, step=8)
    assert len(frames) == 10 and frames[0].shape == (200, 560 - 40, 3)
    assert np.array_equal(frames[1][:, :-8], frames[0][:, 8:])  # 8 px per frame
    assert not np.array_equal(frames[5][:, :-8], frames[4][:, 8:])  # the cut
    with pytest.raises(UserError, match="too small"):
        pan_sequence(photo[:, :100], 20)


@pytest.mark.parametrize("cond", [None, "noise:5"])
def test_no_ghosting_on_a_fast_pan_and_a_cut(cond):
    """The temporal row is never more than 0.005 SSIM below the single-frame row after the cut's first frame."""
    photo = cv2.imread(str(PHOTO)) if PHOTO.is_file() else _photo()
    frames = pan_sequence(photo, 16, step=8)
    conds = None if cond is None else [parse_corruption(cond)]
    off = sequence_rows(frames, "bilinear", "off", conds)[0]["frames_ssim"]
    on = sequence_rows(frames, "bilinear", "on", conds)[0]["frames_ssim"]
    cut = len(frames) // 2
    worst = min(b - a for i, (a, b) in enumerate(zip(off, on)) if i != cut)
    assert worst >= -0.005, (off, on)
    if cond is not None:  # and under noise the stage helps where the picture stays
        assert np.mean(on) > np.mean(off)


def test_peers_give_one_frame_per_input():
    frames = [_photo(64, 96, s) for s in range(6)]
    for name in ("atadenoise", "fftdnoiz"):
        timing = {}
        outs = peer_outputs(frames, name, parse_corruption("noise:5"), 0, timing)
        assert len(outs) == 6 and outs[0].shape == frames[0].shape and timing["ms"] >= 0


def test_rows_and_errors(tmp_path):
    frames = [_photo(64, 96, s) for s in range(4)]
    rows = sequence_rows(frames, "bilinear,atadenoise", "on", [parse_corruption("noise:3")], dataset="x")
    assert [r["label"] for r in rows] == ["bilinear", "atadenoise"]
    assert rows[0]["temporal"] == "on" and rows[1]["kind"] == "peer" and "ms" in rows[1]
    assert all(r["condition"] == "noise:3" and r["consecutive"] == 4 for r in rows)
    with pytest.raises(UserError, match="--models"):
        sequence_rows(frames, "all", "on", None)
    with pytest.raises(UserError, match="--temporal"):
        sequence_rows(frames, "bilinear", "maybe", None)
    with pytest.raises(UserError, match="needs --consecutive"):
        run_eval(dataset="set5", models="bilinear", temporal="on", progress=False)
    with pytest.raises(UserError, match="video file"):
        load_sequence(str(tmp_path), 5)
    pic = tmp_path / "p.png"
    cv2.imwrite(str(pic), _photo())
    assert len(load_sequence(str(pic), 6)) == 6


def test_the_auto_row_is_the_daemons_default_and_names_the_pair(monkeypatch):
    """Where auto resolves to the noise-aware pair (as on a machine where it is the best rung that fits), the
    auto row runs exactly what the daemon runs by default: the pair with the temporal stage in auto mode. It is
    labelled auto, names the pair and both its models, and scores as the noise-aware row with --temporal auto.
    auto is measured once for all conditions."""
    picks = []

    def resolve(name):
        picks.append(name)
        return loader.resolve(name, cost=lambda t: 0.3 if t == "noise-aware" else 2.0, budget=0.75)

    monkeypatch.setattr(sequence, "resolve", resolve)
    frames = [_photo(48, 64, s % 2) for s in range(5)]
    conds = [parse_corruption("noise:6"), parse_corruption("clean")]
    rows = sequence_rows(frames, "auto,noise-aware", "auto", conds)
    auto, pair = rows[0], rows[1]
    assert auto["label"] == "auto" and auto["kind"] == "auto" and auto["temporal"] == "auto"
    assert auto["model"] == "noise-aware" and auto["models"] == ["student-clean", "student-temporal"]
    assert "fits" in auto["reason"] and auto["noise_aware"]["model"] in auto["models"]
    for (a, b), cond in zip(((rows[0], rows[1]), (rows[2], rows[3])), conds):
        assert a["skip_static"] and not b["skip_static"]  # the daemon's reuse in the auto row only
        daemon = score_sequence(frames, sharpener_outputs(frames, "noise-aware", "auto", cond, 0, skip_static=True))
        single = score_sequence(frames, sharpener_outputs(frames, "noise-aware", "auto", cond, 0))
        assert a["frames_ssim"] == daemon["frames_ssim"] and b["frames_ssim"] == single["frames_ssim"]
    assert picks.count("auto") == 1  # the same pick for every condition


def test_rows_but_auto_restore_every_frame_whole():
    """A "single frame" row restores each frame alone: two pictures that differ by less than the noise
    (which static-region reuse would hold) alternate, and each output follows its own input."""
    frames = [_photo(48, 64, s % 2) for s in range(4)]
    rows = sequence_rows(frames, "student", "off", [parse_corruption("noise:6")])
    assert not rows[0]["skip_static"]
    ssim = rows[0]["frames_ssim"]
    held = score_sequence(frames, sharpener_outputs(frames, "student", "off", parse_corruption("noise:6"), 0,
                                                    skip_static=True))["frames_ssim"]
    assert held[1] < ssim[1] - 0.05  # reuse held frame 0's output over frame 1 here; the row does not


def test_scores_do_not_depend_on_how_fast_the_machine_runs(monkeypatch):
    """Static-region reuse refreshes tiles by time: eval counts a frame period (30 fps) per frame, so a loaded
    machine scores what an idle one scores."""
    frames = [_photo(96, 128, 0)] * 10
    cond = [parse_corruption("noise:4")]
    fast = sequence_rows(frames, "student", "off", cond)[0]["frames_ssim"]
    real = sequence.Sharpener.process

    def slow(self, frame):
        time.sleep(0.15)  # 1.5 s over the clip: every tile would be refreshed by the wall clock
        return real(self, frame)

    monkeypatch.setattr(sequence.Sharpener, "process", slow)
    assert sequence_rows(frames, "student", "off", cond)[0]["frames_ssim"] == fast


def test_rows_with_the_stage_report_its_milliseconds_a_frame():
    frames = [_photo(48, 64, 0)] * 3
    on, = sequence_rows(frames, "bilinear", "on", [parse_corruption("noise:5")])
    off, = sequence_rows(frames, "bilinear", "off", [parse_corruption("noise:5")])
    assert on["temporal_ms"] > 0 and "temporal_ms" not in off


def test_with_the_stage_on_reuse_follows_changes_smaller_than_the_noise():
    """Two pictures that differ by less than noise sigma 6 alternate: the tiles' mean difference cannot tell
    (reuse alone holds frame 0's output), the stage's 5x5 motion test can, and its map makes reuse restore them."""
    frames = [_photo(48, 64, s % 2) for s in range(6)]
    cond = parse_corruption("noise:6")
    whole = score_sequence(frames, sharpener_outputs(frames, "student", "on", cond, 0))["frames_ssim"]
    reused = score_sequence(frames, sharpener_outputs(frames, "student", "on", cond, 0, skip_static=True))
    assert reused["frames_ssim"] == whole
