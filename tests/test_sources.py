"""Frame sources: the demo scene, looping/paced video files, and the camera grabber (faked VideoCapture)."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from conftest_daemon import daemon_env, decode_index, numbered_video, write_numbered_video  # noqa: F401

from vcam_sharpen import sources
from vcam_sharpen.errors import UserError
from vcam_sharpen.sources import DemoSource, FileSource, open_source


def test_demo_moves_at_requested_size():
    src = open_source("demo", size=(640, 360), fps=30, paced=False)
    a, b = src.read(), src.read()
    assert a.shape == (360, 640, 3) and a.dtype == np.uint8
    assert src.size == (640, 360) and src.name == "demo"
    late = src.frame_at(90)  # three seconds in: panned and zoomed
    far, near = np.abs(a.astype(int) - late.astype(int)).mean(), np.abs(a.astype(int) - b.astype(int)).mean()
    assert 0 < near < far / 3 and far > 10  # moving, and smoothly from one frame to the next
    np.testing.assert_array_equal(src.frame_at(7), DemoSource((640, 360), 30).frame_at(7))  # deterministic
    odd = DemoSource((641, 481), 30, paced=False).read()
    assert odd.shape == (481, 641, 3)


def test_demo_paced_keeps_real_time():
    src = DemoSource((160, 90), fps=50, paced=True)
    t = time.monotonic()
    for _ in range(11):
        src.read()
    assert 0.17 < time.monotonic() - t < 0.5  # 10 frame periods of 20 ms
    time.sleep(0.2)  # a slow reader: the next read jumps to the frame due now
    src.read()
    assert src.dropped >= 7


def test_file_loops_and_unpaced_is_fast(numbered_video):
    src = FileSource(numbered_video, paced=False)
    assert src.size == (320, 240) and src.fps == pytest.approx(30)
    t = time.monotonic()
    got = [decode_index(src.read()) for _ in range(65)]
    assert time.monotonic() - t < 2.0
    assert got == list(range(30)) * 2 + list(range(5))
    src.close()
    assert src.read() is None


def test_file_paced_at_own_rate_and_skips_when_late(tmp_path):
    path = write_numbered_video(tmp_path / "v.avi", n=60, fps=25)
    src = open_source(str(path), paced=True)
    t = time.monotonic()
    got = [decode_index(src.read()) for _ in range(6)]
    assert got == [0, 1, 2, 3, 4, 5]
    assert 0.17 < time.monotonic() - t < 0.45  # 5 periods of 40 ms
    time.sleep(0.4)  # ten frames late: newest frame, not a stale one
    k = decode_index(src.read())
    assert k >= 14 and src.dropped >= 8
    src.close()


@pytest.mark.parametrize("spec, words", [
    ("missing.mp4", ["does not exist"]),
    ("/dev/video7", ["no camera /dev/video7", "demo"]),
    ("0", ["no camera /dev/video0", "list-devices"]),
])
def test_open_errors_are_one_line(spec, words, tmp_path):
    with pytest.raises(UserError) as e:
        open_source(spec)
    msg = str(e.value)
    assert "\n" not in msg and all(w in msg for w in words)


def test_undecodable_file(tmp_path):
    bad = tmp_path / "notavideo.mp4"
    bad.write_bytes(b"\0" * 1000)
    with pytest.raises(UserError, match="cannot decode"):
        open_source(str(bad))


def test_auto_source_without_camera_is_demo():
    assert sources.default_source() == "demo"
    assert open_source("auto", size=(64, 48), paced=False).name == "demo"


# ---------------------------------------------------------------- camera, with a fake cv2.VideoCapture


class FakeCamera:
    """Stands in for the hardware: delivers numbered frames at ``fps`` unless ``online`` is False."""

    def __init__(self, fps=100.0, size=(64, 48), busy=False):
        self.fps, self.size, self.busy = fps, size, busy
        self.online = True
        self.opens: list[float] = []  # times VideoCapture() was called
        self.props: dict = {}
        self.released = 0
        self.k = 0
        self.lock = threading.Lock()


def fake_capture_class(cam: FakeCamera):
    import cv2

    class FakeCapture:
        def __init__(self, index, *api):
            cam.opens.append(time.monotonic())
            self.ok = cam.online

        def isOpened(self):
            return self.ok

        def set(self, prop, value):
            cam.props[prop] = value
            return True

        def get(self, prop):
            return {cv2.CAP_PROP_FRAME_WIDTH: cam.size[0], cv2.CAP_PROP_FRAME_HEIGHT: cam.size[1],
                    cv2.CAP_PROP_FPS: cam.fps}.get(prop, 0.0)

        def read(self):
            time.sleep(1.0 / cam.fps)
            if not self.ok or not cam.online or cam.busy:
                return False, None
            with cam.lock:
                cam.k += 1
                k = cam.k
            w, h = cam.size
            return True, np.full((h, w, 3), k % 256, np.uint8)

        def release(self):
            cam.released += 1
            self.ok = False

    return FakeCapture


@pytest.fixture
def fake_camera(monkeypatch):
    import cv2

    cam = FakeCamera()
    monkeypatch.setattr(cv2, "VideoCapture", fake_capture_class(cam))
    monkeypatch.setattr(sources, "_linux_device", lambda spec: None)  # an index, no /dev node checks
    monkeypatch.setattr(sources, "FIRST_FRAME_S", 0.3)
    return cam


def test_camera_requests_mjpg_720p_and_keeps_only_the_newest_frame(fake_camera):
    import cv2

    src = open_source("0", size=(1280, 720), fps=30)
    try:
        assert fake_camera.props[cv2.CAP_PROP_FOURCC] == cv2.VideoWriter_fourcc(*"MJPG")
        assert fake_camera.props[cv2.CAP_PROP_BUFFERSIZE] == 1
        assert fake_camera.props[cv2.CAP_PROP_FRAME_WIDTH] == 1280
        assert src.size == (64, 48) and src.fps == 100  # what the camera granted
        first = int(src.read()[0, 0, 0])
        time.sleep(0.2)  # ~20 frames arrive meanwhile; read() gives the newest, not the next
        newest = int(src.read()[0, 0, 0])
        assert newest - first > 10 and src.dropped > 10
        assert int(src.read()[0, 0, 0]) > newest  # never the same frame twice
    finally:
        src.close()
    assert fake_camera.released >= 1


def test_camera_loss_returns_none_promptly_and_reconnects_with_backoff(fake_camera):
    src = open_source("0", size=(64, 48), fps=30)
    try:
        assert src.read() is not None
        fake_camera.online = False
        t = time.monotonic()
        while src.read() is not None:
            assert time.monotonic() - t < 0.5
        assert time.monotonic() - t < 0.25 and src.lost
        calls, t = 0, time.monotonic()
        while time.monotonic() - t < 2.0:  # a caller polling while it is away never spins
            assert src.read() is None
            calls += 1
        assert calls <= 25
        opens = [o for o in fake_camera.opens if o > t - 0.1]
        gaps = np.diff([t - 0.1] + opens) if opens else []
        assert 1 <= len(opens) <= 3, opens  # retried at ~0.5 s, ~1 s, ~2 s intervals: backoff, no busy loop
        assert all(g > 0.4 for g in gaps[1:])
        fake_camera.online = True
        frame = None
        t = time.monotonic()
        while frame is None and time.monotonic() - t < 6:
            frame = src.read()
        assert frame is not None and not src.lost and src.reconnects == 1
    finally:
        src.close()


def test_busy_camera_is_a_user_error(fake_camera):
    fake_camera.busy = True
    with pytest.raises(UserError, match="busy"):
        open_source("0")


def test_camera_that_cannot_open(fake_camera):
    fake_camera.online = False
    with pytest.raises(UserError, match="cannot open camera 0"):
        open_source("0")


def test_close_is_quick_and_idempotent(fake_camera):
    src = open_source("0")
    t = time.monotonic()
    src.close()
    src.close()
    assert time.monotonic() - t < 0.5
    assert src.read() is None
