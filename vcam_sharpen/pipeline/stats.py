"""What the pipeline measures: frame counts, per-stage milliseconds and rates (``status`` shows them)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

# Stage names, shared by the daemon's status and ``bench``: reading the source, the frame work
# around the network (downscale, interleave, split, fit), the temporal stage, the network itself, and the sinks.
STAGES = ("capture", "prep", "temporal", "inference", "publish")


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
        """Fold one measurement into the stage's exponential running mean (about the last 10 frames)."""
        old = self.ms.get(name)
        self.ms[name] = ms if old is None else old + alpha * (ms - old)


class RateMeter:
    """Frames per second of the out and processed counters, over windows of about a second."""

    def __init__(self, stats: Stats) -> None:
        self.stats = stats
        self._t, self._out, self._proc = time.monotonic(), 0, 0

    def tick(self, now: float) -> None:
        s = self.stats
        if now - self._t >= 1.0:
            s.fps_out = (s.frames_out - self._out) / (now - self._t)
            s.fps_processed = (s.frames_processed - self._proc) / (now - self._t)
            self._t, self._out, self._proc = now, s.frames_out, s.frames_processed


class CpuMeter:
    """The process's CPU use in cores (all threads), over windows of at least ``window`` seconds.

    :meth:`sample` closes a window when it is long enough and returns the last full window's figure
    (None before the first), so callers at any rate share one meter.
    """

    def __init__(self, window: float = 1.0) -> None:
        self.window = window
        self._t, self._cpu = time.monotonic(), time.process_time()
        self.value: float | None = None

    def sample(self) -> float | None:
        now, cpu = time.monotonic(), time.process_time()
        if now - self._t >= self.window:
            self.value = round((cpu - self._cpu) / (now - self._t), 3)
            self._t, self._cpu = now, cpu
        return self.value
