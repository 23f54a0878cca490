"""The daemon's engine for a camera rate: one inference thread when it keeps up, else the default two."""

import pytest
import torch

from vcam_sharpen.core.baselines import UnsharpMask
from vcam_sharpen.core.models import create_model
from vcam_sharpen.runtime.engines import DEFAULT_THREADS, OrtEngine, TorchEngine, UnsharpEngine
from vcam_sharpen.core import loader
from vcam_sharpen.core.errors import UserError
from vcam_sharpen.runtime import tuning
from vcam_sharpen.runtime.budget import CpuEstimate
from vcam_sharpen.runtime.noiseaware import NoiseAwareEngine, rate_frames
from vcam_sharpen.runtime.tuning import cost_meter, engine_for_rate, resolve, sharpener_cores


@pytest.fixture(autouse=True)
def onnx_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def student():
    torch.manual_seed(0)
    return create_model("seed-student").eval()


def test_engine_for_rate_uses_one_thread_only_when_it_keeps_up(student):
    easy = engine_for_rate(student, fps=1.0, size=(64, 48))
    assert isinstance(easy, OrtEngine) and easy.threads == 1
    hard = engine_for_rate(student, fps=1e6, size=(64, 48))  # no single thread keeps up with that
    assert isinstance(hard, OrtEngine) and hard.threads == DEFAULT_THREADS
    assert engine_for_rate(student, fps=1.0, size=(64, 48), threads=3).threads == 3
    assert isinstance(engine_for_rate(student, fps=30.0, size=(64, 48), engine="torch"), TorchEngine)


def test_no_network_and_the_baseline_have_nothing_to_tune():
    assert engine_for_rate(None, fps=30.0, size=(64, 48)) is None
    assert isinstance(engine_for_rate(UnsharpMask(), fps=30.0, size=(64, 48)), UnsharpEngine)


def test_upscale_and_same_size_modes_are_timed_at_their_own_frames():
    model = create_model("student").eval()
    up = engine_for_rate(model, fps=1.0, size=(64, 48), upscale=True)  # the camera gives 32x24 frames
    assert isinstance(up, OrtEngine) and up.threads == 1
    same = engine_for_rate(create_model("seed-student").eval(), fps=1.0, size=(64, 48), degrade=1)
    assert isinstance(same, OrtEngine) and same.threads == 1


def test_default_and_auto_resolve_by_mode():
    assert resolve("default").spec == loader.DEFAULT_MODEL == loader.mode_default(2)
    assert resolve("default", degrade=1).spec == loader.ENHANCE_MODEL == loader.mode_default(1)
    assert resolve("default", degrade=1, upscale=True).spec == loader.DEFAULT_MODEL
    same = resolve("auto", degrade=1, size=(320, 240))  # measured among the shipped enhance models, best first
    assert same.spec in loader.auto_candidates(1) and loader.auto_candidates(1)[0] == loader.ENHANCE_MODEL
    assert same.spec == loader.ENHANCE_MODEL and "fits" in same.reason  # the best fits easily at 320x240
    assert same.cores[loader.ENHANCE_MODEL] > 0 and same.ladder == loader.auto_candidates(1)
    up = resolve("auto", fps=1.0, size=(64, 48), degrade=1, upscale=True)  # --upscale is a 2x mode: a student
    assert up.spec in loader.auto_candidates(2)
    assert resolve("seed-student", degrade=1).spec == "seed-student"


def test_the_auto_estimate_is_the_paced_median_plus_the_pipeline():
    """auto measures with bench's estimator: windows at the set rate, the median, and the rest of the pipeline
    (scaled from 720p30) on top; the meter measures each tag once."""
    est = sharpener_cores(create_model("seed-student").eval(), fps=30.0, size=(64, 48), frames=9)
    assert len(est.windows) == 3 and est.low <= est.cores <= est.high and est.frames == 9
    assert est.cores >= 0.1 * (64 * 48) / (1280 * 720)
    meter = cost_meter(fps=30.0, size=(64, 48))
    assert meter("student") == meter("student") and list(meter.estimates) == ["student"]


def test_the_auto_estimate_measures_full_motion_not_static_reuse(monkeypatch):
    """The estimate repeats one frame; with static-region reuse on, nearly every tile would be skipped and a
    model that needs a core would look like a quarter of one. The estimate runs every frame whole."""
    from vcam_sharpen.frames import sharpen

    seen = []
    real = sharpen.Sharpener.process

    def spy(self, frame, *a, **k):
        seen.append(self.skip_static)
        return real(self, frame, *a, **k)

    monkeypatch.setattr(sharpen.Sharpener, "process", spy)
    sharpener_cores(loader.load("student"), fps=30.0, size=(64, 48), frames=6)
    assert seen and not any(seen)


def test_the_pair_gets_each_member_picked_for_the_rate_and_fade_and_hold_scaled_with_it():
    pair = loader.load("noise-aware")
    eng = engine_for_rate(pair, fps=1.0, size=(64, 48))
    assert isinstance(eng, NoiseAwareEngine) and {"fade": eng.fade, "hold": eng.hold} == rate_frames(1.0)
    assert all(isinstance(e, OrtEngine) and e.threads == 1 for e in eng.engines.values())
    assert tuple(eng.names.values()) == pair.names
    assert (engine_for_rate(pair, fps=60.0, size=(64, 48), threads=1).fade,) == (30,)
    with pytest.raises(UserError, match="noise-aware is a 2x model"):
        engine_for_rate(pair, fps=30.0, size=(64, 48), degrade=1)


def test_the_pair_costs_its_dearer_member_measured_as_any_tag(monkeypatch):
    measured = []

    def fake(model, fps, size, degrade=2, upscale=False, frames=45):
        measured.append(model)
        return CpuEstimate(cores=0.3 + 0.1 * len(measured), low=0.0, high=1.0, windows=[], frames=frames)

    monkeypatch.setattr(tuning, "sharpener_cores", fake)
    meter = cost_meter(fps=30.0, size=(64, 48))
    assert meter("noise-aware") == pytest.approx(0.5)  # the second member measured the dearer here
    assert list(meter.estimates) == ["student-clean", "student-temporal", "noise-aware"]
    assert meter("student-clean") == pytest.approx(0.4) and len(measured) == 2  # each measured once
