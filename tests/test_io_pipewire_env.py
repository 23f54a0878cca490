"""``vcam-sharpen probe`` (io/pipewire_env.py): a consumer's view of a PipeWire camera node, and one-line errors
where GStreamer or a session is missing. The live test starts a private PipeWire session (tests/pipewire_session.py)
and skips cleanly without one."""

from __future__ import annotations

import shutil
import subprocess
import threading
import time

import numpy as np
import pytest
from pipewire_session import PipewireSession, SessionError

from vcam_sharpen.core.errors import UserError
from vcam_sharpen.io import pipewire_env
from vcam_sharpen.io.pipewire import PipewireSink
from vcam_sharpen.io.pipewire_env import _caps, probe


def _have_gst_pipewire() -> bool:
    if not all(shutil.which(t) for t in ("gst-launch-1.0", "gst-inspect-1.0", "pipewire", "wireplumber",
                                         "dbus-daemon", "pw-cli")):
        return False
    try:
        return subprocess.run(["gst-inspect-1.0", "pipewiresrc"], capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def test_caps_lines_are_read():
    line = ("/GstPipeline:pipeline0/GstCapsFilter:capsfilter0.GstPad:src: caps = video/x-raw, format=(string)I420, "
            "width=(int)1280, height=(int)720, framerate=(fraction)30000/1001")
    caps = _caps(line)
    assert caps["format"] == "I420" and (caps["width"], caps["height"]) == (1280, 720)
    assert abs(caps["fps"] - 29.97) < 0.01
    assert _caps("caps = video/x-raw, format=(string)BGR, width=(int)64, height=(int)48, framerate=(fraction)0/1")[
        "fps"] is None
    assert _caps("Setting pipeline to PAUSED ...") is None


def test_missing_gstreamer_is_one_line(monkeypatch):
    monkeypatch.setattr(pipewire_env.shutil, "which", lambda name: None)
    with pytest.raises(UserError, match="gstreamer1.0-tools") as e:
        probe()
    assert "\n" not in str(e.value)


@pytest.mark.skipif(not _have_gst_pipewire(), reason="GStreamer's PipeWire plugin or PipeWire not installed")
def test_probe_reads_the_size_and_rate_of_a_live_node():
    try:
        session = PipewireSession().start()
    except SessionError as e:
        pytest.skip(f"no private PipeWire session here: {e}")
    try:
        with session.environment():
            sink = PipewireSink((320, 240), 30, node_name="vcam-sharpen-probe")
            stop = threading.Event()

            def publish():
                k = 0
                while not stop.is_set():
                    sink.send(np.full((240, 320, 3), k % 256, np.uint8))
                    k += 1
                    time.sleep(1 / 30)

            thread = threading.Thread(target=publish, daemon=True)
            thread.start()
            try:
                got = probe("vcam-sharpen-probe", frames=20, timeout=20)
                with pytest.raises(UserError, match="no frame from PipeWire node 'absent'.*vcam-sharpen-probe"):
                    probe("absent", frames=5, timeout=2)
            finally:
                stop.set()
                thread.join(2)
                sink.close()
    finally:
        session.stop()
    assert (got.width, got.height, got.format, got.frames, got.timed_out) == (320, 240, "I420", 20, False)
    assert got.offered_fps == 30 and 10 < got.measured_fps < 60  # paced at 30 fps by the publisher (loaded CI: wide)
