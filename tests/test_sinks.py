"""Sinks: the real pyvirtualcam Camera code path (recording backend), files, preview, null, placeholder."""

from __future__ import annotations

import numpy as np
import pytest
from conftest_daemon import daemon_env, recording_backend  # noqa: F401

from vcam_sharpen import sinks
from vcam_sharpen.errors import UserError
from vcam_sharpen.sinks import FileSink, NullSink, VcamSink, close_sinks, fit, open_sinks, placeholder


def test_fit_letterboxes_odd_grey_and_bgra_frames():
    odd = np.full((481, 641, 3), 200, np.uint8)
    out = fit(odd, (1280, 720))
    assert out.shape == (720, 1280, 3)
    assert out[360, 640].tolist() == [200, 200, 200]
    assert out[360, 0].tolist() == [0, 0, 0]  # aspect kept: bars at the sides
    assert fit(np.full((48, 64), 9, np.uint8), (64, 48))[0, 0].tolist() == [9, 9, 9]
    bgra = np.zeros((48, 64, 4), np.uint8)
    bgra[..., 2] = 255
    assert fit(bgra, (32, 24))[5, 5].tolist() == [0, 0, 255]
    same = np.zeros((24, 32, 3), np.uint8)
    assert fit(same, (32, 24)) is same


def test_placeholder_dims_last_frame_and_writes_message():
    last = np.full((720, 1280, 3), 210, np.uint8)
    ph = placeholder(last, (640, 360), "camera unavailable")
    assert ph.shape == (360, 640, 3)
    assert np.median(ph) < 100  # dimmed
    assert (ph == 255).any()  # white text
    assert placeholder(None, (320, 240), "starting").shape == (240, 320, 3)


def test_vcam_sink_goes_through_pyvirtualcam_camera(recording_backend):
    sink = VcamSink((320, 240), 30, device="/dev/video-test", backend="recording")
    assert recording_backend.opened == [{"width": 320, "height": 240, "fps": 30, "fourcc": recording_backend.opened[0]
                                         ["fourcc"], "device": "/dev/video-test"}]
    from pyvirtualcam.util import encode_fourcc

    assert recording_backend.opened[0]["fourcc"] == encode_fourcc("24BG")  # BGR, no colour swap needed
    frame = np.zeros((481, 641, 3), np.uint8)
    frame[..., 0] = 255  # blue in BGR
    sink.send(frame)
    sink.send(np.full((240, 320), 50, np.uint8))
    assert [f.shape for _, f in recording_backend.frames] == [(240, 320, 3)] * 2
    assert recording_backend.frames[0][1][120, 160].tolist() == [255, 0, 0]
    sink.close()
    sink.close()
    assert recording_backend.closed == 1


@pytest.mark.parametrize("error, words", [
    (RuntimeError("'recording' backend: Device /dev/video9 does not exist."), ["no virtual camera device", "modprobe"]),
    (RuntimeError("'recording' backend: VIDIOC_S_FMT: [Errno 22] Invalid argument"), ["another format", "--size"]),
    (RuntimeError("'recording' backend: Device or resource busy"), ["busy"]),
])
def test_vcam_open_failures_are_explained(recording_backend, error, words):
    recording_backend.fail_open = error
    with pytest.raises(UserError) as e:
        VcamSink((320, 240), 30, backend="recording")
    assert "\n" not in str(e.value) and all(w in str(e.value) for w in words)


def test_no_loopback_device_here_is_one_line_with_the_fix():
    if "v4l2loopback" not in sinks.virtual_backends():
        pytest.skip("not Linux")
    with pytest.raises(UserError) as e:
        open_sinks(["vcam"], (320, 240), 30)
    msg = str(e.value)
    assert "\n" not in msg and "exclusive_caps=1" in msg


def test_unknown_backend():
    with pytest.raises(UserError, match="unknown virtual camera backend 'nope'"):
        VcamSink((320, 240), 30, backend="nope")


