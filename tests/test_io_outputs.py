"""The one registry of outputs: validating --output values, opening each once, closing on failure."""

from __future__ import annotations

import numpy as np
import pytest
from conftest_daemon import daemon_env, recording_backend  # noqa: F401

from vcam_sharpen.core.errors import UserError
from vcam_sharpen.io.outputs import OUTPUTS, SinkOptions, check_output, close_sinks, open_sink, open_sinks
from vcam_sharpen.io.sinks import NullSink, Sink
from vcam_sharpen.io.vcam import virtual_backends

OPTIONS = SinkOptions((64, 48), 30, backend="recording")


@pytest.mark.parametrize("spec", ["vcam", "null", "preview", " null ", "out.mp4", "clip.AVI", "dir/x.avi"])
def test_check_output_accepts_known_outputs(spec):
    assert check_output(spec) == spec.strip()


@pytest.mark.parametrize("spec", ["out.mov", "camera", "", "x.mp4.txt"])
def test_check_output_rejects_unknown_ones_without_opening_anything(spec, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path / "xdg_config_home")
    with pytest.raises(UserError, match="not a known output") as e:
        check_output(spec)
    msg = str(e.value)
    assert "\n" not in msg and all(name in msg for name in OUTPUTS) and ".mp4" in msg
    assert not list((tmp_path / "xdg_config_home").iterdir())


def test_every_output_has_a_help_line():
    assert {"vcam", "preview", "null"} <= set(OUTPUTS)
    assert all(callable(factory) and help_text for factory, help_text in OUTPUTS.values())


def test_options_reach_the_outputs(recording_backend):
    sink = open_sink("vcam", SinkOptions((320, 240), 25, vcam_device="/dev/video-x", backend="recording"))
    try:
        assert recording_backend.opened[0]["device"] == "/dev/video-x" and recording_backend.opened[0]["fps"] == 25
        assert sink.size == (320, 240)
    finally:
        sink.close()
    assert isinstance(open_sink("null", OPTIONS), NullSink)


@pytest.mark.parametrize("suffix", [".mp4", ".avi"])
def test_a_recording_at_the_output_size_and_rate(tmp_path, suffix):
    import cv2

    path = tmp_path / f"out{suffix}"
    sink = open_sink(str(path), SinkOptions((320, 240), 25))
    assert isinstance(sink, Sink) and sink.name == f"file out{suffix}"
    for k in range(12):
        sink.send(np.full((240, 320, 3), 20 * k, np.uint8))
    sink.close()
    cap = cv2.VideoCapture(str(path))
    assert cap.get(cv2.CAP_PROP_FPS) == pytest.approx(25)
    frames = []
    while (got := cap.read())[0]:
        frames.append(got[1])
    cap.release()
    assert len(frames) == 12 and frames[0].shape == (240, 320, 3)
    assert [int(np.median(f)) for f in frames] == pytest.approx([20 * k for k in range(12)], abs=6)  # lossy


@pytest.mark.parametrize("spec, match", [
    ("out.mov", "not a known output"),
    ("missing/out.mp4", "does not exist"),
    ("preview", "needs a display"),
])
def test_bad_outputs(tmp_path, monkeypatch, spec, match):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UserError, match=match):
        open_sinks([spec], OPTIONS)


def test_no_loopback_device_here_is_one_line_with_the_fix():
    if "v4l2loopback" not in virtual_backends():
        pytest.skip("not Linux")
    with pytest.raises(UserError) as e:
        open_sinks(["vcam"], SinkOptions((320, 240), 30))
    msg = str(e.value)
    assert "\n" not in msg and "exclusive_caps=1" in msg


def test_open_sinks_closes_the_opened_ones_when_one_fails(recording_backend, tmp_path, monkeypatch):
    closed = []
    real_close = NullSink.close
    monkeypatch.setattr(NullSink, "close", lambda self: closed.append(self) or real_close(self))
    with pytest.raises(UserError, match="needs a display"):
        open_sinks(["vcam", "null", "preview", str(tmp_path / "never.avi")], OPTIONS)
    assert recording_backend.closed == 1 and len(closed) == 1  # vcam and null were open: both closed again
    assert not (tmp_path / "never.avi").exists()  # never reached


def test_several_outputs_each_once(recording_backend, tmp_path):
    out = open_sinks(["vcam", "null", str(tmp_path / "a.avi"), "null"], OPTIONS)
    try:
        assert [s.name for s in out] == ["vcam", "null", "file a.avi"]
        for s in out:
            s.send(np.zeros((48, 64, 3), np.uint8))
        assert isinstance(out[1], NullSink)
    finally:
        close_sinks(out)
    assert len(recording_backend.frames) == 1 and recording_backend.closed == 1


def test_close_sinks_goes_on_when_one_fails(caplog):
    class Bad(NullSink):
        name = "bad"

        def close(self):
            raise OSError("device gone")

    good = NullSink((64, 48))
    closed = []
    good.close = lambda: closed.append(True)
    close_sinks([Bad((64, 48)), good])
    assert closed == [True] and "closing bad failed: device gone" in caplog.text
