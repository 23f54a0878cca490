"""The one CPU-at-a-rate estimator: ``bench``'s paced figure and ``--model auto``'s estimate.

One paced run (a frame due every ``1/fps`` s, a late loop does not catch up) is cut into windows of
consecutive frames; each window's CPU use is the process's CPU time (all threads) over the time its
frames are due in (``frames / fps``): the CPU the rate needs. When the loop keeps up that is the window's
wall time, the idle tail up to the next due frame included; when other processes starve it (a loaded
machine) the wall time stretches while the CPU per frame does not, and CPU over wall time read far too
low (``auto`` once estimated ``student-wide`` at 0.43 core at load 4, against 1.0 on a quiet machine). The estimate is the median over the
windows, with their spread (min and max): one window disturbed by another process's burst on a
shared machine moves the median little, where a single figure over the whole run moved by the whole
burst (``bench`` once reported 0.72 to 0.86 core for identical graphs in one run).
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field
from typing import Callable

# Frames per window: half a second at 30 fps, long enough for the per-frame jitter to average out,
# short enough that a burst of other work spoils few windows.
WINDOW_FRAMES = 15
MIN_WINDOWS = 3


@dataclass
class CpuEstimate:
    """CPU cores used at a paced rate: the median window and the spread.

    Attributes:
        cores: median of the windows' cores.
        low, high: the lowest and highest window.
        windows: every window's cores, in order.
        fps: frames per second kept over the whole run.
        frames: frames run; late_frames: frames due over a frame period before the loop got to them.
    """

    cores: float
    low: float
    high: float
    windows: list = field(default_factory=list)
    fps: float = 0.0
    frames: int = 0
    late_frames: int = 0

    def as_dict(self, fps_target: float) -> dict:
        """``bench``'s ``paced`` entry: ``cpu_cores`` is the median."""
        return {"fps_target": fps_target, "fps": round(self.fps, 2), "cpu_cores": round(self.cores, 3),
                "cpu_cores_spread": [round(self.low, 3), round(self.high, 3)],
                "cpu_cores_windows": [round(w, 3) for w in self.windows], "frames": self.frames,
                "late_frames": self.late_frames}


def windows_for(frames: int) -> int:
    """How many windows a paced run of ``frames`` is cut into: :data:`WINDOW_FRAMES` each, at least
    :data:`MIN_WINDOWS` (fewer when there are fewer frames)."""
    return max(1, min(frames, max(MIN_WINDOWS, frames // WINDOW_FRAMES)))


def paced_cpu(step: Callable[[], object], fps: float, frames: int = 90, max_seconds: float = 30.0,
              clock: Callable[[], float] = time.perf_counter, cpu_clock: Callable[[], float] = time.process_time,
              sleep: Callable[[float], None] = time.sleep) -> CpuEstimate:
    """Run ``step()`` (one frame's work) at ``fps`` for ``frames`` frames (or ``max_seconds``, at least 3
    frames) and estimate the process's CPU use in cores: see the module docstring.

    ``clock``, ``cpu_clock`` and ``sleep`` are the wall clock, the process CPU clock and the sleep; tests
    pass fakes.
    """
    period = 1.0 / fps
    n_windows = windows_for(frames)
    per = [frames // n_windows + (1 if i < frames % n_windows else 0) for i in range(n_windows)]
    start = clock()
    deadline = start + max_seconds
    due, late, n = start, 0, 0
    w_wall, w_cpu = start, cpu_clock()
    cores: list[float] = []
    for count in per:
        for _ in range(count):
            now = clock()
            if now < due:
                sleep(due - now)
            elif now - due > period:
                late += 1
                due = now
            step()
            n += 1
            due += period
        end, cpu = max(clock(), due), cpu_clock()
        if count:  # over the time its frames are due in
            cores.append((cpu - w_cpu) / (count * period))
        w_wall, w_cpu = end, cpu
        if clock() > deadline and n >= 3:
            break
    wall = max(w_wall - start, 1e-9)
    if not cores:
        cores = [0.0]
    return CpuEstimate(statistics.median(cores), min(cores), max(cores), cores, n / wall, n, late)
