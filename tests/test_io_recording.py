"""Recordings: they play, they survive a SIGKILL, a full disk ends them without stopping the daemon,
and a command that fails never creates or truncates a file."""

from __future__ import annotations

import errno
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import av
import numpy as np
import pytest
from conftest_daemon import cli_env, daemon_env  # noqa: F401

from vcam_sharpen.core.errors import UserError
from vcam_sharpen.io import recording
from vcam_sharpen.io.recording import RecordingSink

REPO = Path(__file__).resolve().parents[1]


def frames(n: int, size=(64, 48)):
    w, h = size
    for k in range(n):
        f = np.full((h, w, 3), 40, np.uint8)
        f[:, : (k * 3) % w] = 200  # a moving edge, so the codec has something to code
        yield f


def decoded(path: Path) -> list[np.ndarray]:
    out = []
    with av.open(str(path)) as c:
        try:
            for fr in c.decode(video=0):
                out.append(fr.to_ndarray(format="bgr24"))
        except av.FFmpegError:  # a cut-off tail: what came before still counts
            pass
    return out


@pytest.mark.parametrize("suffix", [".mp4", ".mkv", ".avi"])
def test_recording_plays_back_every_frame(tmp_path, suffix):
    path = tmp_path / f"out{suffix}"
    sink = RecordingSink(path, (64, 48), 30)
    sent = list(frames(45))
    for f in sent:
        sink.send(f)
    sink.close()
    sink.close()  # twice is fine
    got = decoded(path)
    assert len(got) == 45 and got[0].shape == (48, 64, 3)
    err = np.abs(got[-1].astype(int) - sent[-1].astype(int)).mean()
    assert err < 8  # lossy, but the same picture


def test_nothing_is_created_until_the_first_frame(tmp_path):
    path = tmp_path / "out.mp4"
    RecordingSink(path, (64, 48), 30).close()
    assert not path.exists()


def test_an_existing_file_is_untouched_when_nothing_is_recorded(tmp_path):
    path = tmp_path / "keep.mp4"
    path.write_bytes(b"precious")
    RecordingSink(path, (64, 48), 30).close()
    assert path.read_bytes() == b"precious"


@pytest.mark.parametrize("name, words", [("nofolder/x.mp4", "does not exist"), ("x.mov", "recordings are"),
                                         ("adir.mp4", "is a folder")])
def test_bad_paths_are_refused_before_anything_is_written(tmp_path, name, words):
    (tmp_path / "adir.mp4").mkdir()
    with pytest.raises(UserError, match=words):
        RecordingSink(tmp_path / name, (64, 48), 30)


def test_a_full_disk_ends_the_recording_not_the_daemon(tmp_path, monkeypatch, caplog):
    path = tmp_path / "full.mp4"
    sink = RecordingSink(path, (64, 48), 30)
    real_open = open
    written = {"n": 0}

    class Full:
        """A file that takes 2 kB, then fails like a full disk."""

        def __init__(self, f):
            self.f = f

        def write(self, data):
            written["n"] += len(data)
            if written["n"] > 2000:
                raise OSError(errno.ENOSPC, "No space left on device")
            return self.f.write(data)

        def __getattr__(self, name):
            return getattr(self.f, name)

    monkeypatch.setattr(recording, "open", lambda p, m: Full(real_open(p, m)), raising=False)
    for f in frames(120):
        sink.send(f)  # never raises
    sink.close()
    assert "stopped after" in caplog.text and "No space left" in caplog.text
    assert 0 < sink.frames < 120


