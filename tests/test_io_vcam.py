"""The virtual camera: the real pyvirtualcam Camera code path (a recording backend), errors, reopening."""

from __future__ import annotations

import os
import time

import numpy as np
import pytest
from conftest_daemon import daemon_env, recording_backend  # noqa: F401

from vcam_sharpen.core.backoff import MIN_S
from vcam_sharpen.core.errors import UserError
from vcam_sharpen.io import vcam
from vcam_sharpen.io.sinks import FrameMismatch
from vcam_sharpen.io.vcam import MODPROBE, MODULE_OPTIONS, VcamSink, vcam_fix, virtual_backends


def test_vcam_sink_goes_through_pyvirtualcam_camera(recording_backend):
    sink = VcamSink((320, 240), 30, device="/dev/video-test", backend="recording")
    assert recording_backend.opened == [{"width": 320, "height": 240, "fps": 30, "fourcc": recording_backend.opened[0]
                                         ["fourcc"], "device": "/dev/video-test"}]
    from pyvirtualcam.util import encode_fourcc

    assert recording_backend.opened[0]["fourcc"] == encode_fourcc("24BG")  # BGR, no colour swap needed
    assert sink.device == "/dev/video-test" and sink.name == "vcam"
    frame = np.zeros((240, 320, 3), np.uint8)
    frame[..., 0] = 255  # blue in BGR
    sink.send(frame)
    sink.send(np.full((240, 320, 3), 50, np.uint8))
    assert [f.shape for _, f in recording_backend.frames] == [(240, 320, 3)] * 2
    assert recording_backend.frames[0][1][120, 160].tolist() == [255, 0, 0]
    assert sink.readers() is None  # not watched
    sink.close()
    sink.close()
    assert recording_backend.closed == 1


@pytest.mark.parametrize("error, words", [
    (RuntimeError("'recording' backend: Device /dev/video9 does not exist."), ["no virtual camera device", "modprobe"]),
    (RuntimeError("'recording' backend: VIDIOC_S_FMT: [Errno 22] Invalid argument"), ["another format", "--size"]),
    (RuntimeError("'recording' backend: Device or resource busy"), ["busy"]),
    (RuntimeError("'recording' backend: [Errno 13] Permission denied"), ["no permission", "usermod"]),
])
def test_vcam_open_failures_are_explained(recording_backend, error, words):
    recording_backend.fail_open = error
    with pytest.raises(UserError) as e:
        VcamSink((320, 240), 30, backend="recording")
    assert "\n" not in str(e.value) and all(w in str(e.value) for w in words)


def test_unknown_backend_and_missing_device():
    with pytest.raises(UserError, match="unknown virtual camera backend 'nope'"):
        VcamSink((320, 240), 30, backend="nope")
    if "v4l2loopback" in virtual_backends():
        with pytest.raises(UserError, match="virtual camera /dev/video99 does not exist") as e:
            VcamSink((320, 240), 30, device="/dev/video99")
        assert "\n" not in str(e.value)


def test_the_fix_names_the_current_options(monkeypatch):
    assert MODPROBE == f"sudo modprobe v4l2loopback {MODULE_OPTIONS}" and "exclusive_caps=1" in MODULE_OPTIONS
    real_exists = os.path.exists
    for loaded in (False, True):
        monkeypatch.setattr(vcam.sys, "platform", "linux")
        monkeypatch.setattr(vcam.os.path, "exists",
                            lambda p, loaded=loaded: loaded if p == "/sys/module/v4l2loopback" else real_exists(p))
        text = vcam_fix()
        assert ("--vcam-device" in text) if loaded else (MODPROBE in text), text
        assert "--device" not in text.replace("--vcam-device", "")
    monkeypatch.setattr(vcam.sys, "platform", "win32")
    assert "OBS" in vcam_fix()


def test_vcam_write_failure_reopens_with_backoff(recording_backend):
    sink = VcamSink((64, 48), 30, backend="recording")
    frame = np.zeros((48, 64, 3), np.uint8)
    sink.send(frame)

    def broken(f):
        raise OSError(22, "Invalid argument")

    sink.cam._backend.send = broken  # e.g. an app changed the device format under us
    sink.send(frame)  # logged, not raised
    assert sink.cam is None and sink.failures == 1 and recording_backend.closed == 1
    sink.send(frame)  # too early to retry: dropped
    assert len(recording_backend.opened) == 1
    time.sleep(MIN_S + 0.05)
    sink.send(frame)
    assert len(recording_backend.opened) == 2 and len(recording_backend.frames) == 2
    assert recording_backend.opened[1] == recording_backend.opened[0]  # the same camera, opened again
    assert sink.cam is not None and sink.failures == 1 and sink._retry.delay == MIN_S  # backoff reset
    sink.send(frame)
    assert len(recording_backend.frames) == 3 and len(recording_backend.opened) == 2  # and it stays open
    sink.close()


def test_vcam_usage_monitor_follows_the_device(recording_backend, monkeypatch):
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

    monkeypatch.setattr(vcam, "open_monitor", fake_open_monitor)
    assert VcamSink((64, 48), 30, backend="recording").usage is None and not opened  # not asked to watch
    sink = VcamSink((64, 48), 30, device="/dev/video-w", backend="recording", watch_usage=True)
    assert [(d, b) for d, b, _ in opened] == [("/dev/video-w", "recording")] and sink.usage is opened[0][2]
    assert sink.readers() == 0
    frame = np.zeros((48, 64, 3), np.uint8)

    def broken(f):
        raise OSError(19, "No such device")

    sink.cam._backend.send = broken  # the module was reloaded: the device is a new one
    sink.send(frame)
    time.sleep(MIN_S + 0.05)
    sink.send(frame)  # reopened: a fresh monitor for the new device, the old one closed
    assert len(opened) == 2 and opened[0][2].closed and sink.usage is opened[1][2]
    sink.close()
    assert opened[1][2].closed and sink.usage is None and sink.readers() is None
    # for real: the recording backend is not v4l2loopback, so nobody can tell who reads it
    monkeypatch.undo()
    assert VcamSink((64, 48), 30, backend="recording", watch_usage=True).usage is None


@pytest.mark.parametrize("frame", [np.zeros((240, 320, 4), np.uint8), np.zeros((480, 640, 3), np.uint8),
                                   np.zeros((240, 320, 3), np.float32), np.zeros((240, 320), np.uint8)])
def test_a_wrong_frame_is_one_error_not_a_reopen_loop(recording_backend, frame):  # noqa: F811
    sink = VcamSink((320, 240), 30, backend="recording")
    for _ in range(3):
        with pytest.raises(FrameMismatch, match="320x240") as e:
            sink.send(frame)
        assert "\n" not in str(e.value)
    assert sink.failures == 0 and recording_backend.closed == 0 and len(recording_backend.opened) == 1
    sink.send(np.zeros((240, 320, 3), np.uint8))  # the device is still open and takes right frames
    assert len(recording_backend.frames) == 1
    sink.close()
