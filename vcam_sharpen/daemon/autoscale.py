"""``--model auto`` keeps its budget while running: step down the model ladder when the daemon misses its CPU
budget or its frame rate, step back up when there is room again.

:class:`Autoscaler` is the decision, driven by measurements only (so the tests feed it fake clocks):
the daemon's own CPU time (all threads, ``time.process_time``) and the count of fresh frames it published
(repeats and placeholders aside), sampled about twice a second and compared over a sliding window of
:attr:`Policy.window_s`. The ladder is the tag table's (:func:`vcam_sharpen.core.tags.ladder` among the
shipped files), best and dearest first.

* **Down**: when the window's CPU is over the budget, or its kept rate under :attr:`Policy.rate_share` of
  the set rate, or the machine is full (under :attr:`Policy.min_free` core idle while other programs use at
  least :attr:`Policy.min_others`: another program wants the cores the daemon uses, and its frames are late
  next), for :attr:`Policy.down_after_s` in a row, the next cheaper rung.
* **Up**: when the bigger rung's estimated CPU (this rung's measured CPU times the ratio of the two rungs'
  costs: as measured in this daemon when both have run, else measured at start, else of their GMACs) is
  within :attr:`Policy.up_share` of the budget, the rate is kept and the machine would keep
  :attr:`Policy.up_free` core idle with it, for :attr:`Policy.up_after_s` in a row.
* **Last resort**: below the cheapest model, the plain picture (``bilinear`` for a 2x mode, ``none`` at the
  frame's own size), taken only when the cheapest model misses the *rate*, for
  :attr:`Policy.last_resort_after_s` in a row (longer than a window: one burst of lost frames is not a busy
  machine): a call that stutters is worse than a softer picture, while a budget missed at the bottom is only
  reported (the budget is the user's wish, the rate what the other side sees). From there it tries the model
  again like any step up.
* **Rate** in whole frames: a window misses it when it kept more than ``1 - rate_share`` of the frames due in
  it fewer (2 in 2 s at 30 fps), so a window's span a few hundred microseconds over 2 s reads no miss.
* **No flapping**: the up band sits 15 % under the down threshold; after a switch the window restarts, so
  no decision reads the old model's figures; a rung that is missed again within :attr:`Policy.retry_s` of
  stepping up to it waits twice as long before the next try (up to :attr:`Policy.max_up_after_s`).

:class:`AutoscaleThread` runs it in the daemon: it samples, and on a decision builds the new sharpener in
its own thread (model loaded, engine picked, warmed up on the source's frame size) and swaps it in between
two frames, as the panel's model change does; ``status`` and the panel show the reason
("stepped down from student-wide: 0.93 core > 0.75").
"""

from __future__ import annotations

import logging
import math
import os
import statistics
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Callable

from ..core import loader
from ..core.models import count_macs
from ..core.tags import TAGS, TASK_SAME

log = logging.getLogger(__name__)


@dataclass
class Policy:
    """The autoscaler's thresholds (seconds, cores, shares)."""

    budget: float = 0.75          # cores: --cpu-budget
    fps: float = 30.0             # the set rate
    rate_share: float = 29 / 30   # a window keeping fewer than fps * rate_share fresh frames misses the rate
    #                               (29 at 30 fps): publish jitter alone costs a fresh frame now and then, two in
    #                               a 2 s window still read 29.0; at 0.9 a hogged machine sat at 27-28.7 fps
    window_s: float = 2.0         # the sliding window of the measurements
    down_after_s: float = 1.0     # missed this long in a row: step down (1.5 took 6 s under a one-core hog)
    last_resort_after_s: float = 2.5  # the rate missed this long in a row: the plain picture. Longer than a window
    #                               (plus a sample), so one burst of lost frames never turns the network off: on
    #                               the quiet 2-core machine two or three frames lost together in a 2 s window
    #                               (28.9-29.0 kept) sent the default to the plain picture in 2 of 3 starts
    up_after_s: float = 8.0       # room this long in a row: step up
    up_share: float = 0.85        # room: the bigger rung's estimate within budget * up_share
    min_free: float = 0.15        # cores the machine leaves idle (all programs): fewer is a full machine. Beside a
    #                               one-core busy loop on 2 cores, student-wide (0.93 core) left 0.02-0.12 free and
    #                               kept 30 fps for 30 s before its frames came late; without it, ~1.0 free
    up_free: float = 0.3          # a step up must leave this much idle by its estimate (the hysteresis of min_free)
    min_others: float = 0.25      # ... and only when other programs use this much: a daemon given nearly every core
    #                               fills the machine itself, which is its budget's business
    retry_s: float = 30.0         # missed within this long of stepping up: that rung waits longer
    max_up_after_s: float = 120.0


