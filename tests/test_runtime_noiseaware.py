"""The noise-aware choice: hysteresis, no flapping, a monotone cross-fade, the engine interface, strength."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from vcam_sharpen.core import loader
from vcam_sharpen.core.corrupt import parse_corruption
from vcam_sharpen.core.degrade import check_mode
from vcam_sharpen.core.errors import UserError
from vcam_sharpen.core.models import count_macs
from vcam_sharpen.frames.sharpen import Sharpener
from vcam_sharpen.frames.temporal import TemporalDenoiser
from vcam_sharpen.quality.sequence import pan_sequence, sequence_rows
from vcam_sharpen.runtime.noiseaware import (CLEAN_MODEL, NOISE_AWARE, NOISY_MODEL, FirstFrameChoice, NoiseAwareEngine,
                                             create_any, rate_frames)


class Flat:
    """A fake 2x engine whose output is one grey level, so the blend's weight can be read off the picture."""

    input_scale = 2

    def __init__(self, value: int, name: str) -> None:
        self.value, self.model_name, self.calls = value, name, 0

    def describe(self) -> str:
        return self.model_name

    def restore_half(self, small: np.ndarray) -> np.ndarray:
        self.calls += 1
        return np.full((2 * small.shape[0], 2 * small.shape[1], 3), self.value, np.uint8)

    def restore_planar(self, planes: np.ndarray) -> np.ndarray:
        return self.restore_half(planes.transpose(1, 2, 0))


def wrapper(**kw) -> NoiseAwareEngine:
    return NoiseAwareEngine(Flat(100, "clean-model"), Flat(200, "noisy-model"), **kw)


def run(eng: NoiseAwareEngine, levels) -> list[int]:
    """One frame per level, the level set as the watched temporal stage's estimate; the output's grey level
    per frame."""
    stage = TemporalDenoiser("on")
    eng.watch(stage)
    planes = np.zeros((3, 4, 4), np.uint8)
    outs = []
    for lv in levels:
        stage.noise = (lv, lv)
        outs.append(int(eng.restore_planar(planes)[0, 0, 0]))
    return outs


def test_first_frame_picks_directly_without_a_fade():
    for level, choice, grey in ((5.0, "noisy", 200), (0.5, "clean", 100)):
        eng = wrapper()
        assert run(eng, [level]) == [grey]
        assert eng.choice == choice and eng.mix in (0.0, 1.0)


def test_hysteresis_between_the_thresholds_holds_either_choice():
    eng = wrapper(smooth=1, hold=1, fade=1, clean_below=1.4, noisy_above=2.0)
    run(eng, [0.5] + [1.7] * 20)  # between clean_below and noisy_above: stays clean
    assert eng.choice == "clean" and eng.switches == 0
    run(eng, [2.5])
    assert eng.choice == "noisy" and eng.switches == 1
    run(eng, [1.7] * 20)  # back between the thresholds: stays noisy
    assert eng.choice == "noisy" and eng.switches == 1
    run(eng, [1.0])
    assert eng.choice == "clean" and eng.switches == 2


def test_a_wandering_level_cannot_make_the_choice_flap():
    eng = wrapper(smooth=1, hold=60, fade=15, clean_below=1.4, noisy_above=2.0)
    levels = [0.5] + [3.0 if i % 2 else 0.5 for i in range(600)]  # crosses both thresholds every frame
    run(eng, levels)
    assert eng.switches <= 600 // 60 + 1
    # the default smoothing alone keeps a level that jumps from frame to frame from switching
    smooth = wrapper(clean_below=1.4, noisy_above=2.0)
    run(smooth, [1.7] + [1.2 if i % 2 else 2.1 for i in range(600)])
    assert smooth.switches == 0


def test_the_cross_fade_is_monotone_and_runs_both_models_only_while_fading():
    eng = wrapper(smooth=1, fade=15, hold=60)
    run(eng, [0.5] * 5)
    clean, noisy = eng.engines["clean"], eng.engines["noisy"]
    calls = (clean.calls, noisy.calls)
    outs = run(eng, [5.0] * 30)
    assert outs == sorted(outs) and outs[-1] == 200 and outs[0] > 100
    assert max(np.diff([100] + outs)) <= 100 / 15 + 1  # no jump: ~1/15 of the way per frame
    fading = sum(1 for o in outs if 100 < o < 200)
    assert fading == 14 and outs.index(200) == 14  # 15 frames to get there
    assert noisy.calls - calls[1] == 30 and clean.calls - calls[0] == 14  # the old model only during the fade
    back = run(eng, [0.2] * 80)  # after the hold, down again, monotone
    assert back == sorted(back, reverse=True) and back[-1] == 100


def test_the_level_comes_from_the_watched_temporal_stage_or_an_own_estimate():
    rng = np.random.default_rng(0)
    noisy = np.clip(128 + rng.normal(0, 6, (3, 90, 120)), 0, 255).astype(np.uint8)
    own = wrapper()
    own.restore_planar(noisy)
    assert own.noise == pytest.approx(6.0, rel=0.2) and own.choice == "noisy"
    assert own.state()["source"] == "own"
    stage = TemporalDenoiser("on")
    stage.noise = (0.3, 0.3)
    watched = wrapper()
    watched.watch(stage)
    watched.restore_planar(noisy)  # the stage says the raw frame is clean: the stage wins
    assert watched.noise == pytest.approx(0.3) and watched.choice == "clean"
    stage.mode = "off"  # a stage that is off has no current estimate: the engine's own takes over
    watched.reset()
    watched.restore_planar(noisy)
    assert watched.choice == "noisy" and watched.state()["source"] == "own"


