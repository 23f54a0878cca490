"""The daemon's engine for a camera rate: one inference thread when it keeps up, else the default two."""

import pytest
import torch

from vcam_sharpen.core.baselines import UnsharpMask
from vcam_sharpen.core.models import create_model
from vcam_sharpen.runtime.engines import DEFAULT_THREADS, OrtEngine, TorchEngine, UnsharpEngine
from vcam_sharpen.core import loader
from vcam_sharpen.runtime.tuning import engine_for_rate, resolve_auto, resolve_spec


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
    assert resolve_spec("default") == loader.DEFAULT_MODEL == loader.mode_default(2)
    assert resolve_spec("default", degrade=1) == loader.ENHANCE_MODEL == loader.mode_default(1)
    assert loader.mode_default(1, upscale=True) == loader.DEFAULT_MODEL
    same = resolve_auto(degrade=1, size=(320, 240))  # measured among the shipped enhance models, best first
    assert same.tag in loader.auto_candidates(1) and loader.auto_candidates(1)[0] == loader.ENHANCE_MODEL
    assert same.tag == loader.ENHANCE_MODEL and "fits" in same.reason  # the best fits easily at 320x240
    assert resolve_spec("seed-student", degrade=1) == "seed-student"
