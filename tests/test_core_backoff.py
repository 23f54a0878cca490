"""Retry timing: 0.5 s doubling to 5 s, back to the start on success."""

import time

from vcam_sharpen.core.backoff import MAX_S, MIN_S, Backoff


def test_waits_double_up_to_the_cap_then_reset():
    b = Backoff()
    assert (MIN_S, MAX_S) == (0.5, 5.0)
    assert [b.failed() for _ in range(6)] == [0.5, 1.0, 2.0, 4.0, 5.0, 5.0]
    b.reset()
    assert b.delay == 0.5 and b.failed() == 0.5 and b.delay == 1.0


def test_due_for_callers_that_poll():
    b = Backoff(0.2, 1.0)
    assert b.due(now=100.0)  # never failed: try at once
    assert b.failed(now=100.0) == 0.2
    assert not b.due(now=100.1) and b.due(now=100.2)
    assert b.failed(now=100.2) == 0.4 and not b.due(now=100.5) and b.due(now=100.61)
    b.reset()
    assert b.due(now=0.0)


def test_real_clock():
    b = Backoff(0.05, 0.05)
    b.failed()
    assert not b.due()
    time.sleep(0.06)
    assert b.due()