@pytest.mark.slow  # a real process (python -m vcam_sharpen / train): seconds of imports each
@pytest.mark.parametrize("suffix", [".mp4", ".mkv"])
def test_a_killed_daemon_leaves_a_playable_recording(tmp_path, suffix):
    """SIGKILL mid-recording: the file plays up to within about a second of the kill."""
    path = tmp_path / f"crash{suffix}"
    env = {**cli_env(), "XDG_RUNTIME_DIR": str(tmp_path), "XDG_CACHE_HOME": str(tmp_path / "cache"),
           "XDG_CONFIG_HOME": str(tmp_path / "config")}
    p = subprocess.Popen([sys.executable, "-m", "vcam_sharpen", "run", "--source", "demo", "--size", "160x120",
                          "--model", "none", "--output", str(path), "--fps", "30"], cwd=REPO, env=env,
                         stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and (not path.exists() or path.stat().st_size < 1000):
            time.sleep(0.05)
        started = time.monotonic()
        time.sleep(3.0)
        recorded_s = time.monotonic() - started
        os.kill(p.pid, signal.SIGKILL)
        p.wait(10)
    finally:
        if p.poll() is None:
            p.kill()
    got = decoded(path)
    # at 30 fps, at most about a second (one fragment) may be lost, plus the start-up margin
    assert len(got) >= 30 * (recorded_s - 1.5), (len(got), recorded_s)
    assert got[0].shape == (120, 160, 3)


def test_an_existing_recording_is_kept_and_the_new_one_gets_the_next_free_name(tmp_path, caplog):
    take = tmp_path / "take.mp4"
    take.write_bytes(b"yesterday's meeting")
    (tmp_path / "take-1.mp4").write_bytes(b"the day before")
    sink = RecordingSink(take, (64, 48), 30)
    for f in frames(10):
        sink.send(f)
    sink.close()
    assert take.read_bytes() == b"yesterday's meeting"
    assert (tmp_path / "take-1.mp4").read_bytes() == b"the day before"
    assert sink.path == tmp_path / "take-2.mp4" and len(decoded(sink.path)) == 10
    assert "take.mp4 exists: recording to take-2.mp4 instead" in caplog.text


@pytest.mark.parametrize("kind", ["fifo", "socket", "link-to-fifo"])
def test_only_regular_files_are_recorded_to(tmp_path, kind):
    """A FIFO nobody reads would block the first write for ever (and SIGTERM with it): refused up front."""
    import socket

    path = tmp_path / "x.mp4"
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "socket":
        s = socket.socket(socket.AF_UNIX)
        s.bind(str(path))
    else:
        os.mkfifo(tmp_path / "pipe")
        path.symlink_to(tmp_path / "pipe")
    with pytest.raises(UserError, match="not a regular file"):
        RecordingSink(path, (64, 48), 30)


@pytest.mark.parametrize("suffix", [".mp4", ".mkv", ".avi"])
@pytest.mark.parametrize("room", [30_000, 120_000])
def test_a_full_disk_reports_only_frames_that_really_play(tmp_path, monkeypatch, caplog, suffix, room):
    """The count in the message is a promise: at least that many frames decode from what reached the disk."""
    path = tmp_path / f"full{suffix}"
    sink = RecordingSink(path, (320, 240), 30)
    real_open = open
    written = {"n": 0}

    class Full:
        def __init__(self, f):
            self.f = f

        def write(self, data):
            room_left = room - written["n"]
            if len(data) > room_left:  # a full disk takes what fits, then refuses
                self.f.write(bytes(data)[:max(0, room_left)])
                written["n"] = room
                raise OSError(errno.ENOSPC, "No space left on device")
            written["n"] += len(data)
            return self.f.write(data)

        def __getattr__(self, name):
            return getattr(self.f, name)

    monkeypatch.setattr(recording, "open", lambda p, m: Full(real_open(p, m)), raising=False)
    monkeypatch.setattr(recording, "SYNC_EVERY_S", 0.0)  # as when frames come in real time
    rng = np.random.default_rng(0)
    for _ in range(200):
        sink.send(rng.integers(0, 256, (240, 320, 3), np.uint8))
    sink.close()
    m = re.search(r"at least its first (\d+) frames", caplog.text)
    assert m, caplog.text
    promised = int(m.group(1))
    assert promised == sink.durable <= sink.frames < 200
    assert len(decoded(path)) >= promised