def test_file_sink_records_at_output_size(tmp_path):
    import cv2

    path = tmp_path / "out.mp4"
    sink = FileSink(path, (320, 240), 25)
    for k in range(12):
        sink.send(np.full((100, 100, 3), 20 * k, np.uint8))
    sink.close()
    cap = cv2.VideoCapture(str(path))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 12
    ok, frame = cap.read()
    assert ok and frame.shape == (240, 320, 3)
    assert cap.get(cv2.CAP_PROP_FPS) == pytest.approx(25)
    cap.release()


@pytest.mark.parametrize("spec, match", [
    ("out.mkv", "not a known output"),
    ("missing/out.mp4", "does not exist"),
    ("preview", "needs a display"),
])
def test_bad_outputs(tmp_path, monkeypatch, spec, match):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UserError, match=match):
        open_sinks([spec], (320, 240), 30)


def test_open_sinks_closes_the_opened_ones_when_one_fails(recording_backend, tmp_path, monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    with pytest.raises(UserError):
        open_sinks(["vcam", "null", "preview"], (64, 48), 30, backend="recording")
    assert recording_backend.closed == 1


def test_several_outputs_each_once(recording_backend, tmp_path):
    out = open_sinks(["vcam", "null", str(tmp_path / "a.avi"), "null"], (64, 48), 30, backend="recording")
    try:
        assert [s.name for s in out] == ["vcam", "null", "file a.avi"]
        for s in out:
            s.send(np.zeros((48, 64, 3), np.uint8))
        assert isinstance(out[1], NullSink) and out[1].frames == 1
    finally:
        close_sinks(out)
    assert len(recording_backend.frames) == 1


def test_vcam_write_failure_reopens_with_backoff(recording_backend, monkeypatch):
    import time

    sink = VcamSink((64, 48), 30, backend="recording")
    frame = np.zeros((48, 64, 3), np.uint8)
    sink.send(frame)
    real = sink.cam._backend.send

    def broken(f):
        raise OSError(22, "Invalid argument")

    sink.cam._backend.send = broken  # e.g. an app changed the device format under us
    sink.send(frame)  # logged, not raised
    assert sink.cam is None and sink.failures == 1 and recording_backend.closed == 1
    sink.send(frame)  # too early to retry: dropped
    assert len(recording_backend.opened) == 1
    time.sleep(0.55)
    sink.send(frame)
    assert len(recording_backend.opened) == 2 and len(recording_backend.frames) == 2
    assert real is not None
    sink.close()


def test_vcam_usage_monitor_follows_the_device(recording_backend, monkeypatch):
    import time

    from vcam_sharpen import usage

    opened = []

    class Mon:
        closed = False

        def readers(self):
            return 0

        def close(self):
            self.closed = True

    def fake_open_monitor(device, backend):
        opened.append((device, backend, Mon()))
        return opened[-1][2]

    monkeypatch.setattr(usage, "open_monitor", fake_open_monitor)
    assert VcamSink((64, 48), 30, backend="recording").usage is None and not opened  # not asked to watch
    sink = VcamSink((64, 48), 30, device="/dev/video-w", backend="recording", watch_usage=True)
    assert [(d, b) for d, b, _ in opened] == [("/dev/video-w", "recording")] and sink.usage is opened[0][2]
    frame = np.zeros((48, 64, 3), np.uint8)

    def broken(f):
        raise OSError(19, "No such device")

    sink.cam._backend.send = broken  # the module was reloaded: the device is a new one
    sink.send(frame)
    time.sleep(0.55)
    sink.send(frame)  # reopened: a fresh monitor for the new device, the old one closed
    assert len(opened) == 2 and opened[0][2].closed and sink.usage is opened[1][2]
    sink.close()
    assert opened[1][2].closed and sink.usage is None
    # for real: the recording backend is not v4l2loopback, so nobody can tell who reads it
    monkeypatch.undo()
    assert VcamSink((64, 48), 30, backend="recording", watch_usage=True).usage is None