@dataclass
class Window:
    """One window's figures: the daemon's cores and kept rate, the machine's idle cores (None: unknown)."""

    cores: float
    fps: float
    span: float
    free: float | None = None


def machine_idle_s() -> float | None:
    """Idle CPU seconds of the whole machine so far, all cores together (Linux's ``/proc/stat``: idle and
    iowait); None where it cannot be read (then no decision reads it)."""
    try:
        with open("/proc/stat", encoding="ascii") as f:
            fields = f.readline().split()
        return (int(fields[4]) + int(fields[5])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, AttributeError):
        return None


class Autoscaler:
    """Decides the rung; see the module docstring.

    Args:
        ladder: the tags, best (dearest) first.
        current: the tag running now (on the ladder).
        costs: ``{tag: cores}`` estimated at start (``auto``'s measurement); ``gmacs``: ``{tag: GMAC}`` for
            the tags without one.
        fallback: the last resort below the ladder (see the module docstring), or None.
        cpus: the machine's CPU count, to tell the other programs' share from the daemon's own (None: unknown, a
            machine without idle cores is taken as full).
    """

    def __init__(self, ladder: list[str], current: str, policy: Policy, costs: dict | None = None,
                 gmacs: dict | None = None, fallback: str | None = None, cpus: int | None = None) -> None:
        if current not in ladder:
            raise ValueError(f"{current} is not on the ladder {ladder}")
        self.fallback = fallback
        ladder = [*ladder, fallback] if fallback is not None else list(ladder)
        self.ladder, self.i, self.policy = ladder, ladder.index(current), policy
        self.costs, self.gmacs = dict(costs or {}), dict(gmacs or {})
        self.cpus = cpus
        self.samples: deque = deque()
        self.miss_since: float | None = None
        self.room_since: float | None = None
        self.up_after = {tag: policy.up_after_s for tag in ladder}
        self.seen: dict[str, deque] = {}  # tag -> its last four windows' cores in this daemon (see ratio)
        self.stepped_up_at: float | None = None
        self.reason = f"started on {current}"  # the last decision (see the property)
        self.last: Window | None = None
        self.switches = 0

    @property
    def current(self) -> str:
        return self.ladder[self.i]

    @property
    def reason(self) -> str:
        """What status says: a miss that cannot be stepped away from while it lasts ("on the cheapest model:
        0.93 core > 0.75"), else the last decision ("stepped down from student-wide: ...")."""
        return self.note or self.decision

    @reason.setter
    def reason(self, text: str) -> None:
        self.decision, self.note = text, None

    def restart(self) -> None:
        """Forget the window (after a switch, a pause, or sharpening off): no decision reads old figures."""
        self.samples.clear()
        self.miss_since = self.room_since = None

    def window(self, now: float, cpu_s: float, kept: int, idle_s: float | None = None) -> Window | None:
        """Add a sample; the window's figures once it spans :attr:`Policy.window_s` (None before)."""
        self.samples.append((now, cpu_s, kept, idle_s))
        while len(self.samples) > 2 and self.samples[1][0] <= now - self.policy.window_s:
            self.samples.popleft()
        t0, c0, k0, i0 = self.samples[0]
        span = now - t0
        if span < self.policy.window_s * 0.9:
            return None
        free = None if idle_s is None or i0 is None else max(idle_s - i0, 0.0) / span
        return Window((cpu_s - c0) / span, (kept - k0) / span, span, free)

    def ratio(self, up: str, cur: str) -> float:
        """How much dearer ``up`` is than ``cur``: by the medians of their last windows in this daemon when both
        have run (the start's figures were taken before the source and the stage ran: student-wide over the
        noise-aware pair measured 1.45 at start, 1.3-1.4 in the daemon on the face clip), else by the costs
        measured at start, else by GMACs, else 2."""
        seen = {t: self.measured(t) for t in (up, cur)}
        for table in (seen, self.costs, self.gmacs):
            if table.get(up) and table.get(cur):
                return table[up] / table[cur]
        return 2.0

    def measured(self, tag: str) -> float | None:
        """What ``tag`` cost in this daemon: the median of its last windows' cores (None: it has not run here)."""
        c = self.seen.get(tag)
        return statistics.median(c) if c else None

    def observe(self, now: float, cpu_s: float, kept: int, idle_s: float | None = None) -> str | None:
        """Feed the process CPU seconds, the fresh frames published and the machine's idle CPU seconds so far
        (all cumulative; ``idle_s`` None where unknown); returns the tag to switch to, or None. The caller calls
        :meth:`switched` once the new rung runs."""
        p = self.policy
        w = self.window(now, cpu_s, kept, idle_s)
        if w is None:
            return None
        self.last = w
        # a rung's cost is what it last cost (its last 2 s of windows): a rung left for its own cost is not
        # taken back by what it cost on quieter content before
        self.seen.setdefault(self.current, deque(maxlen=4)).append(w.cores)
        # Whole frames missed, not a rate: a window of 2.0004 s that kept 58 of 60 frames is 28.99 fps, yet as
        # good as one of 2.0000 s (29.0); more than the share allows (2 in 2 s at 30 fps) is a miss.
        expected = round(p.fps * w.span)
        over, slow = w.cores > p.budget, expected - round(w.fps * w.span) > round(expected * (1 - p.rate_share))
        full = w.free is not None and w.free < p.min_free and (
            self.cpus is None or self.cpus - w.free - w.cores >= p.min_others)
        cur = self.current
        if over or slow or full:
            self.room_since = None
            self.miss_since = now if self.miss_since is None else self.miss_since
            rate = f"{math.floor(w.fps * 10) / 10:.1f} fps < {p.fps * p.rate_share:.3g}"
            why = (f"{w.cores:.2f} core > {p.budget:g}" if over else rate if slow
                   else f"the machine is full: {w.free:.2f} core free < {p.min_free:g}")
            if now - self.miss_since < p.down_after_s:
                return None
            last_model = self.i == len(self.ladder) - 1 - (self.fallback is not None)
            if self.i == len(self.ladder) - 1 or (last_model and not slow):
                self.note = f"on the cheapest {'setting' if self.current == self.fallback else 'model'}: {why}"
                return None
            if last_model:  # to the plain picture: only for the rate, and only when it stays missed
                why = rate
                if now - self.miss_since < p.last_resort_after_s:
                    self.note = f"on the cheapest model: {why}"
                    return None
            if self.stepped_up_at is not None and now - self.stepped_up_at < p.retry_s:  # it came back up too soon
                self.up_after[cur] = min(self.up_after[cur] * 2, p.max_up_after_s)
            self.i += 1
            self.stepped_up_at = None
            self.reason = f"stepped down from {cur}: {why}"
            if self.current == self.fallback:
                self.reason += f" (no network: {cur} needs more CPU than is free)"
            return self.current
        self.miss_since, self.note = None, None  # the miss is over: status says the last decision again
        if self.i == 0:
            self.room_since = None
            return None
        up = self.ladder[self.i - 1]
        # From the last resort the plain picture's CPU says nothing of the model's: the rate kept for the wait
        # is the only sign that the other load has gone, so it tries (a retry that fails waits twice as long).
        if cur != self.fallback:
            estimate = w.cores * self.ratio(up, cur)
        else:
            seen = self.measured(up)
            estimate = seen if seen is not None else self.costs.get(up, 0.0)
        # the other programs' share stays: the bigger rung must leave the machine up_free idle
        crowded = w.free is not None and w.free - max(estimate - w.cores, 0.0) < p.up_free
        if (cur != self.fallback and estimate > p.budget * p.up_share) or crowded:
            self.room_since = None
            return None
        self.room_since = now if self.room_since is None else self.room_since
        if now - self.room_since < self.up_after[up]:
            return None
        self.i -= 1
        self.stepped_up_at = now
        self.reason = (f"stepped up from {cur}: {up} estimated {estimate:.2f} core <= {p.budget:g}" if cur != self.fallback
                       else f"stepped up from {cur}: the full rate kept for {self.up_after[up]:g} s, trying {up} again")
        return self.current

    def switched(self) -> None:
        """The new rung runs: restart the window."""
        self.switches += 1
        self.restart()

    def state(self) -> dict:
        """What ``status`` shows under ``auto``."""
        w = self.last
        return {"model": self.current, "reason": self.reason, "ladder": self.ladder, "budget": self.policy.budget,
                "switches": self.switches, "cpu_cores_window": round(w.cores, 3) if w else None,
                "fps_kept_window": round(w.fps, 2) if w else None,
                "free_cores_window": round(w.free, 3) if w and w.free is not None else None}


