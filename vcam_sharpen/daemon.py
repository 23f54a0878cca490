"""The daemon: Source -> Sharpener -> Sinks, with a pid file, a state file and signals.

Two threads keep the virtual camera fed at a steady rate whatever happens upstream:

* the *worker* reads the newest source frame, sharpens it and hands the result over;
* the *publisher* (the main thread) sends the latest result to every sink once per
  ``1 / fps``, repeating it if the worker is slower, or a placeholder (the last
  picture dimmed, with a message) while the source is unavailable. Browsers only
  list an ``exclusive_caps`` loopback device while it is being written, so it is
  never left without frames.

While no application reads the virtual camera (v4l2loopback >= 0.13 tells, see
:mod:`vcam_sharpen.usage`) for :data:`PAUSE_AFTER_S`, the worker closes the source (the
webcam light goes off) and the model idles; the publisher keeps writing a placeholder.
When an app reads it again the source is reopened at once. Outputs that cannot tell
(a window, a file, other virtual camera backends) keep the pipeline running.

Files in :func:`vcam_sharpen.config.runtime_dir` (``$XDG_RUNTIME_DIR/vcam-sharpen``):
``daemon.pid`` (holds an exclusive ``flock`` while a daemon runs, so a stale file is
harmless), ``state.json`` (refreshed about once a second, read by ``status``) and
``daemon.log`` (what a background daemon started by ``start`` printed).

Signals: SIGTERM / SIGINT stop cleanly (camera and virtual camera released, well
under 2 s); SIGUSR1 toggles sharpening off and on.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .config import Settings, resolve, runtime_dir
from .errors import UserError
from .sources import BACKOFF_MAX_S, BACKOFF_MIN_S

log = logging.getLogger(__name__)

PID_FILE, STATE_FILE, LOG_FILE = "daemon.pid", "state.json", "daemon.log"
STATE_EVERY_S = 1.0
START_TIMEOUT_S = 90.0
STOP_TIMEOUT_S = 5.0
# Nobody may read the virtual camera this long before pausing: apps probe the device and
# reopen it (switching resolution, a page reload), which must not cycle the webcam.
PAUSE_AFTER_S = 2.0
PAUSED = "paused (no app reading the virtual camera)"
PAUSED_MESSAGE = "vcam-sharpen: waking up the camera..."  # seen by the app that ends a pause
TOGGLE_SIGNAL = getattr(signal, "SIGUSR1", None)


def paths() -> dict[str, Path]:
    d = runtime_dir()
    return {"pid": d / PID_FILE, "state": d / STATE_FILE, "log": d / LOG_FILE}


# --------------------------------------------------------------------------- pid file / lock


class PidLock:
    """An exclusive lock on the pid file, held for the daemon's lifetime.

    The kernel drops the lock when the process dies, so a pid file left behind by a
    crash is recognised as stale (nobody holds its lock) and simply taken over.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.fd: int | None = None

    def acquire(self) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        deadline = time.monotonic() + 0.5  # a concurrent `status` may hold a shared lock for a moment
        while not _try_lock(fd, exclusive=True):
            if time.monotonic() > deadline:
                os.close(fd)
                pid = read_pid(self.path)
                raise AlreadyRunning(already_running(pid))
            time.sleep(0.05)
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self.fd = fd

    def release(self, *also_remove: Path) -> None:
        if self.fd is None:
            return
        for p in (*also_remove, self.path):  # removed while still locked: nobody sees a half state
            try:
                p.unlink()
            except OSError:
                pass
        os.close(self.fd)
        self.fd = None


class AlreadyRunning(UserError):
    pass


def already_running(pid: int | None) -> str:
    return f"vcam-sharpen is already running (pid {pid}); stop it first with: vcam-sharpen stop"


