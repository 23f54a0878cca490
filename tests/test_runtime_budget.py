"""The paced CPU estimator, on fake clocks: windows, the median, the spread, late frames, the idle tail."""

from __future__ import annotations

import pytest

from vcam_sharpen.runtime.budget import CpuEstimate, paced_cpu, windows_for


class FakeMachine:
    """A wall clock, a process CPU clock and a sleep; each step costs ``costs[i]`` seconds of both."""

    def __init__(self, costs):
        self.costs, self.i, self.wall, self.cpu = list(costs), 0, 100.0, 5.0

    def step(self):
        c = self.costs[min(self.i, len(self.costs) - 1)]
        self.i += 1
        self.wall += c
        self.cpu += c

    def sleep(self, s):
        assert s > 0
        self.wall += s

    def run(self, fps, frames, **kw):
        return paced_cpu(self.step, fps, frames, clock=lambda: self.wall, cpu_clock=lambda: self.cpu,
                         sleep=self.sleep, **kw)


def test_a_steady_load_is_its_duty_cycle():
    m = FakeMachine([0.01])  # 10 ms a frame at 30 fps: 0.3 core
    est = m.run(30.0, 90)
    assert len(est.windows) == 6 and est.frames == 90 and est.late_frames == 0
    assert est.cores == pytest.approx(0.3) and est.low == pytest.approx(0.3) and est.high == pytest.approx(0.3)
    assert est.fps == pytest.approx(30.0)


def test_one_disturbed_window_moves_the_median_little_and_shows_in_the_spread():
    costs = [0.01] * 90
    costs[20:30] = [0.02] * 10  # a burst in window 2 (frames 15..29): 0.6 core there
    est = FakeMachine(costs).run(30.0, 90)
    assert est.cores == pytest.approx(0.3) and est.high == pytest.approx(0.3 + 10 * 0.01 * 30 / 15)
    whole = sum(costs) / (90 / 30)  # what one figure over the whole run said
    assert whole > est.cores + 0.03


def test_a_loop_that_cannot_keep_up_is_late_and_does_not_catch_up():
    est = FakeMachine([0.05]).run(30.0, 30)  # 50 ms a frame: 20 fps at most, and 1.5 cores to do 30
    assert est.late_frames > 0 and est.fps == pytest.approx(20.0, rel=0.05) and est.cores == pytest.approx(1.5)


class StarvedMachine(FakeMachine):
    """Another process takes half the core: each frame's CPU takes twice as long on the wall clock."""

    def step(self):
        c = self.costs[min(self.i, len(self.costs) - 1)]
        self.i += 1
        self.wall += 2 * c
        self.cpu += c


def test_a_starved_loop_still_reads_the_cpu_the_rate_needs():
    """20 ms of CPU a frame at 30 fps needs 0.6 core, however long the frames take on a loaded machine
    (CPU over wall time read 0.5 here: the loop only got 25 fps)."""
    est = StarvedMachine([0.02]).run(30.0, 90)
    assert est.fps < 29 and est.cores == pytest.approx(0.6)


def test_windows_and_the_dict_bench_prints():
    assert windows_for(90) == 6 and windows_for(30) == 3 and windows_for(2) == 2 and windows_for(1) == 1
    d = CpuEstimate(0.5, 0.4, 0.7, [0.4, 0.5, 0.7], 29.9, 45, 1).as_dict(30.0)
    assert d["cpu_cores"] == 0.5 and d["cpu_cores_spread"] == [0.4, 0.7] and d["fps_target"] == 30.0
    assert d["frames"] == 45 and d["late_frames"] == 1 and d["cpu_cores_windows"] == [0.4, 0.5, 0.7]


def test_max_seconds_stops_a_slow_run_after_whole_windows():
    est = FakeMachine([1.0]).run(30.0, 90, max_seconds=2.5)
    assert 3 <= est.frames < 90