def kept_frames(stats) -> int:
    """Fresh frames published: every published frame but repeats of the previous one and placeholders."""
    return int(stats.frames_out - stats.repeated - stats.placeholders)


@dataclass
class AutoscaleThread:
    """Runs an :class:`Autoscaler` beside a pipeline while the model is ``auto`` (see :meth:`follow`).

    Args:
        pipeline: the running pipeline (its ``sharpener``, ``stats``, ``paused``).
        build: ``(settings, tag) -> (sharpener, info updates)``: the daemon's sharpener builder for one tag,
            warm-up included (the one the panel's model change uses).
        info: the daemon's state entries; ``model`` and ``auto`` are updated on each decision.
        busy: whether another model change (the panel's) is in progress: no decision then.
        every_s: the sampling period.
    """

    pipeline: object
    build: Callable[[object, str], tuple]
    info: dict
    busy: Callable[[], bool] = lambda: False
    every_s: float = 0.5
    clock: Callable[[], float] = time.monotonic
    cpu_clock: Callable[[], float] = time.process_time
    idle_clock: Callable[[], float | None] = machine_idle_s
    scaler: Autoscaler | None = None
    settings: object = None
    thread: threading.Thread | None = None
    _stop: threading.Event = field(default_factory=threading.Event)

    @property
    def active(self) -> bool:
        return self.scaler is not None

    def follow(self, settings, choice: loader.Choice) -> None:
        """Scale along ``choice``'s ladder (``auto``: the settings' budget and rate, the costs measured at
        start, the GMACs of the rest), or stop scaling (any other model, or a ladder of one rung)."""
        self.settings = settings
        if len(choice.ladder) < 2 or choice.spec not in choice.ladder:
            self.scaler = None
            self.info.pop("auto", None)
            return
        gmacs = {t: count_macs(loader.load(t)) for t in choice.ladder}
        fallback = "none" if TAGS.get(choice.ladder[0]) and TAGS[choice.ladder[0]].task == TASK_SAME else "bilinear"
        self.scaler = Autoscaler(choice.ladder, choice.spec, Policy(settings.cpu_budget, settings.fps), choice.cores,
                                 gmacs, fallback, os.cpu_count())
        self.scaler.reason = f"started on {choice.spec}: {choice.reason}"
        self.publish()

    def start(self) -> "AutoscaleThread":
        self.thread = threading.Thread(target=self._run, name="autoscale", daemon=True)
        self.thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self.thread is not None:
            self.thread.join(timeout=5.0)

    def publish(self) -> None:
        if self.scaler is None:
            return
        self.info["model"] = f"{loader.describe(self.scaler.current)} (auto: {self.scaler.reason})"
        self.info["auto"] = self.scaler.state()

    def step(self) -> str | None:
        """One sample (and one switch, when decided); returns the tag switched to."""
        sharp, scaler = self.pipeline.sharpener, self.scaler
        if scaler is None:
            return None
        if self.busy() or getattr(self.pipeline, "paused", False) or not sharp.enabled:
            scaler.restart()  # a paused or unsharpened pipeline says nothing about the model's cost
            return None
        before = scaler.i
        tag = scaler.observe(self.clock(), self.cpu_clock(), kept_frames(self.pipeline.stats), self.idle_clock())
        self.info["auto"] = scaler.state()
        if tag is None:
            return None
        log.warning("auto: %s", scaler.reason)
        try:
            new, described = self.build(self.settings, tag)
        except Exception as e:  # noqa: BLE001 - a failed switch keeps the running sharpener
            log.warning("auto: could not switch to %s: %s", tag, " ".join(str(e).split()))
            scaler.i = before
            scaler.reason = f"could not switch to {tag}; kept {scaler.current}"
            scaler.restart()
            self.publish()
            return None
        if scaler is not self.scaler:  # the panel changed the model meanwhile: its choice wins
            return None
        old = self.pipeline.sharpener
        new.enabled, new.strength, new.split = old.enabled, old.strength, old.split
        self.pipeline.sharpener = new  # the worker takes it for its next frame
        self.info.update(described)
        scaler.switched()
        self.publish()
        return tag

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            try:
                self.step()
            except Exception:  # noqa: BLE001 - the autoscaler never stops the video
                log.exception("auto: the autoscaler failed; the model stays as it is")
                return

