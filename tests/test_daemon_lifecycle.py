"""The daemon's life in-process: run with its signals and state file, status/stop/toggle, start and stop."""

from __future__ import annotations

import logging
import os
import re
import signal
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from conftest_daemon import daemon_env, daemons, wait_for  # noqa: F401

from vcam_sharpen.core import loader
from vcam_sharpen.core.baselines import unsharp_for
from vcam_sharpen.core.errors import UserError
from vcam_sharpen.daemon import lifecycle
from vcam_sharpen.daemon.lock import AlreadyRunning, PidLock, paths, read_state, running_pid
from vcam_sharpen.daemon.settings import Settings
from vcam_sharpen.quality.report import methods
from vcam_sharpen.runtime.engines import Engine
from vcam_sharpen.runtime.noiseaware import NoiseAwareEngine

DEMO = {"source": "demo", "output": ["null"], "model": "none", "size": "64x48", "fps": 30.0}


def gone(pid: int) -> bool:
    """Whether process ``pid`` has exited (a zombie not yet reaped counts as exited)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] == "Z"
    except OSError:
        return True


def test_signals_toggle_and_stop_in_process(caplog):
    before = signal.getsignal(signal.SIGTERM)
    seen = {}

    def poke():
        try:
            wait_for(lambda: (read_state() or {}).get("frames_out", 0) > 5, timeout=60)
            os.kill(os.getpid(), signal.SIGUSR1)
            seen["state"] = wait_for(lambda: (st := read_state() or {}).get("sharpening") is False and st,
                                     timeout=5)
        finally:  # whatever happened, stop the daemon so the test ends
            seen["t"] = time.monotonic()
            os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=poke, daemon=True).start()
    with caplog.at_level(logging.INFO, logger="vcam_sharpen.daemon.lifecycle"):
        stats = lifecycle.run(DEMO)
    assert time.monotonic() - seen["t"] < 1.0  # SIGTERM: out of the loop at once
    assert seen["state"]["model"] == "none" and seen["state"]["frames_out"] > 5
    assert stats.frames_out > 5
    assert signal.getsignal(signal.SIGTERM) is before
    assert not paths()["pid"].exists() and not paths()["state"].exists()  # released and cleaned up
    (msg,) = [r.getMessage() for r in caplog.records if "released" in r.getMessage()]
    m = re.search(r"stopped: camera and outputs released (\d+\.\d\d) s after the signal", msg)
    assert m and float(m.group(1)) < 2.0, msg


def test_the_state_file_adds_what_the_daemon_knows(monkeypatch):
    states = []
    monkeypatch.setattr(lifecycle, "write_state", states.append)
    stats = lifecycle.run({**DEMO, "split": True}, frames=40)
    assert stats.frames_out == 40 and states
    st = states[-1]
    assert st["source"] == "demo" and st["source_name"] == "demo" and st["model"] == "none"
    assert st["engine"] == "none" and st["mode"] == "degrade x2 + restore (split)" and st["device"] is None
    assert st["pid"] == os.getpid() and st["outputs"] == ["null"] and st["output_size"] == "64x48"


def test_a_second_daemon_is_refused():
    lock = PidLock(paths()["pid"])
    lock.acquire()
    try:
        with pytest.raises(AlreadyRunning, match=f"already running \\(pid {os.getpid()}\\)"):
            lifecycle.run(DEMO, frames=1)
    finally:
        lock.release()


def test_status_stop_toggle_when_not_running():
    assert lifecycle.status() == {"running": False}
    assert lifecycle.stop() is None
    with pytest.raises(UserError, match="not running"):
        lifecycle.toggle()


def test_status_of_a_daemon_that_stopped_reporting(monkeypatch):
    lock = PidLock(paths()["pid"])
    lock.acquire()
    try:
        st = lifecycle.status()  # the state the lock wrote: who holds it, and that it is starting
        assert st["running"] and st["pid"] == os.getpid() and st["status"] == "starting"
        assert st["daemon"]["pid"] == os.getpid()
        now = time.time()
        monkeypatch.setattr(lifecycle, "read_state", lambda: {"status": "running", "started": now - 60,
                                                               "updated": now - 30})
        st = lifecycle.status()
        assert st["status"].startswith("not responding") and st["uptime_s"] >= 59
    finally:
        lock.release()


def test_mode_text():
    assert lifecycle.mode_text(Settings()) == "degrade x2 + restore"
    assert lifecycle.mode_text(Settings(degrade=1, split=True)) == "sharpen (split)"
    assert lifecycle.mode_text(Settings(upscale=True)) == "upscale x2"


def test_build_sharpener_and_warm_up():
    s, described = lifecycle.build_sharpener(Settings(model="none", size=(64, 48)))
    assert described == "none" and s.engine is None and s.size == (64, 48) and s.degrade == 2
    lifecycle.warm_up(s, (64, 48))  # nothing to warm up
    s, _ = lifecycle.build_sharpener(Settings(model="seed-student", degrade=1, size=(64, 48), fps=1.0))
    assert isinstance(s.engine, Engine) and s.engine.model_name == "seed-student"
    lifecycle.warm_up(s, (33, 21))
    assert s.process(np.zeros((48, 64, 3), np.uint8)).shape == (48, 64, 3)
    with pytest.raises(UserError, match="is a 2x model"):  # a bad mode fails before any device is opened
        lifecycle.build_sharpener(Settings(model="student", degrade=1))
    for bad in (Settings(model="enhance"), Settings(model="enhance", degrade=1, upscale=True),
                Settings(weights=str(loader.shipped()["enhance"]))):  # --weights enhance.pt --degrade 2
        with pytest.raises(UserError, match="enhance sharpens at the frame's own size"):
            lifecycle.build_sharpener(bad)



def test_no_model_means_auto_measured_for_the_mode():
    """No --model: auto, measured at start; at 1 fps on a tiny frame everything fits, so the best shipped student
    for 2x frames, the enhance model for --degrade 1; status says why."""
    s, described = lifecycle.build_sharpener(Settings(size=(64, 48), fps=1.0))
    best = loader.auto_candidates(2)[0]
    assert described.startswith(f"{best} (auto: best that fits") and s.engine.model_name == best and s.degrade == 2
    s, described = lifecycle.build_sharpener(Settings(degrade=1, size=(64, 48), fps=1.0))
    assert described.startswith("enhance (auto:") and s.engine.model_name == "enhance" and s.degrade == 1
    assert s.process(np.zeros((48, 64, 3), np.uint8)).shape == (48, 64, 3)


def test_the_default_model_follows_the_mode():
    """--model default: the student for 2x frames, the enhance model for --degrade 1 (the seed student stays
    selectable)."""
    s, described = lifecycle.build_sharpener(Settings(model="default", size=(64, 48), fps=1.0))
    assert described == loader.DEFAULT_MODEL and s.engine.model_name == "student" and s.degrade == 2
    s, described = lifecycle.build_sharpener(Settings(model="default", degrade=1, size=(64, 48), fps=1.0))
    assert described == loader.ENHANCE_MODEL and s.engine.model_name == "enhance" and s.degrade == 1
    s, described = lifecycle.build_sharpener(Settings(model="default", degrade=1, upscale=True, size=(64, 48),
                                                      fps=1.0))
    assert described == loader.DEFAULT_MODEL


def test_the_noise_aware_pair_is_built_for_the_rate_and_named_with_its_two_models(monkeypatch):
    """--model noise-aware, and auto where the pair is its pick: one engine over the two students, fade and hold
    scaled with the camera rate, the members named in what status and the start line say; warm-up's black frame
    leaves no choice behind; --degrade 1 refuses it in one line before any device is opened."""
    s, described = lifecycle.build_sharpener(Settings(model="noise-aware", size=(64, 48), fps=60.0))
    assert isinstance(s.engine, NoiseAwareEngine) and (s.engine.fade, s.engine.hold) == (30, 120)
    assert described == "noise-aware (student-clean | student-temporal)"
    lifecycle.warm_up(s, (64, 48))
    assert s.engine.noise is None and s.temporal.noise is None  # the next (real) frame picks
    with pytest.raises(UserError, match="noise-aware is a 2x model"):
        lifecycle.build_sharpener(Settings(model="noise-aware", degrade=1, size=(64, 48)))
    cheap = {"noise-aware": 0.3}
    monkeypatch.setattr(lifecycle, "resolve", lambda *a, **k: loader.resolve(
        "auto", cost=lambda t: cheap.get(t, 2.0), budget=0.75))
    s, described = lifecycle.build_sharpener(Settings(size=(64, 48), fps=30.0))  # auto, the daemon's default
    assert isinstance(s.engine, NoiseAwareEngine) and (s.engine.fade, s.engine.hold) == (15, 60)
    assert described.startswith("noise-aware (student-clean | student-temporal) (auto: best that fits 0.75 core")
    assert s.temporal.mode == "auto"  # with the temporal stage in its default mode


def test_weights_without_a_model_run_the_checkpoints_own_model():
    path = loader.shipped()["seed-student"]
    s, described = lifecycle.build_sharpener(Settings(weights=str(path), size=(64, 48), fps=1.0))
    assert described == "seed-student" and s.engine.model_name == "seed-student"


@pytest.mark.slow  # a real process (python -m vcam_sharpen / train): seconds of imports each
def test_start_then_stop_returns_once_the_process_is_gone(daemons):
    state = lifecycle.start({**DEMO, "size": "160x120"})
    pid = state["pid"]
    assert running_pid() == pid and state["status"] == "running" and state["frames_processed"] > 0
    with pytest.raises(AlreadyRunning):
        lifecycle.start(DEMO)
    assert lifecycle.stop() == pid
    assert gone(pid) and running_pid() is None
    assert not paths()["pid"].exists() and not paths()["state"].exists()


@pytest.mark.parametrize("degrade, upscale, task", [(2, False, 2), (1, True, 2), (1, False, 1)])
def test_unsharp_runs_with_the_sigma_and_amount_eval_scores_for_the_task(degrade, upscale, task):
    sharp, _ = lifecycle.build_sharpener(Settings(model="unsharp", degrade=degrade, upscale=upscale, size=(64, 48)))
    tuned = unsharp_for(task)
    assert (sharp.engine.model.sigma, sharp.engine.model.amount) == (tuned.sigma, tuned.amount)
    if not upscale:  # eval's row for the same task (--degradation soft is the same-size one)
        (_, module, info), = methods("unsharp", degrade=degrade)
        assert (info["sigma"], info["amount"]) == (tuned.sigma, tuned.amount) == (module.sigma, module.amount)
