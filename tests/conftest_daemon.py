"""Fixtures and helpers for the daemon tests (sources, sinks, pipeline, CLI).

Import what you need: ``from conftest_daemon import ...``. Nothing here needs a webcam,
v4l2loopback or the network: the virtual camera is a recording pyvirtualcam backend
registered through ``pyvirtualcam.register_backend`` and removed again afterwards.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from vcam_sharpen.core import checkpoint, loader
from vcam_sharpen.core.models import create_model
from vcam_sharpen.daemon import lock
from vcam_sharpen.io.sinks import Sink

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
FACE_CLIP = SHARED_DATA / "video" / "face_1280x720.mp4"


requires_face = pytest.mark.skipif(not FACE_CLIP.is_file(), reason=f"{FACE_CLIP} is absent")

# Frame index coding for synthetic videos: 8 bits as black/white 16x16 blocks on the top row.
BITS, CELL = 8, 16


@pytest.fixture(autouse=True)
def daemon_env(tmp_path, monkeypatch):
    """Private XDG runtime/config/cache dirs and no display for every daemon test."""
    for name in ("XDG_RUNTIME_DIR", "XDG_CONFIG_HOME", "XDG_CACHE_HOME"):
        d = tmp_path / name.lower()
        d.mkdir()
        monkeypatch.setenv(name, str(d))
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    return tmp_path


def encode_index(frame: np.ndarray, k: int) -> np.ndarray:
    for b in range(BITS):
        frame[:CELL, b * CELL:(b + 1) * CELL] = 255 if (k >> b) & 1 else 0
    return frame


def decode_index(frame: np.ndarray) -> int:
    """The index :func:`encode_index` wrote (robust to compression and mild blur)."""
    k = 0
    for b in range(BITS):
        cell = frame[CELL // 4: 3 * CELL // 4, b * CELL + CELL // 4:(b + 1) * CELL - CELL // 4]
        if cell.mean() > 127:
            k |= 1 << b
    return k


def write_numbered_video(path: Path, n: int = 30, size: tuple[int, int] = (320, 240), fps: float = 30.0) -> Path:
    """An MJPG ``.avi`` whose frame ``k`` carries ``k`` in its top-left blocks (grey background)."""
    import cv2

    w, h = size
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (w, h))
    assert writer.isOpened()
    for k in range(n):
        frame = np.full((h, w, 3), 128, np.uint8)
        frame[CELL + 8:, :] = 100 + (3 * k) % 150  # content that changes too (never as dark as a placeholder)
        writer.write(encode_index(frame, k))
    writer.release()
    return path


@pytest.fixture
def numbered_video(tmp_path) -> Path:
    return write_numbered_video(tmp_path / "numbered.avi")


@pytest.fixture(scope="session")
def student_weights(tmp_path_factory) -> Path:
    """A freshly initialised checkpoint of the default model (what --weights takes)."""
    import torch

    torch.manual_seed(0)
    return checkpoint.save(tmp_path_factory.mktemp("w") / "student.pt", create_model(loader.DEFAULT_MODEL))


class Recorder:
    """What the recording backend received: ``(monotonic time, frame)`` per send."""

    def __init__(self) -> None:
        self.frames: list[tuple[float, np.ndarray]] = []
        self.opened: list[dict] = []
        self.closed = 0
        self.fail_open: Exception | None = None
        self.lock = threading.Lock()


@pytest.fixture
def recording_backend():
    """Register a pyvirtualcam backend named ``recording`` that keeps every frame; unregistered after."""
    import pyvirtualcam
    from pyvirtualcam.camera import BACKENDS

    rec = Recorder()

    class RecordingBackend:
        def __init__(self, *, width, height, fps, fourcc, device, **kw):
            if rec.fail_open is not None:
                raise rec.fail_open
            self.w, self.h, self.dev = width, height, device or "/dev/video-recording"
            rec.opened.append({"width": width, "height": height, "fps": fps, "fourcc": fourcc, "device": device})

        def send(self, frame):
            with rec.lock:
                rec.frames.append((time.monotonic(), frame.reshape(self.h, self.w, 3).copy()))

        def close(self):
            rec.closed += 1

        def device(self):
            return self.dev

        def native_fourcc(self):
            return None

    previous = BACKENDS.get("recording")
    pyvirtualcam.register_backend("recording", RecordingBackend)
    try:
        yield rec
    finally:  # pyvirtualcam has no public unregister: take it out of the registry again
        if previous is None:
            BACKENDS.pop("recording", None)
        else:
            BACKENDS["recording"] = previous


class ListSink(Sink):
    """A sink that keeps ``(time, frame)`` pairs (frames already fitted by the sharpener)."""

    name = "list"

    def __init__(self, size: tuple[int, int] = (0, 0)) -> None:
        super().__init__(size)
        self.frames: list[tuple[float, np.ndarray]] = []
        self.closed = False

    def send(self, frame):  # any size: a test double that records what the pipeline hands over, unchecked
        self.write(frame)

    def write(self, frame):
        self.frames.append((time.monotonic(), frame.copy()))

    def close(self):
        self.closed = True


def cli_env() -> dict:
    """Environment for ``python -m vcam_sharpen`` subprocesses (the test's XDG dirs, no display)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env.pop("DISPLAY", None)
    env.pop("WAYLAND_DISPLAY", None)
    return env


def vcam(*args, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run ``python -m vcam_sharpen ARGS`` to completion."""
    return subprocess.run([sys.executable, "-m", "vcam_sharpen", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, cwd=REPO, env=cli_env())


class Daemons:
    """Tracks background daemons a test started, and stops them (SIGTERM, then SIGKILL) at teardown."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen] = []

    def popen(self, *args) -> subprocess.Popen:
        p = subprocess.Popen([sys.executable, "-m", "vcam_sharpen", *map(str, args)], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, cwd=REPO, env=cli_env())
        self.procs.append(p)
        return p

    def cleanup(self) -> None:
        import signal

        pid = lock.running_pid()  # one started by `start` (not our child)
        if pid is not None:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            deadline = time.monotonic() + 5
            while lock.running_pid() is not None and time.monotonic() < deadline:
                time.sleep(0.05)
            if lock.running_pid() is not None:
                os.kill(pid, signal.SIGKILL)
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(5)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()


@pytest.fixture
def daemons():
    d = Daemons()
    try:
        yield d
    finally:
        d.cleanup()


def wait_for(predicate, timeout: float = 60.0, every: float = 0.05):
    """Poll ``predicate()`` until truthy (returns it) or fail after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout} s waiting for {predicate}")


def fake_tree(root: Path, loaded: str | None, exclusive: str = "Y") -> tuple[Path, Path]:
    """A fake ``/sys`` and ``/dev`` under ``root``: camera ``video0``, and with ``loaded`` (a
    v4l2loopback version) the module and its loopback device ``video10``."""
    sys_root, dev_root = root / "sys", root / "dev"
    dev_root.mkdir(parents=True)
    (dev_root / "video0").touch()
    (sys_root / "class" / "video4linux" / "video0").mkdir(parents=True)
    (sys_root / "class" / "video4linux" / "video0" / "name").write_text("Integrated Camera\n")
    if loaded is not None:
        mod = sys_root / "module" / "v4l2loopback"
        (mod / "parameters").mkdir(parents=True)
        (mod / "version").write_text(loaded + "\n")
        (mod / "parameters" / "exclusive_caps").write_text(exclusive + "\n")
        (dev_root / "video10").touch()
        v = sys_root / "devices" / "virtual" / "video4linux" / "video10"
        v.mkdir(parents=True)
        (v / "name").write_text("vcam-sharpen\n")
    return sys_root, dev_root
