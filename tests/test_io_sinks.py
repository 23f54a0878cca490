"""The sink interface and the simple outputs, null and preview (virtual camera: test_io_vcam.py; recordings:
test_io_outputs.py and test_io_recording.py)."""

from __future__ import annotations

import numpy as np
import pytest
from conftest_daemon import daemon_env  # noqa: F401

from vcam_sharpen.core.errors import UserError, one_line
from vcam_sharpen.io import sinks
from vcam_sharpen.io.sinks import FrameMismatch, NullSink, PreviewSink, Sink, has_display


def test_the_sink_interface():
    class Counting(Sink):
        name = "counting"

        def __init__(self, size):
            super().__init__(size)
            self.sent = 0

        def write(self, frame):
            self.sent += 1

    with Counting((64.0, 48.0)) as sink:
        sink.send(np.zeros((48, 64, 3), np.uint8))
        assert sink.size == (64, 48) and sink.sent == 1
        assert sink.readers() is None  # cannot tell: the daemon never pauses for it
        assert sink.device is None and sink.quit_requested is False
    with pytest.raises(TypeError):
        Sink((64, 48))  # write() is abstract


def test_null_sink_discards():
    sink = NullSink((64, 48))
    sink.send(np.zeros((48, 64, 3), np.uint8))
    assert sink.name == "null" and sink.readers() is None
    sink.close()
    sink.close()


def test_preview_needs_a_display(monkeypatch):
    monkeypatch.setattr(sinks.sys, "platform", "linux")
    assert not has_display()  # daemon_env removed DISPLAY and WAYLAND_DISPLAY
    with pytest.raises(UserError, match="needs a display") as e:
        PreviewSink((320, 240))
    assert "\n" not in str(e.value)
    monkeypatch.setenv("WAYLAND_DISPLAY", "wayland-0")
    assert has_display()
    monkeypatch.setattr(sinks.sys, "platform", "darwin")
    monkeypatch.delenv("WAYLAND_DISPLAY")
    assert has_display()


def test_one_line_errors():
    assert one_line(RuntimeError("a\n  b\tc")) == "a b c"
    assert one_line(RuntimeError("")) == "RuntimeError"
    assert len(one_line(RuntimeError("x" * 500))) == 200


def test_send_checks_every_frame_once_for_every_sink():
    written = []

    class Kept(Sink):
        def write(self, frame):
            written.append(frame)

    sink = Kept((64, 48))
    for bad in (np.zeros((64, 48, 3), np.uint8), np.zeros((48, 64, 3), np.uint16), np.zeros((48, 64), np.uint8),
                [[0]], None):
        with pytest.raises(FrameMismatch) as e:
            sink.send(bad)
        assert isinstance(e.value, UserError) and "64x48" in str(e.value) and "\n" not in str(e.value)
    assert written == []
    sink.send(np.zeros((48, 64, 3), np.uint8))
    assert len(written) == 1
