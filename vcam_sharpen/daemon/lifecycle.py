"""The daemon's life: ``run`` in the foreground, ``start`` in the background, ``stop``, ``toggle``, ``status``.

``run`` builds source -> sharpener -> sinks from the effective settings
(:func:`vcam_sharpen.daemon.settings.effective`), holds the pid lock, writes the state file
and hands the frames to :class:`~vcam_sharpen.pipeline.loop.Pipeline`. Signals: SIGTERM /
SIGINT stop cleanly (camera and virtual camera released, well under 2 s; the log says how
long it took); SIGUSR1 toggles sharpening off and on.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Callable

import numpy as np

from ..core import loader
from ..core.errors import UserError
from ..frames.sharpen import Sharpener
from ..io.inputs import default_source, is_camera_spec, open_source
from ..io.outputs import SinkOptions, close_sinks, open_sinks, sink_target
from ..pipeline.loop import Pipeline
from ..pipeline.stats import CpuMeter, Stats
from ..runtime.tuning import engine_for_rate, resolve
from . import control
from .autoscale import AutoscaleThread
from .identity import send
from .lock import (AlreadyRunning, PidLock, already_running, daemon_identity, paths, read_state, running_pid,
                   signal_daemon, write_state)
from .panel import PanelController, PanelHandle
from .settings import Settings, effective

log = logging.getLogger(__name__)

START_TIMEOUT_S = 90.0
STOP_TIMEOUT_S = 5.0
# Nobody may read the virtual camera this long before pausing (see pipeline.pause).
PAUSE_AFTER_S = 2.0
STATE_EVERY_S = 1.0
TOGGLE_SIGNAL = getattr(signal, "SIGUSR1", None)


def mode_text(settings: Settings) -> str:
    if settings.upscale:
        mode = "upscale x2"
    elif settings.degrade == 2:
        mode = "degrade x2 + restore"
    else:
        mode = "sharpen"
    return mode + (" (split)" if settings.split else "")


def build_sharpener(settings: Settings, choice: loader.Choice | None = None) -> tuple[Sharpener, str]:
    """The :class:`Sharpener` for the settings (model loaded, engine picked for the rate; a bad model,
    mode or weights file is a UserError before any device is opened), and what ``status`` calls the model.

    ``choice``: the model already resolved (the autoscaler's step); else ``settings.model`` is resolved
    here (:func:`vcam_sharpen.runtime.tuning.resolve`; ``auto`` measures the candidates)."""
    weights = Path(settings.weights) if settings.weights else None
    choice = choice or resolve_settings(settings)
    spec, described = choice.spec, loader.describe(choice.label)
    if choice.reason:
        log.info("--model auto: %s (%s)", choice.label, choice.reason)
        described = f"{described} (auto: {choice.reason})"
    model = loader.load(spec, weights, task=1 if settings.degrade == 1 and not settings.upscale else 2)
    engine = engine_for_rate(model, settings.fps, settings.size, degrade=settings.degrade,
                             upscale=settings.upscale, engine=settings.engine)
    sharpener = Sharpener(engine, degrade=settings.degrade, upscale=settings.upscale, split=settings.split,
                          size=settings.size, temporal=settings.temporal)
    sharpener.strength = settings.strength
    sharpener.skip_static = settings.skip_static
    return sharpener, described


def resolve_settings(settings: Settings) -> loader.Choice:
    """What the settings' model names (:func:`vcam_sharpen.runtime.tuning.resolve`: ``auto`` measured at the
    settings' rate, size and budget)."""
    return resolve(settings.model, settings.fps, settings.size, settings.degrade, settings.upscale,
                   Path(settings.weights) if settings.weights else None, settings.cpu_budget)


def check_not_overwriting(source: str, outputs: list[str]) -> None:
    """A recording onto the video file being read would destroy it while it plays: refuse."""
    src = Path(source).expanduser()
    if not src.is_file():
        return
    for out in outputs:
        dst = Path(out).expanduser()
        if dst.exists() and os.path.samefile(dst, src):
            raise UserError(f"--output {out} is the --source file; recording onto it would destroy it: "
                            f"pick another output name")


def warm_up(sharpener, size: tuple[int, int]) -> None:
    """Run the model once at the source's frame size, so the first real frame is not slow
    (graph export, session creation and allocation happen here) and a broken model fails at start; compiles
    the temporal stage's update whatever its mode (``auto`` may turn it on at any frame)."""
    sharpener.temporal.warm()
    if sharpener.engine is None:
        return
    w, h = size
    sharpener.process(np.zeros((max(2, h), max(2, w), 3), np.uint8))
    sharpener.reset()  # the black frame is no camera picture: no noise estimate (nor a choice) from it


def run(overrides: dict | None = None, frames: int | None = None, lockstep: bool = False,
        on_ready: Callable[[dict], None] | None = None) -> Stats:
    """The foreground daemon (``vcam-sharpen run``): blocks until stopped.

    Args:
        overrides: settings typed on the command line (see :func:`vcam_sharpen.daemon.settings.effective`).
        frames: stop after publishing this many frames.
        lockstep: publish each processed frame exactly once (offline recording of a file).
        on_ready: called once with what runs (source, model, mode, outputs) before the first frame.
    """
    settings, _ = effective(overrides)
    p = paths()
    main = threading.current_thread() is threading.main_thread()
    # SIGTERM while still starting (loading the model, opening the camera): unwind and release
    old_term = signal.signal(signal.SIGTERM, _terminate) if main else None
    lock = PidLock(p["pid"])
    source = sinks = pipeline = panel = switch = auto = None
    stats = Stats()
    stopping = _StopClock()
    try:
        lock.acquire()
        spec = default_source() if settings.source == "auto" else settings.source
        check_not_overwriting(spec, settings.output)
        choice = resolve_settings(settings)
        sharpener, model_text = build_sharpener(settings, choice)
        panel = PanelHandle(settings) if settings.panel else None  # a busy port fails before any device opens

        def open_spec():
            return open_source(spec, settings.size, settings.fps, paced=not lockstep)

        source = open_spec()
        warm_up(sharpener, source.size)
        out_fps = source.fps if lockstep and not is_camera_spec(spec) else settings.fps
        pause = settings.pause_when_unused and not lockstep
        sinks = open_sinks(settings.output, SinkOptions(settings.size, out_fps, settings.vcam_device,
                                                         settings.backend, watch_usage=pause))
        info = {
            "source": spec, "source_setting": settings.source, "source_name": source.name,
            "weights": settings.weights, "targets": [sink_target(k) for k in sinks],
            **_describe(sharpener, settings, model_text),
            "device": next((k.device for k in sinks if k.device), None),
        }

        cpu = CpuMeter()

        def on_state(state: dict) -> None:
            try:
                write_state({**info, **state, "cpu_cores": cpu.sample(),
                             **(switch.progress() if switch is not None else {})})
            except OSError as e:
                log.warning("cannot write %s: %s", p["state"], e)

        # PAUSE_AFTER_S is read now, not bound at import: tests shorten it
        pipeline = Pipeline(source, sharpener, sinks, out_fps, lockstep=lockstep, reopen=open_spec,
                            pause_after_s=PAUSE_AFTER_S if pause else None, on_state=on_state)
        # model and mode changes (the panel's and vcam-sharpen set's) rebuild the sharpener in the background;
        # the autoscaler follows them (``auto`` is bound below, before any change can arrive)
        switch = PanelController(settings, pipeline, info, on_state, lambda new: _rebuilt(new, pipeline, auto), cpu)
        if not lockstep:  # auto keeps its budget while running (daemon.autoscale)
            auto = AutoscaleThread(pipeline, lambda s, tag: _rebuilt(replace(s, model=tag, weights=None), pipeline),
                                   info, busy=lambda: switch.rebuilding)
            auto.follow(settings, choice)
            auto.start()
        if panel is not None:
            panel.start(pipeline, info, on_state, None, cpu, controller=switch)
        log.info("running: %s -> %s -> %s", source.name, model_text, ", ".join(k.name for k in sinks))
        if on_ready is not None:
            on_ready(dict(info))
        old = _install_signals(pipeline, on_state, stopping, switch) if main else {}
        try:
            stats = pipeline.run(frames=frames)
        finally:
            for sig, fn in old.items():
                signal.signal(sig, fn)
    except Terminated:
        stopping.mark()
        log.info("SIGTERM while starting: stopped")
    finally:
        if main:
            signal.signal(signal.SIGTERM, signal.SIG_IGN)  # let the clean-up finish
        try:
            if pipeline is not None:  # the one open now: a pause closes the first and opens another
                source = pipeline.source
            if source is not None:
                source.close()
            if sinks:
                close_sinks(sinks)
            if panel is not None:
                panel.stop()
            if auto is not None:
                auto.stop()
            lock.release(p["state"])
        finally:
            if main:
                signal.signal(signal.SIGTERM, old_term)
            stopping.report()
    return stats


def _rebuilt(settings: Settings, pipeline: Pipeline, auto: AutoscaleThread | None = None) -> tuple[Sharpener, dict]:
    """A new sharpener for the panel's model or mode change (or the autoscaler's step), warmed up on the running
    source's frame size, and what the state file should say about it. With ``auto`` (the panel's change), the
    autoscaler follows the new choice: ``auto`` scales along the new mode's ladder, any other model stops it."""
    choice = resolve_settings(settings)
    sharpener, model_text = build_sharpener(settings, choice)
    warm_up(sharpener, pipeline.source.size)
    if auto is not None:
        auto.follow(settings, choice)
    return sharpener, _describe(sharpener, settings, model_text)


def _describe(sharpener: Sharpener, settings: Settings, model_text: str) -> dict:
    """What the state file says about the sharpener: model, engine and mode."""
    engine = sharpener.engine.describe() if sharpener.engine is not None else "none"
    return {"model": model_text, "engine": engine, "mode": mode_text(settings)}


class _StopClock:
    """Measures signal-to-released: the daemon reports its own shutdown time, so tests and
    users can check the 2 s promise without timing a loaded machine from outside."""

    def __init__(self) -> None:
        self.t: float | None = None

    def mark(self) -> None:
        if self.t is None:
            self.t = time.monotonic()

    def report(self) -> None:
        if self.t is not None:
            log.info("stopped: camera and outputs released %.2f s after the signal", time.monotonic() - self.t)


def _install_signals(pipeline: Pipeline, on_state, stopping: _StopClock, switch: PanelController) -> dict:
    def on_stop(signum, frame):
        stopping.mark()
        log.info("signal %d: stopping", signum)
        pipeline.stop()

    def on_toggle(signum, frame):
        pipeline.toggle()
        on_state(pipeline.state())

    def on_control(signum, frame):
        done = control.apply(switch)
        if done is not None:
            pipeline.control_seq, info_error = done
            switch.info["control_error"] = info_error
        on_state(pipeline.state())

    old = {}
    for sig, fn in ((signal.SIGTERM, on_stop), (signal.SIGINT, on_stop), (TOGGLE_SIGNAL, on_toggle),
                    (control.CONTROL_SIGNAL, on_control)):
        if sig is not None:
            old[sig] = signal.signal(sig, fn)
    return old


class Terminated(Exception):
    """SIGTERM arrived before the pipeline loop took over signal handling."""


def _terminate(signum, frame):
    raise Terminated()


def _last_error(log_path: Path) -> str:
    """The one-line reason a background daemon gave before exiting."""
    try:
        lines = [ln.strip() for ln in log_path.read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return "no log"
    for ln in reversed(lines):
        if ln.startswith("error: "):
            return ln[len("error: "):]
    return lines[-1] if lines else "it printed nothing"


def start(overrides: dict | None = None, timeout: float = START_TIMEOUT_S) -> dict:
    """Start the daemon in the background; return its first state once frames are published
    (or once it paused because no app reads the virtual camera).

    Raises:
        UserError: it is already running, or it failed to start (with the daemon's own reason).
    """
    settings, _ = effective(overrides)  # a bad config or option fails here, before forking
    pid = running_pid()
    if pid is not None:
        raise AlreadyRunning(already_running(pid))
    p = paths()
    cmd = [sys.executable, "-m", "vcam_sharpen", "-v", "run", *settings.to_args()]
    with open(p["log"], "wb") as logf:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT,
                                start_new_session=True, close_fds=True,
                                cwd=os.getcwd(), env={**os.environ, "PYTHONUNBUFFERED": "1"})
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rc = proc.poll()
        if rc is not None:
            raise UserError(f"the daemon did not start: {_last_error(p['log'])}")
        state = read_state()
        if state and state.get("pid") == proc.pid and (state.get("paused") or (
                state.get("frames_processed", 0) > 0 and state.get("status") == "running")):
            return state
        time.sleep(0.1)
    proc.terminate()
    try:
        proc.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        proc.kill()
    raise UserError(f"the daemon published no frame within {timeout:.0f} s and was stopped; see {p['log']}")


def stop(timeout: float = STOP_TIMEOUT_S) -> int | None:
    """SIGTERM the running daemon and wait for it to exit; returns its pid (None: was not running).
    Only a process proven to be the daemon is signalled (see :mod:`.identity`)."""
    recorded = daemon_identity()
    if recorded is None:
        return None
    pid = recorded["pid"]
    if not send(pid, recorded, signal.SIGTERM):
        return pid
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if running_pid() is None and not _alive(pid):
            return pid
        time.sleep(0.05)
    if not send(pid, recorded, getattr(signal, "SIGKILL", signal.SIGTERM)):
        return pid
    raise UserError(f"the daemon (pid {pid}) did not exit within {timeout:.0f} s of SIGTERM and was killed; "
                    f"see {paths()['log']}")


def toggle(timeout: float = 3.0) -> bool:
    """Switch sharpening of the running daemon off or on; returns the new state."""
    if TOGGLE_SIGNAL is None:
        raise UserError("toggle needs SIGUSR1, which this system lacks; restart with --model none instead")
    before = (read_state() or {}).get("sharpening", True)
    pid = signal_daemon(TOGGLE_SIGNAL)
    if pid is None:
        raise UserError("vcam-sharpen is not running; start it with: vcam-sharpen start")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = read_state() or {}
        if state.get("sharpening", before) != before:
            return bool(state["sharpening"])
        time.sleep(0.05)
    raise UserError(f"the daemon (pid {pid}) did not confirm the toggle; see {paths()['log']}")


def status() -> dict:
    """``{"running": bool, ...state}`` for ``vcam-sharpen status``."""
    pid = running_pid()
    if pid is None:
        return {"running": False}
    state = read_state() or {}
    out = {"running": True, **state, "pid": pid}
    if state:
        age = time.time() - float(state.get("updated", 0))
        out["uptime_s"] = round(time.time() - float(state.get("started", time.time())), 1)
        if age > 5 * STATE_EVERY_S and state.get("status") != "starting":
            out["status"] = f"not responding (state {age:.0f} s old)"
    else:
        out["status"] = "starting"
    return out


def _alive(pid: int) -> bool:
    """Whether process ``pid`` still exists (a zombie, exited but not yet reaped, counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except (OSError, IndexError):
        return True