def _try_lock(fd: int, exclusive: bool) -> bool:
    try:
        import fcntl
    except ImportError:  # Windows
        import msvcrt

        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
            if not exclusive:
                msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
            return True
        except OSError:
            return False
    try:
        fcntl.flock(fd, (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)
        if not exclusive:
            fcntl.flock(fd, fcntl.LOCK_UN)
        return True
    except OSError:
        return False


def read_pid(path: Path) -> int | None:
    try:
        return int(Path(path).read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def running_pid() -> int | None:
    """The pid of the running daemon, or None (a stale pid file is removed)."""
    p = paths()
    if not p["pid"].exists():
        return None
    try:
        fd = os.open(p["pid"], os.O_RDONLY)
    except OSError:
        return None
    try:
        free = _try_lock(fd, exclusive=False)
    finally:
        os.close(fd)
    if not free:
        return read_pid(p["pid"])
    for stale in (p["pid"], p["state"]):  # nobody holds the lock: left behind by a crash
        try:
            stale.unlink()
        except OSError:
            pass
    return None


def read_state() -> dict | None:
    try:
        return json.loads(paths()["state"].read_text())
    except (OSError, ValueError):
        return None


def _write_json(path: Path, data: dict) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_text(json.dumps(data, indent=1))
    os.replace(tmp, path)


# --------------------------------------------------------------------------- pipeline


@dataclass
class Stats:
    started: float = field(default_factory=time.time)
    frames_out: int = 0
    frames_processed: int = 0
    repeated: int = 0
    placeholders: int = 0
    ms: dict = field(default_factory=dict)  # running means per stage
    fps_out: float = 0.0
    fps_processed: float = 0.0
    pauses: int = 0  # times the pipeline paused because nobody read the virtual camera

    def add_ms(self, name: str, ms: float, alpha: float = 0.1) -> None:
        old = self.ms.get(name)
        self.ms[name] = ms if old is None else old + alpha * (ms - old)


class Pipeline:
    """Runs ``source -> sharpener -> sinks`` until stopped.

    Args:
        source: a :class:`vcam_sharpen.sources.Source`.
        sharpener: a :class:`vcam_sharpen.processing.Sharpener` (anything with ``process``
            and ``enabled``).
        sinks: :class:`vcam_sharpen.sinks.Sink` objects (anything with ``send(frame)``).
        size: output ``(width, height)``; every result is fitted to it.
        fps: publishing rate.
        lockstep: publish every processed frame exactly once, as fast as it is made
            (for recording a file offline and for tests), instead of at a steady rate.
        state_path: where to write the state JSON about once a second (None: nowhere).
        info: extra fields for the state file (source/model/mode descriptions).
        reopen: opens the source again after a pause (None: the source stays open, only unread).
        pause_when_unused: pause while every sink's ``usage`` monitor reports 0 readers for
            ``pause_after_s`` (never in lockstep, nor while any sink has no monitor or an unknown count).
    """

    def __init__(self, source, sharpener, sinks: list, size: tuple[int, int], fps: float = 30.0,
                 lockstep: bool = False, state_path: Path | None = None, info: dict | None = None,
                 reopen=None, pause_when_unused: bool = True, pause_after_s: float = PAUSE_AFTER_S) -> None:
        self.source, self.sharpener, self.sinks = source, sharpener, list(sinks)
        self.size, self.fps, self.lockstep = (int(size[0]), int(size[1])), float(fps), lockstep
        self.state_path, self.info = state_path, dict(info or {})
        self.reopen, self.pause_when_unused, self.pause_after_s = reopen, pause_when_unused, float(pause_after_s)
        self.readers: int | None = None  # apps reading the outputs, when every monitor knows
        self._unused_since: float | None = None
        self._paused = threading.Event()
        self._source_open = True
        self._reopen_wait = BACKOFF_MIN_S
        self.stats = Stats()
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._cond = threading.Condition()
        self._latest: np.ndarray | None = None
        self._seq = self._taken = 0
        self._lost_since: float | None = None
        self._placeholder: tuple[str, np.ndarray] | None = None
        self._last_good: np.ndarray | None = None
        self.status = "starting"

    # -- control (safe from signal handlers and other threads)

    def stop(self) -> None:
        self._stop.set()
        with self._cond:
            self._cond.notify_all()

    @property
    def paused(self) -> bool:
        """Whether the source and the model are paused because nobody reads the virtual camera."""
        return self._paused.is_set()

    def toggle(self) -> bool:
        """Flip sharpening; returns the new state."""
        self.sharpener.enabled = not self.sharpener.enabled
        log.warning("sharpening %s", "on" if self.sharpener.enabled else "off")
        return self.sharpener.enabled

    # -- worker

    def _work(self) -> None:
        from .sinks import fit

        try:
            while not self._stop.is_set():
                if self._paused.is_set():
                    self._release_source()
                    with self._cond:
                        self._cond.wait_for(lambda: not self._paused.is_set() or self._stop.is_set())
                    continue
                if not self._source_open and not self._reopen_source():
                    continue
                t0 = time.perf_counter()
                frame = self.source.read()
                t1 = time.perf_counter()
                if self._stop.is_set():
                    break
                if self._paused.is_set():  # paused while reading: drop it unsharpened
                    continue
                if frame is None:
                    if self._lost_since is None:
                        self._lost_since = time.monotonic()
                        log.warning("%s unavailable; showing a placeholder", getattr(self.source, "name", "source"))
                    if t1 - t0 < 0.01:  # a source that does not wait by itself: never spin
                        self._stop.wait(0.05)
                    continue
                out = self.sharpener.process(frame)
                t2 = time.perf_counter()
                fitted = fit(out, self.size)
                # The sharpener may hand back its own reusable buffer (or the input frame):
                # the publisher needs a frame nobody writes to any more. fit() returns its
                # input itself or a new array.
                out = fitted.copy() if fitted is out else fitted
                t3 = time.perf_counter()
                s = self.stats
                s.add_ms("read", (t1 - t0) * 1e3)
                for k, v in getattr(self.sharpener, "timings", {}).items():
                    s.add_ms(k, v)
                s.add_ms("process", (t2 - t1) * 1e3)
                s.add_ms("fit", (t3 - t2) * 1e3)
                with self._cond:
                    if self.lockstep:  # wait until the publisher took the previous one
                        self._cond.wait_for(lambda: self._seq == self._taken or self._stop.is_set())
                    if self._paused.is_set():  # paused meanwhile: this picture would be stale at resume
                        continue
                    self._latest, self._seq = out, self._seq + 1
                    s.frames_processed += 1
                    if self._lost_since is not None:
                        log.warning("%s is back", getattr(self.source, "name", "source"))
                    self._lost_since = None
                    self._cond.notify_all()
        except BaseException as e:  # noqa: BLE001 - reported by run()
            self.error = e
            self.stop()

    def _release_source(self) -> None:
        """Close the source for a pause (worker thread), if it can be reopened afterwards."""
        self._lost_since = None  # a loss before the pause is not news after it
        if self.reopen is None or not self._source_open:
            return
        self._source_open = False
        try:
            self.source.close()
        except Exception as e:  # noqa: BLE001 - a failed close must not end the pause
            log.warning("closing %s failed: %s", getattr(self.source, "name", "source"), e)

    def _reopen_source(self) -> bool:
        """Open the source again after a pause (worker thread); False while it cannot be
        (a webcam another app took meanwhile): placeholder shown, retried with backoff."""
        try:
            source = self.reopen()
        except Exception as e:  # noqa: BLE001 - UserError mostly; keep the daemon up and retry
            if self._lost_since is None:
                self._lost_since = time.monotonic()
                log.warning("cannot reopen %s after the pause (%s); retrying",
                            getattr(self.source, "name", "source"), " ".join(str(e).split()))
            self._stop.wait(self._reopen_wait)
            self._reopen_wait = min(self._reopen_wait * 2, BACKOFF_MAX_S)  # a lost camera's own backoff
            return False
        self.source, self._source_open, self._reopen_wait = source, True, BACKOFF_MIN_S
        if self._stop.is_set():  # stopped while opening: nobody else will close this one
            source.close()
            return False
        return True

    # -- pausing while nobody reads the virtual camera (publisher thread)

    def _check_usage(self, now: float) -> bool:
        """Pause or resume by the readers of the outputs; True when it switched."""
        counts = [k.usage.readers() for k in self.sinks if getattr(k, "usage", None) is not None]
        self.readers = sum(counts) if counts and None not in counts else None
        # A window, a file or a virtual camera that cannot tell always wants the real picture.
        unused = (self.pause_when_unused and not self.lockstep and self.readers == 0
                  and len(counts) == len(self.sinks))
        if not unused:
            self._unused_since = None
            if not self._paused.is_set():
                return False
            log.warning("an app reads the virtual camera: resuming")
            self._paused.clear()
            with self._cond:
                self._cond.notify_all()
            return True
        if self._unused_since is None:
            self._unused_since = now
        if self._paused.is_set() or now - self._unused_since < self.pause_after_s:
            return False
        log.warning("no app reads the virtual camera: pausing the camera and the model")
        self._paused.set()
        self.stats.pauses += 1
        with self._cond:  # never show a picture from before the pause once it ends
            self._latest, self._taken = None, self._seq
        self._last_good = None
        return True

    # -- publisher

    def _frame_to_send(self) -> tuple[np.ndarray, str]:
        """``(frame, kind)`` for this tick; kind is ``new``, ``repeat``, ``placeholder`` or ``paused``."""
        if self._paused.is_set():
            # a plain card, built once per pause: nobody watches, and it must cost next to nothing
            self.status = PAUSED
            return self._card(PAUSED_MESSAGE), "paused"
        lost = self._lost_since is not None or bool(getattr(self.source, "lost", False))
        with self._cond:
            latest, seq = self._latest, self._seq
        if latest is not None and not lost:
            self.status = "running"
            self._last_good, self._placeholder = latest, None
            kind = "new" if seq != self._taken else "repeat"
            self._taken = seq
            return latest, kind
        if lost:
            what = "camera" if "camera" in str(getattr(self.source, "name", "")) else "video source"
            msg, self.status = f"{what} unavailable - reconnecting...", "source lost"
        elif self.stats.pauses:  # resumed; the first picture is on its way
            msg, self.status = PAUSED_MESSAGE, "resuming"
        else:
            msg = "vcam-sharpen starting..."
        self.stats.placeholders += 1
        return self._card(msg), "placeholder"

    def _card(self, msg: str) -> np.ndarray:
        """The placeholder showing ``msg`` over the last good frame, built once per message."""
        from .sinks import placeholder

        if self._placeholder is None or self._placeholder[0] != msg:
            self._placeholder = (msg, placeholder(self._last_good, self.size, msg))
        return self._placeholder[1]

    def run(self, frames: int | None = None, handle_signals: bool = False) -> Stats:
        """Publish until :meth:`stop`, a signal, a preview's q, or ``frames`` frames are out.

        Raises the worker's exception, if it died of one.
        """
        old = self._install_signals() if handle_signals else {}
        worker = threading.Thread(target=self._work, name="pipeline-worker", daemon=True)
        worker.start()
        period = 1.0 / self.fps
        next_t = time.monotonic()
        last_state, announced = 0.0, False
        window_t, window_out, window_proc = time.monotonic(), 0, 0
        try:
            while not self._stop.is_set():
                if self.lockstep:
                    with self._cond:
                        self._cond.wait_for(lambda: self._seq != self._taken or self._stop.is_set(), 0.5)
                        if self._stop.is_set():
                            break
                        if self._seq == self._taken:
                            continue
                switched = self._check_usage(time.monotonic())
                frame, kind = self._frame_to_send()
                if self.lockstep:
                    with self._cond:
                        self._cond.notify_all()
                t0 = time.perf_counter()
                for sink in self.sinks:
                    sink.send(frame)
                self.stats.add_ms("send", (time.perf_counter() - t0) * 1e3)
                s = self.stats
                s.frames_out += 1
                s.repeated += kind == "repeat"
                if any(getattr(k, "quit_requested", False) for k in self.sinks):
                    log.warning("preview closed; stopping")
                    self.stop()
                if frames is not None and s.frames_out >= frames:
                    break
                now = time.monotonic()
                if now - window_t >= 1.0:
                    s.fps_out = (s.frames_out - window_out) / (now - window_t)
                    s.fps_processed = (s.frames_processed - window_proc) / (now - window_t)
                    window_t, window_out, window_proc = now, s.frames_out, s.frames_processed
                first_real = kind == "new" and not announced  # `start` waits for this one
                announced = announced or first_real
                if self.state_path is not None and (now - last_state >= STATE_EVERY_S or first_real or switched):
                    self.write_state()
                    last_state = now
                if self.lockstep:
                    continue
                next_t += period
                delay = next_t - time.monotonic()
                if delay > 0:
                    self._stop.wait(delay)
                elif delay < -period:  # fell behind (a slow sink): do not burst to catch up
                    next_t = time.monotonic()
        finally:
            self.status = "stopping"
            self.stop()
            worker.join(timeout=1.0)
            self._restore_signals(old)
        if self.error is not None:
            raise self.error
        return self.stats

    # -- signals and state

    def _install_signals(self) -> dict:
        old = {}

        def on_stop(signum, frame):
            log.warning("signal %d: stopping", signum)
            self.stop()

        def on_toggle(signum, frame):
            self.toggle()
            if self.state_path is not None:
                self.write_state()

        for sig, fn in ((signal.SIGTERM, on_stop), (signal.SIGINT, on_stop), (TOGGLE_SIGNAL, on_toggle)):
            if sig is not None:
                old[sig] = signal.signal(sig, fn)
        return old

    @staticmethod
    def _restore_signals(old: dict) -> None:
        for sig, fn in old.items():
            signal.signal(sig, fn)

    def state(self) -> dict:
        s, src = self.stats, self.source
        return {
            **self.info,
            "pid": os.getpid(),
            "status": self.status,
            "paused": self.paused,
            "readers": self.readers,
            "pauses": s.pauses,
            "sharpening": bool(getattr(self.sharpener, "enabled", True)),
            "started": s.started,
            "updated": time.time(),
            "uptime_s": round(time.time() - s.started, 1),
            "source_size": "{}x{}".format(*getattr(src, "size", (0, 0))),
            "source_fps": round(float(getattr(src, "fps", 0.0)), 2),
            "output_size": f"{self.size[0]}x{self.size[1]}",
            "fps_target": self.fps,
            "fps_out": round(s.fps_out, 2),
            "fps_processed": round(s.fps_processed, 2),
            "ms": {k: round(v, 2) for k, v in s.ms.items()},
            "frames_out": s.frames_out,
            "frames_processed": s.frames_processed,
            "dropped": int(getattr(src, "dropped", 0)),
            "repeated": s.repeated,
            "placeholders": s.placeholders,
            "outputs": [getattr(k, "name", type(k).__name__) for k in self.sinks],
        }

    def write_state(self) -> None:
        try:
            _write_json(self.state_path, self.state())
        except OSError as e:
            log.warning("cannot write %s: %s", self.state_path, e)


# --------------------------------------------------------------------------- run / start / stop


def mode_text(settings: Settings) -> str:
    if settings.upscale:
        mode = "upscale x2"
    elif settings.degrade == 2:
        mode = "degrade x2 + restore"
    else:
        mode = "sharpen"
    return mode + (" (split)" if settings.split else "")


def build_sharpener(settings: Settings):
    """The :class:`Sharpener` for the settings (engine created; bad weights are a UserError)."""
    from .engine import engine_for_rate
    from .processing import Sharpener

    engine = engine_for_rate(settings.model, settings.fps, settings.size, degrade=settings.degrade,
                             upscale=settings.upscale, weights=settings.weights, engine=settings.engine)
    return Sharpener(engine, degrade=settings.degrade, upscale=settings.upscale, split=settings.split)


def warm_up(sharpener, size: tuple[int, int]) -> None:
    """Run the model once at the source's frame size, so the first real frame is not slow
    (graph export, session creation and allocation happen here) and a broken model fails at start."""
    if sharpener.engine is None:
        return
    w, h = size
    sharpener.process(np.zeros((max(2, h), max(2, w), 3), np.uint8))


def run(overrides: dict | None = None, frames: int | None = None, lockstep: bool = False) -> Stats:
    """The foreground daemon (``vcam-sharpen run``): blocks until stopped.

    Args:
        overrides: settings typed on the command line (see :func:`vcam_sharpen.config.resolve`).
        frames: stop after publishing this many frames.
        lockstep: publish each processed frame exactly once (offline recording of a file).
    """
    from .sinks import close_sinks, open_sinks
    from .sources import default_source, is_camera_spec, open_source

    settings, _ = resolve(overrides)
    p = paths()
    main = threading.current_thread() is threading.main_thread()
    # SIGTERM while still starting (loading the model, opening the camera): unwind and release
    old_term = signal.signal(signal.SIGTERM, _terminate) if main else None
    lock = PidLock(p["pid"])
    source = sinks = pipeline = None
    stats = Stats()
    try:
        lock.acquire()
        spec = default_source() if settings.source == "auto" else settings.source
        sharpener = build_sharpener(settings)
        def open_spec():
            return open_source(spec, settings.size, settings.fps, paced=not lockstep)

        source = open_spec()
        warm_up(sharpener, source.size)
        out_fps = source.fps if lockstep and not is_camera_spec(spec) else settings.fps
        pause = settings.pause_when_unused and not lockstep
        sinks = open_sinks(settings.output, settings.size, out_fps, settings.device, settings.backend,
                           watch_usage=pause)
        info = {
            "source": spec, "source_name": source.name, "model": settings.model,
            "weights": settings.weights,
            "engine": sharpener.engine.describe() if sharpener.engine is not None else "none",
            "mode": mode_text(settings),
            "device": next((getattr(k, "device", None) for k in sinks if getattr(k, "device", None)), None),
        }
        pipeline = Pipeline(source, sharpener, sinks, settings.size, out_fps, lockstep=lockstep,
                            state_path=p["state"], info=info, pause_when_unused=pause,
                            pause_after_s=PAUSE_AFTER_S, reopen=open_spec)  # read now: tests shorten it
        log.info("running: %s -> %s -> %s", source.name, settings.model, ", ".join(k.name for k in sinks))
        stats = pipeline.run(frames=frames, handle_signals=main)
    except Terminated:
        log.warning("SIGTERM while starting: stopped")
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
            lock.release(p["state"])
        finally:
            if main:
                signal.signal(signal.SIGTERM, old_term)
    return stats


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
    settings, _ = resolve(overrides)  # a bad config or option fails here, before forking
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
    """SIGTERM the running daemon and wait for it to exit; returns its pid (None: was not running)."""
    pid = running_pid()
    if pid is None:
        return None
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return pid
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if running_pid() is None:
            return pid
        time.sleep(0.05)
    try:
        os.kill(pid, signal.SIGKILL)
    except (ProcessLookupError, AttributeError):
        return pid
    raise UserError(f"the daemon (pid {pid}) did not exit within {timeout:.0f} s of SIGTERM and was killed; "
                    f"see {paths()['log']}")


def toggle(timeout: float = 3.0) -> bool:
    """Switch sharpening of the running daemon off or on; returns the new state."""
    if TOGGLE_SIGNAL is None:
        raise UserError("toggle needs SIGUSR1, which this system lacks; restart with --model none instead")
    pid = running_pid()
    if pid is None:
        raise UserError("vcam-sharpen is not running; start it with: vcam-sharpen start")
    before = (read_state() or {}).get("sharpening", True)
    os.kill(pid, TOGGLE_SIGNAL)
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
        if age > 5 * STATE_EVERY_S:
            out["status"] = f"not responding (state {age:.0f} s old)"
    else:
        out["status"] = "starting"
    return out


def format_status(st: dict) -> str:
    """Human-readable ``status``."""
    if not st.get("running"):
        return "vcam-sharpen is not running"

    def dur(s: float) -> str:
        s = int(s)
        return f"{s // 3600}h{s % 3600 // 60:02d}m{s % 60:02d}s" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"

    ms = st.get("ms", {})
    stages = ", ".join(f"{k} {ms[k]:.1f}" for k in ("read", "degrade", "inference", "send") if k in ms)
    lines = [
        f"vcam-sharpen is running (pid {st['pid']}): {st.get('status', '?')}, uptime {dur(st.get('uptime_s', 0))}",
        f"  source:     {st.get('source_name', st.get('source', '?'))} {st.get('source_size', '')}"
        f" @ {st.get('source_fps', 0):g} fps",
        f"  model:      {st.get('model', '?')} ({st.get('engine', '?')}), {st.get('mode', '?')}, "
        f"sharpening {'on' if st.get('sharpening', True) else 'off'}",
        f"  output:     {', '.join(st.get('outputs', []))} {st.get('output_size', '')}"
        + (f" on {st['device']}" if st.get("device") else "")
        + (f", {st['readers']} app(s) reading" if st.get("readers") is not None else ""),
        f"  fps:        {st.get('fps_out', 0):.1f} out (target {st.get('fps_target', 0):g}), "
        f"{st.get('fps_processed', 0):.1f} processed",
        f"  ms/frame:   {stages or 'n/a'}",
        f"  frames:     {st.get('frames_out', 0)} out, {st.get('frames_processed', 0)} processed, "
        f"{st.get('dropped', 0)} dropped, {st.get('repeated', 0)} repeated, {st.get('placeholders', 0)} placeholder",
    ]
    return "\n".join(lines)
