"""When to pause: only after ``after_s`` of nobody reading, never when a reader count is unknown."""

from vcam_sharpen.pipeline.pause import PauseGate


def test_never_pauses_with_unknown_counts():
    gate = PauseGate(0.5)
    for t in range(10):
        assert gate.update([None], float(t)) is None
        assert gate.update([0, None], float(t)) is None  # one output cannot tell: it wants the picture
    assert gate.readers is None and not gate.paused
    assert gate.update([], 20.0) is None and gate.readers is None  # no outputs at all


def test_never_pauses_without_after_s():
    gate = PauseGate(None)
    for t in range(10):
        assert gate.update([0], float(t)) is None
    assert gate.readers == 0 and not gate.paused  # the count is still known


def test_pauses_after_after_s_of_zeros_and_resumes_at_once():
    gate = PauseGate(2.0)
    assert gate.update([1], 0.0) is None and gate.readers == 1
    assert gate.update([0], 1.0) is None  # nobody since 1.0
    assert gate.update([0, 0], 2.9) is None
    assert gate.update([0], 3.0) == "pause" and gate.paused
    assert gate.update([0], 10.0) is None  # already paused
    assert gate.update([0, 1], 10.1) == "resume" and not gate.paused and gate.readers == 1
    assert gate.update([1], 10.2) is None


def test_a_brief_dip_does_not_pause():
    gate = PauseGate(2.0)
    assert gate.update([0], 0.0) is None
    assert gate.update([1], 1.5) is None  # an app reopened the device
    assert gate.update([0], 2.5) is None and gate.update([0], 4.4) is None  # the clock started again at 2.5
    assert gate.update([0], 4.5) == "pause"


def test_unknown_counts_resume_a_paused_gate():
    gate = PauseGate(0.0)
    assert gate.update([0], 0.0) == "pause"
    assert gate.update([None], 0.1) == "resume" and gate.readers is None