def test_sharpener_feeds_it_the_temporal_estimate_and_strength_keeps_its_meaning():
    rng = np.random.default_rng(1)
    frames = [np.clip(128 + rng.normal(0, 8, (64, 96, 3)), 0, 255).astype(np.uint8) for _ in range(3)]
    eng = wrapper()
    sh = Sharpener(eng, degrade=2, temporal="on")
    assert eng._denoiser is sh.temporal
    full = sh.process(frames[0]).copy()
    assert eng.choice == "noisy" and (full == 200).all()
    s = Sharpener(wrapper(), degrade=2, temporal="off")
    s.strength = 0.0
    plain = s.process(frames[1]).copy()
    s.strength = 0.25
    quarter = s.process(frames[1]).astype(np.int16)
    expect = 0.75 * plain.astype(np.float32) + 0.25 * 200  # plain + strength x (restored - plain)
    assert np.abs(quarter - expect).max() <= 1


def test_state_describe_and_bad_arguments():
    eng = wrapper()
    assert eng.state()["noise"] is None and eng.describe() == "clean-model + noisy-model"
    run(eng, [3.0])
    st = eng.state()
    assert st["choice"] == "noisy" and st["model"] == "noisy-model" and st["mix"] == 1.0 and not st["fading"]
    assert st["models"] == {"clean": "clean-model", "noisy": "noisy-model"}
    with pytest.raises(ValueError, match="thresholds"):
        wrapper(noisy_above=1.0, clean_below=1.5)
    with pytest.raises(ValueError, match="hold >= fade"):
        wrapper(fade=30, hold=10)
    other = Flat(1, "x")
    other.input_scale = 1
    with pytest.raises(ValueError, match="input_scale"):
        NoiseAwareEngine(Flat(1, "y"), other)


def test_eval_row_is_student_clean_on_a_clean_picture_and_the_noise_trained_one_on_a_noisy_one():
    rng = np.random.default_rng(2)
    photo = cv2.resize(rng.integers(0, 256, (6, 15, 3), dtype=np.uint8), (240, 96), interpolation=cv2.INTER_CUBIC)
    frames = pan_sequence(photo, 6, step=2)
    for cond, other in (("clean", CLEAN_MODEL), ("noise:8", NOISY_MODEL)):
        rows = sequence_rows(frames, f"{NOISE_AWARE},{other}", "auto", [parse_corruption(cond)])
        assert rows[0]["label"] == NOISE_AWARE and rows[0]["frames_ssim"] == rows[1]["frames_ssim"], cond
        assert rows[0]["models"] == [CLEAN_MODEL, NOISY_MODEL] and rows[0]["noise_aware"]["model"] == other


def test_a_new_frame_size_is_a_new_source_and_picks_again():
    eng = wrapper(fade=3, hold=3)
    stage = TemporalDenoiser("on")
    eng.watch(stage)
    stage.noise = (5.0, 5.0)
    eng.restore_planar(np.zeros((3, 4, 4), np.uint8))
    assert eng.choice == "noisy" and eng.mix == 1.0
    stage.noise = (0.2, 0.2)
    out = eng.restore_planar(np.zeros((3, 6, 4), np.uint8))  # another size: no hold, no fade
    assert eng.choice == "clean" and eng.mix == 0.0 and eng.switches == 0 and out[0, 0, 0] == 100


def test_fade_and_hold_follow_the_camera_rate():
    assert rate_frames(30) == {"fade": 15, "hold": 60}  # the wrapper's defaults
    assert rate_frames(60) == {"fade": 30, "hold": 120} and rate_frames(1) == {"fade": 1, "hold": 2}
    assert rate_frames(0.1) == {"fade": 1, "hold": 1}


def test_create_any_builds_the_pair_from_the_loaded_name_and_any_other_model_as_usual():
    pair = loader.load(NOISE_AWARE)
    assert isinstance(pair, loader.ModelPair) and pair.names == (CLEAN_MODEL, NOISY_MODEL)
    eng = create_any(pair, fps=60)
    assert isinstance(eng, NoiseAwareEngine) and (eng.fade, eng.hold) == (30, 120)
    assert eng.describe().startswith("2 x student on ")  # both members are the student architecture
    assert eng.model_name == NOISE_AWARE and eng.state()["models"] == {"clean": CLEAN_MODEL, "noisy": NOISY_MODEL}
    assert not isinstance(create_any(loader.load(CLEAN_MODEL)), NoiseAwareEngine)
    assert create_any(None) is None
    with pytest.raises(UserError, match="noise-aware is a 2x model.*--degrade 2"):
        check_mode(pair, degrade=1)
    with pytest.raises(UserError, match="not one network"):
        pair(torch.zeros(1, 3, 8, 8))


def test_on_stills_each_picture_gets_the_member_the_first_frame_would():
    """eval's still tables: a picture's own noise estimate picks the member, as on a camera's first frame."""
    pair = loader.load(NOISE_AWARE)
    still = FirstFrameChoice(pair)
    smooth = torch.linspace(0, 1, 48).repeat(3, 32, 1)[None]  # a ramp: no noise
    noisy = (smooth + torch.from_numpy(np.random.default_rng(0).normal(0, 8 / 255, smooth.shape)).float()).clamp(0, 1)
    with torch.no_grad():
        out = still(torch.cat([smooth, noisy]))
        assert torch.equal(out[:1], pair.clean(smooth)) and torch.equal(out[1:], pair.noisy(noisy[:1]))
    assert still.picks == {"clean": 1, "noisy": 1} and still.model_name == NOISE_AWARE
    assert count_macs(still) == count_macs(pair) == count_macs(pair.clean)
