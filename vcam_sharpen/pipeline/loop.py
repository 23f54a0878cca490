"""The frame loop: source -> sharpener -> sinks, at a steady rate whatever happens upstream.

Two threads meet at a one-slot mailbox (the newest processed frame):

* the *worker* reads the newest source frame, sharpens it and puts the result in the mailbox;
* the *publisher* (the caller's thread) sends the mailbox's frame to every sink once per
  ``1 / fps``, repeating it if the worker is slower, or a placeholder card (the last
  picture dimmed, with a message) while the source is unavailable. Browsers only list an
  ``exclusive_caps`` loopback device while it is being written, so it is never left
  without frames.

The worker is rate-aware and just in time: it never posts a frame over one the publisher has
not taken yet, so it never processes a frame that would not be published (a 60 fps camera
costs what a 30 fps one does), and it starts each frame a *lead* before the publishing tick
that will send it: its smoothed read-and-process time plus four times its smoothed deviation
and 2 ms, so a frame that takes a little longer than usual still makes its tick (starting
right after the previous tick, as a first version did, left a 23 ms frame 10 ms of slack: 12
of 300 ticks repeated a frame on a quiet 2-core machine). The lead may exceed the period (one
frame in flight while the previous one waits for its tick): a worker slower than the period
keeps the rate it can, and every frame it makes is still published, a period apart.
Processed frames are published as they are, without a copy: the worker writes into the
sharpener's buffers, each of which stays valid for two
:meth:`~vcam_sharpen.frames.sharpen.Sharpener.process` calls, and it never starts a frame before
the publisher is done with the one two frames back.

While nobody reads the outputs (:class:`~vcam_sharpen.pipeline.pause.PauseGate`), the
worker closes the source (the webcam light goes off) and the model idles; the publisher
keeps writing a plain card. When an app reads again the source is reopened at once.
The loop knows sources and sinks only through their small interfaces
(:class:`~vcam_sharpen.io.sources.Source`, :class:`~vcam_sharpen.io.sinks.Sink`).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import Callable

import numpy as np

from ..core.backoff import Backoff
from ..frames.cards import placeholder
from .pause import PauseGate
from .stats import RateMeter, Stats

log = logging.getLogger(__name__)

PAUSED = "paused (no app reading the virtual camera)"
PAUSED_MESSAGE = "vcam-sharpen: waking up the camera..."  # seen by the app that ends a pause
STATE_EVERY_S = 1.0


class Pipeline:
    """Runs ``source -> sharpener -> sinks`` until stopped.

    Args:
        source: a :class:`~vcam_sharpen.io.sources.Source`.
        sharpener: a :class:`~vcam_sharpen.frames.sharpen.Sharpener` built with the output
            ``size`` (every result has that size).
        sinks: :class:`~vcam_sharpen.io.sinks.Sink` objects.
        fps: publishing rate.
        lockstep: publish every processed frame exactly once, as fast as it is made
            (recording a file offline, tests), instead of at a steady rate; never pauses.
        reopen: opens the source again after a pause (None: the source stays open, only unread).
        pause_after_s: pause once no output has been read this long (None: never).
        on_state: called with :meth:`state` about once a second, on the first real frame
            and when pausing or resuming (the daemon writes it to its state file).
    """

    def __init__(self, source, sharpener, sinks: list, fps: float = 30.0, lockstep: bool = False,
                 reopen: Callable | None = None, pause_after_s: float | None = None,
                 on_state: Callable[[dict], None] | None = None) -> None:
        if sharpener.size is None:
            raise ValueError("the pipeline needs a Sharpener built with the output size")
        self.source, self.sharpener, self.sinks = source, sharpener, list(sinks)
        self.size, self.fps, self.lockstep = sharpener.size, float(fps), lockstep
        self.reopen, self.on_state = reopen, on_state
        self.gate = PauseGate(None if lockstep else pause_after_s)
        self.stats = Stats()
        self.status = "starting"
        self.control_seq = 0  # the last change applied through daemon.control
        self.error: BaseException | None = None
        self.preview: tuple[np.ndarray, np.ndarray] | None = None  # last (input, output): the panel's preview
        self._paused = threading.Event()
        self._stop = threading.Event()
        self._source_open = True
        self._reopen_backoff = Backoff()
        # the mailbox: the newest processed frame and its sequence number
        self._cond = threading.Condition()
        self._latest: np.ndarray | None = None
        self._seq = self._taken = 0  # frames posted / taken by the publisher
        self._sent = 0  # the last posted frame the publisher is done with (sent, or dropped)
        self._next_tick = time.monotonic()  # when the publisher sends next (the worker's deadline)
        self._tiles_last = (0, 0)  # the sharpener's tile counts at the last state()
        self._lost_since: float | None = None
        self._card: tuple[str, np.ndarray] | None = None
        self._last_good: np.ndarray | None = None

    # -- control (safe from signal handlers and other threads)

    def stop(self) -> None:
        self._stop.set()
        with self._cond:
            self._cond.notify_all()

    @property
    def paused(self) -> bool:
        """Whether the source and the model are paused because nobody reads the outputs."""
        return self._paused.is_set()

    def toggle(self) -> bool:
        """Flip sharpening; returns the new state."""
        self.sharpener.enabled = not self.sharpener.enabled
        log.info("sharpening %s", "on" if self.sharpener.enabled else "off")
        return self.sharpener.enabled

    # -- worker thread

    def _start_when_due(self, frame_s: float, dev_s: float) -> None:
        """Wait (outside lockstep) until the worker may start its next frame: the one two back is sent (its
        buffer is the next one written) and the tick that will publish the new frame is one lead away."""
        period = 1.0 / self.fps
        lead = min(frame_s + 4.0 * dev_s + 0.002, 1.9 * period)
        with self._cond:
            self._cond.wait_for(lambda: self._seq - self._sent <= 1 or self._stop.is_set() or self._paused.is_set())
            # a posted frame the publisher has not taken goes out at the next tick: this one at the tick after
            tick = self._next_tick + (period if self._seq != self._taken else 0.0)
            delay = tick - lead - time.monotonic()
            if delay > 0:
                self._cond.wait_for(lambda: self._stop.is_set() or self._paused.is_set(), delay)

    def _work(self) -> None:
        frame_s = dev_s = 0.0  # seconds a frame takes the worker (read and process), smoothed; its deviation
        try:
            while not self._stop.is_set():
                if self._paused.is_set():
                    self._release_source()
                    with self._cond:
                        self._cond.wait_for(lambda: not self._paused.is_set() or self._stop.is_set())
                    self.sharpener.reset()  # a resume: the picture before the pause is stale
                    continue
                if not self._source_open and not self._reopen_source():
                    continue
                if not self.lockstep:  # rate-aware, just in time: see the module docstring
                    self._start_when_due(frame_s, dev_s)
                    if self._stop.is_set() or self._paused.is_set():
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
                        log.warning("%s unavailable; showing a placeholder", self.source.name)
                    if t1 - t0 < 0.01:  # a source that does not wait by itself: never spin
                        self._stop.wait(0.05)
                    continue
                if self._lost_since is not None:  # back after a loss: maybe another camera or clip
                    self.sharpener.reset()
                # The sharpener's own buffer, valid for two process() calls: the publisher sends
                # it before the worker processes again (see the module docstring), so no copy.
                out = self.sharpener.process(frame)
                self.preview = (frame, out)  # two references, no copy: the panel encodes in its own thread
                s = self.stats
                s.add_ms("capture", (t1 - t0) * 1e3)
                for k, v in self.sharpener.timings.items():
                    s.add_ms(k, v)
                took = time.perf_counter() - t0
                dev_s += 0.1 * (abs(took - frame_s) - dev_s)
                frame_s += 0.2 * (took - frame_s)  # read + process, smoothed
                self._post(out)
        except BaseException as e:  # noqa: BLE001 - re-raised by run()
            self.error = e
            self.stop()

    def _post(self, out: np.ndarray) -> None:
        """Put a processed frame in the mailbox (in lockstep, once the previous one was taken)."""
        with self._cond:
            if self.lockstep:  # the previous frame fully sent: its buffer is the next one written
                self._cond.wait_for(lambda: self._seq == self._sent or self._stop.is_set())
            else:  # never over a frame the publisher has not taken: every processed frame is published
                self._cond.wait_for(lambda: self._seq == self._taken or self._stop.is_set() or self._paused.is_set())
            if self._paused.is_set():  # paused meanwhile: this picture would be stale at resume
                return
            self._latest, self._seq = out, self._seq + 1
            self.stats.frames_processed += 1
            if self._lost_since is not None:
                log.info("%s is back", self.source.name)
            self._lost_since = None
            self._cond.notify_all()

    def _release_source(self) -> None:
        """Close the source for a pause (worker thread), if it can be reopened afterwards."""
        self._lost_since = None  # a loss before the pause is not news after it
        if self.reopen is None or not self._source_open:
            return
        self._source_open = False
        try:
            self.source.close()
        except Exception as e:  # noqa: BLE001 - a failed close must not end the pause
            log.warning("closing %s failed: %s", self.source.name, e)

    def _reopen_source(self) -> bool:
        """Open the source again after a pause (worker thread); False while it cannot be
        (a webcam another app took meanwhile): placeholder shown, retried with backoff."""
        try:
            source = self.reopen()
        except Exception as e:  # noqa: BLE001 - UserError mostly; keep the daemon up and retry
            if self._lost_since is None:
                self._lost_since = time.monotonic()
                log.warning("cannot reopen %s after the pause (%s); retrying", self.source.name,
                            " ".join(str(e).split()))
            self._stop.wait(self._reopen_backoff.failed())
            return False
        self.source, self._source_open = source, True
        self._reopen_backoff.reset()
        if self._stop.is_set():  # stopped while opening: nobody else will close this one
            source.close()
            return False
        return True

    # -- publisher (the caller's thread)

    def _check_usage(self, now: float) -> bool:
        """Pause or resume by the readers of the outputs; True when it switched."""
        action = self.gate.update([k.readers() for k in self.sinks], now)
        if action == "resume":
            log.info("an app reads the virtual camera: resuming")
            self._paused.clear()
            with self._cond:
                self._cond.notify_all()
        elif action == "pause":
            log.info("no app reads the virtual camera: pausing the camera and the model")
            self._paused.set()
            self.stats.pauses += 1
            with self._cond:  # never show a picture from before the pause once it ends
                self._latest, self._taken = None, self._seq
                self._sent = self._seq
                self._cond.notify_all()
            self._last_good = None
        return action is not None

    def _frame_to_send(self) -> tuple[np.ndarray, str]:
        """``(frame, kind)`` for this tick; kind is ``new``, ``repeat``, ``placeholder`` or ``paused``."""
        if self._paused.is_set():
            # a plain card, built once per pause: nobody watches, and it must cost next to nothing
            self.status = PAUSED
            return self._placeholder(PAUSED_MESSAGE), "paused"
        lost = self._lost_since is not None or self.source.lost
        with self._cond:
            latest, seq = self._latest, self._seq
        if latest is not None and not lost:
            self.status = "running"
            self._last_good, self._card = latest, None
            kind = "new" if seq != self._taken else "repeat"
            self._taken = seq
            return latest, kind
        if lost:
            with self._cond:  # a frame made before the loss is not shown: the worker need not wait for it
                self._taken = self._seq
            what = "camera" if "camera" in self.source.name else "video source"
            msg, self.status = f"{what} unavailable - reconnecting...", "source lost"
        elif self.stats.pauses:  # resumed; the first picture is on its way
            msg, self.status = PAUSED_MESSAGE, "resuming"
        else:
            msg = "vcam-sharpen starting..."
        self.stats.placeholders += 1
        return self._placeholder(msg), "placeholder"

    def _placeholder(self, msg: str) -> np.ndarray:
        """The card showing ``msg`` over the last good frame, built once per message."""
        if self._card is None or self._card[0] != msg:
            self._card = (msg, placeholder(self._last_good, self.size, msg))
        return self._card[1]

    def _publish(self, frame: np.ndarray, kind: str) -> None:
        t0 = time.perf_counter()
        for sink in self.sinks:
            sink.send(frame)
        s = self.stats
        s.add_ms("publish", (time.perf_counter() - t0) * 1e3)
        s.frames_out += 1
        s.repeated += kind == "repeat"
        if any(k.quit_requested for k in self.sinks):
            log.info("preview closed; stopping")
            self.stop()

    def run(self, frames: int | None = None) -> Stats:
        """Publish until :meth:`stop`, a preview's q, or ``frames`` frames are out.

        Raises the worker's exception, if it died of one.
        """
        worker = threading.Thread(target=self._work, name="pipeline-worker", daemon=True)
        worker.start()
        period = 1.0 / self.fps
        next_t = time.monotonic()
        last_state, announced = 0.0, False
        rate = RateMeter(self.stats)
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
                self._publish(frame, kind)
                with self._cond:  # done with the taken frame: the worker may write its buffer again
                    self._sent = self._taken
                    self._cond.notify_all()
                if frames is not None and self.stats.frames_out >= frames:
                    break
                now = time.monotonic()
                rate.tick(now)
                first_real = kind == "new" and not announced  # `start` waits for this one
                announced = announced or first_real
                if self.on_state is not None and (now - last_state >= STATE_EVERY_S or first_real or switched):
                    self.on_state(self.state())
                    last_state = now
                if self.lockstep:
                    continue
                next_t += period
                delay = next_t - time.monotonic()
                if delay < -period:  # fell behind (a slow sink): do not burst to catch up
                    next_t = time.monotonic()
                self._next_tick = next_t
                if delay > 0:
                    self._stop.wait(delay)
        finally:
            self.status = "stopping"
            self.stop()
            # Short: a worker waiting in source.read() is woken when the caller closes the
            # source next; the whole stop must fit in 2 s even with a camera stuck in its driver.
            worker.join(timeout=0.3)
        if self.error is not None:
            raise self.error
        return self.stats

    def _tile_share(self) -> float | None:
        """The share of tiles static-region reuse restored since the last state (None: it did not run)."""
        counts = getattr(self.sharpener, "tile_counts", (0, 0))
        last, self._tiles_last = self._tiles_last, counts
        seen = counts[1] - last[1]
        return round((counts[0] - last[0]) / seen, 3) if seen > 0 else None

    def state(self) -> dict:
        """The loop's figures for ``status`` (the daemon adds what it knows: source, model, mode)."""
        s, src = self.stats, self.source
        return {
            "pid": os.getpid(),
            "status": self.status,
            "paused": self.paused,
            "readers": self.gate.readers,
            "pauses": s.pauses,
            "sharpening": bool(self.sharpener.enabled),
            "strength": self.sharpener.strength,
            "split": bool(self.sharpener.split),
            **self.sharpener.temporal.state(),
            **_engine_state(self.sharpener.engine),
            "skip_static": bool(getattr(self.sharpener, "skip_static", False)),
            "tiles_processed": self._tile_share(),
            "control_seq": self.control_seq,
            "started": s.started,
            "updated": time.time(),
            "uptime_s": round(time.time() - s.started, 1),
            "source_size": "{}x{}".format(*src.size),
            "source_fps": round(float(src.fps), 2),
            "output_size": f"{self.size[0]}x{self.size[1]}",
            "fps_target": self.fps,
            "fps_out": round(s.fps_out, 2),
            "fps_processed": round(s.fps_processed, 2),
            "ms": {k: round(v, 2) for k, v in s.ms.items()},
            "frames_out": s.frames_out,
            "frames_processed": s.frames_processed,
            "dropped": int(src.dropped),
            "repeated": s.repeated,
            "placeholders": s.placeholders,
            "outputs": [k.name for k in self.sinks],
        }


def _engine_state(engine) -> dict:
    """``{"noise_aware": ...}`` for an engine that chooses its model from the noise (apart from the temporal
    stage's top-level ``noise``), else nothing."""
    state = getattr(engine, "state", None)
    return {"noise_aware": state()} if callable(state) else {}
