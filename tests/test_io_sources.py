"""Frame sources: the demo scene and looping/paced video files (webcams: test_io_camera.py)."""

from __future__ import annotations

import time

import numpy as np
import pytest
from conftest_daemon import daemon_env, decode_index, numbered_video, write_numbered_video  # noqa: F401

from vcam_sharpen.core.errors import UserError
from vcam_sharpen.io import sources
from vcam_sharpen.io.sources import UNAVAILABLE_WAIT_S, DemoSource, FileSource, Pacer, Source


def test_demo_moves_at_requested_size():
    src = DemoSource((640, 360), 30, paced=False)
    a, b = src.read(), src.read()
    assert a.shape == (360, 640, 3) and a.dtype == np.uint8
    assert src.size == (640, 360) and src.name == "demo"
    late = src.frame_at(90)  # three seconds in: panned and zoomed
    far, near = np.abs(a.astype(int) - late.astype(int)).mean(), np.abs(a.astype(int) - b.astype(int)).mean()
    assert 0 < near < far / 3 and far > 10  # moving, and smoothly from one frame to the next
    np.testing.assert_array_equal(src.frame_at(7), DemoSource((640, 360), 30).frame_at(7))  # deterministic
    odd = DemoSource((641, 481), 30, paced=False).read()
    assert odd.shape == (481, 641, 3)


class FakeClock:
    """``time`` for the sources module: ``sleep`` advances ``monotonic`` exactly, so pacing is checked
    to the microsecond, without waiting, however loaded the machine is."""

    def __init__(self) -> None:
        self.now, self.slept = 1000.0, []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds

    def time(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch):
    fake = FakeClock()
    monkeypatch.setattr(sources, "time", fake)
    return fake


def test_demo_paced_keeps_real_time(clock):
    src = DemoSource((160, 90), fps=50, paced=True)
    t = clock.now
    for _ in range(11):
        src.read()
    assert clock.now - t == pytest.approx(0.2)  # 10 frame periods of 20 ms, slept, never busy-waited
    clock.now += 0.2  # a slow reader: the next read jumps to the frame due now
    src.read()
    assert src.dropped == 9


def test_demo_paced_really_sleeps():
    """The same on the real clock, with bounds loose enough for a loaded machine."""
    src = DemoSource((160, 90), fps=50, paced=True)
    t = time.monotonic()
    for _ in range(11):
        src.read()
    assert 0.17 < time.monotonic() - t < 2.0


def test_file_loops_and_unpaced_is_fast(numbered_video):
    src = FileSource(numbered_video, paced=False)
    assert src.size == (320, 240) and src.fps == pytest.approx(30)
    t = time.monotonic()
    got = [decode_index(src.read()) for _ in range(65)]
    assert time.monotonic() - t < 2.0
    assert got == list(range(30)) * 2 + list(range(5))
    src.close()
    assert src.read() is None


def test_file_paced_at_own_rate_and_skips_when_late(tmp_path, clock):
    path = write_numbered_video(tmp_path / "v.avi", n=60, fps=25)
    src = FileSource(path, paced=True)
    t = clock.now
    got = [decode_index(src.read()) for _ in range(6)]
    assert got == [0, 1, 2, 3, 4, 5]
    assert clock.now - t == pytest.approx(0.2)  # 5 periods of 40 ms
    clock.now += 0.4  # ten frames late: newest frame, not a stale one
    k = decode_index(src.read())
    assert k == 15 and src.dropped == 9
    src.close()


def test_missing_and_undecodable_files_are_one_line_errors(tmp_path):
    with pytest.raises(UserError, match="does not exist") as e:
        FileSource(tmp_path / "missing.mp4")
    assert "\n" not in str(e.value)
    bad = tmp_path / "notavideo.mp4"
    bad.write_bytes(b"\0" * 1000)
    with pytest.raises(UserError, match="cannot decode") as e:
        FileSource(bad)
    assert "\n" not in str(e.value)


def test_a_video_that_stops_decoding_is_unavailable_without_spinning(numbered_video):
    src = FileSource(numbered_video, paced=False)
    src._cap.release()  # the file went away under the decoder
    t = time.monotonic()
    assert src.read() is not None  # the first frame was decoded on opening
    assert src.read() is None and src.read() is None
    assert time.monotonic() - t >= 2 * UNAVAILABLE_WAIT_S * 0.9  # waited, so callers never busy-loop
    src.close()


def test_pacer_hands_out_the_frame_due_now(clock):
    pacer = Pacer(100.0)
    assert pacer.due() == 0
    pacer.next = 1
    assert pacer.due() == 1 and clock.slept == [pytest.approx(0.01)]  # waited for frame 1, exactly
    pacer.next = 2
    clock.now += 0.1
    assert pacer.due() == 11  # late: jumps ahead to the frame due now
    assert len(clock.slept) == 1


def test_every_source_has_the_same_small_interface():
    class Still(Source):
        name, size = "still", (4, 2)

        def read(self):
            return np.zeros((2, 4, 3), np.uint8)

    with Still() as src:
        assert src.read().shape == (2, 4, 3) and not src.lost and src.dropped == 0
        assert repr(src) == "<Still still 4x2@30>"
    with pytest.raises(TypeError):
        Source()  # read() is abstract
