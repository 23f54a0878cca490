"""What the pipeline measures: running means per stage and rates over about a second."""

import pytest

from vcam_sharpen.pipeline.stats import STAGES, RateMeter, Stats


def test_stages_are_shared_by_status_and_bench():
    assert STAGES == ("capture", "prep", "temporal", "inference", "publish")


def test_running_mean_of_a_stage():
    s = Stats()
    s.add_ms("prep", 10.0)
    assert s.ms == {"prep": 10.0}  # the first value as it is
    s.add_ms("prep", 20.0)
    assert s.ms["prep"] == pytest.approx(11.0)  # 10 % of the way to the new value
    for _ in range(100):
        s.add_ms("prep", 20.0)
    assert s.ms["prep"] == pytest.approx(20.0, abs=1e-3)
    s.add_ms("publish", 4.0, alpha=1.0)
    s.add_ms("publish", 6.0, alpha=1.0)
    assert s.ms["publish"] == 6.0


def test_rates_over_windows_of_about_a_second():
    s = Stats()
    meter = RateMeter(s)
    t0 = meter._t
    s.frames_out, s.frames_processed = 15, 10
    meter.tick(t0 + 0.5)
    assert s.fps_out == 0.0  # not a second yet
    s.frames_out, s.frames_processed = 30, 20
    meter.tick(t0 + 1.0)
    assert s.fps_out == pytest.approx(30.0) and s.fps_processed == pytest.approx(20.0)
    s.frames_out, s.frames_processed = 90, 20
    meter.tick(t0 + 3.0)
    assert s.fps_out == pytest.approx(30.0) and s.fps_processed == 0.0


def test_counters_start_at_zero():
    s = Stats()
    assert (s.frames_out, s.frames_processed, s.repeated, s.placeholders, s.pauses) == (0, 0, 0, 0, 0)
    assert s.started > 0 and s.ms == {}
