"""The one place a --source value becomes a source: demo, cameras, files, auto."""

from __future__ import annotations

import pytest
from conftest_daemon import daemon_env, numbered_video  # noqa: F401

from vcam_sharpen.core.errors import UserError
from vcam_sharpen.io import inputs
from vcam_sharpen.io.inputs import default_source, is_camera_spec, open_source, probe_cameras
from vcam_sharpen.io.sources import DemoSource, FileSource


@pytest.mark.parametrize("spec, camera", [("0", True), ("12", True), ("/dev/video2", True), ("/dev/video", False),
                                          ("demo", False), ("clip.mp4", False), ("/dev/videox", False)])
def test_is_camera_spec(spec, camera):
    assert is_camera_spec(spec) is camera


def test_demo_and_files(numbered_video):
    src = open_source(" demo ", size=(64, 48), fps=25, paced=False)
    assert isinstance(src, DemoSource) and src.size == (64, 48) and src.fps == 25 and not src.paced
    f = open_source(str(numbered_video), paced=False)
    assert isinstance(f, FileSource) and f.size == (320, 240) and not f.paced
    f.close()


@pytest.mark.parametrize("spec, words", [
    ("missing.mp4", ["does not exist"]),
    ("/dev/video7", ["no camera /dev/video7", "demo"]),
    ("0", ["no camera /dev/video0", "list-devices"]),
])
def test_open_errors_are_one_line(spec, words, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UserError) as e:
        open_source(spec)
    msg = str(e.value)
    assert "\n" not in msg and all(w in msg for w in words), msg


def test_auto_source_without_camera_is_demo(monkeypatch):
    monkeypatch.setattr(inputs, "camera_devices", lambda: [])
    assert default_source() == "demo"
    assert open_source("auto", size=(64, 48), paced=False).name == "demo"
    monkeypatch.setattr(inputs, "camera_devices", lambda: ["/dev/video2", "/dev/video4"])
    assert default_source() == "/dev/video2"


def test_elsewhere_cameras_are_probed_by_index(monkeypatch):
    import cv2

    class FakeCapture:
        def __init__(self, index):
            self.index = index

        def isOpened(self):
            return self.index in (0, 2)

        def release(self):
            pass

    monkeypatch.setattr(cv2, "VideoCapture", FakeCapture)
    assert probe_cameras() == [0, 2] and probe_cameras(1) == [0]
    monkeypatch.setattr(inputs.sys, "platform", "win32")
    assert default_source() == "0"
    monkeypatch.setattr(FakeCapture, "isOpened", lambda self: False)
    assert default_source() == "demo"
