"""Where frames come from: a webcam, a video file, or the built-in ``demo`` scene.

Every source has the same small interface (:class:`Source`)::

    src = open_source("0")            # or "/dev/video2", "clip.mp4", "demo"
    frame = src.read()                # newest BGR uint8 (H, W, 3) frame, or None
    src.size, src.fps, src.name       # what was granted (a camera may refuse 1280x720)
    src.close()

``read()`` behaves like a camera: it returns the newest frame, waiting at most until the
next one is due, and never a stale one (a camera's grabber thread and a paced file both
skip what arrived while the caller was busy; ``dropped`` counts those). It returns
``None`` while the source is unavailable (camera unplugged, stalled for a second,
undecodable file) after waiting a short while, so a caller looping on it never spins.
A lost camera is reopened in the background with backoff 0.5 s -> 5 s.

Only this module and :mod:`vcam_sharpen.sinks` import OpenCV's capture/windowing side.
"""

from __future__ import annotations

import logging
import math
import os
import re
import sys
import threading
import time
from pathlib import Path

import numpy as np

from .errors import UserError

log = logging.getLogger(__name__)

# How long read() waits while the source is unavailable, so callers never busy-loop.
UNAVAILABLE_WAIT_S = 0.1
# A camera that delivers nothing for this long counts as unavailable (placeholder shown).
STALL_S = 1.0
# Reconnect backoff for a lost camera.
BACKOFF_MIN_S, BACKOFF_MAX_S = 0.5, 5.0
# How long opening a camera may take to deliver its first frame before it counts as busy.
FIRST_FRAME_S = 4.0


class Source:
    """Base class: a stream of BGR uint8 frames."""

    name: str = "source"
    size: tuple[int, int] = (0, 0)  # (width, height) granted
    fps: float = 30.0  # frame rate granted
    dropped: int = 0  # frames skipped because a newer one was available

    def read(self) -> np.ndarray | None:
        """The newest frame (``(H, W, 3)`` BGR uint8), or ``None`` while unavailable."""
        raise NotImplementedError

    def close(self) -> None:
        """Release the device or file; safe to call twice."""

    def __enter__(self) -> "Source":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        w, h = self.size
        return f"<{type(self).__name__} {self.name} {w}x{h}@{self.fps:g}>"


class _Pacer:
    """Maps wall-clock time to a frame index at ``fps`` (for paced files and the demo)."""

    def __init__(self, fps: float) -> None:
        self.fps = fps
        self.t0: float | None = None
        self.next = 0  # index of the next frame to hand out

    def due(self) -> int:
        """Wait until frame ``next`` is due; return the newest index due now (>= next)."""
        now = time.monotonic()
        if self.t0 is None:
            self.t0 = now
        wait = self.t0 + self.next / self.fps - now
        if wait > 0:
            time.sleep(wait)
            return self.next
        return max(self.next, int((now - self.t0) * self.fps))


# --------------------------------------------------------------------------- demo


class DemoSource(Source):
    """A moving head-and-shoulders scene: scikit-image's astronaut, panned and zoomed smoothly.

    Frame ``k`` is a deterministic function of ``k`` (time ``k / fps``), rendered at the
    requested size with a bicubic warp, so it runs anywhere without a camera or files.
    """

    def __init__(self, size: tuple[int, int] = (1280, 720), fps: float = 30.0, paced: bool = True) -> None:
        import cv2
        from skimage import data

        self.name, self.size, self.fps, self.paced = "demo", (int(size[0]), int(size[1])), float(fps), paced
        self._img = cv2.cvtColor(np.ascontiguousarray(data.astronaut()), cv2.COLOR_RGB2BGR)
        self._pacer = _Pacer(self.fps)
        self.dropped = 0

    def frame_at(self, k: int) -> np.ndarray:
        """Render frame ``k``."""
        import cv2

        w, h = self.size
        ih, iw = self._img.shape[:2]
        t = k / self.fps
        # Crop window of the output's aspect ratio around the head and shoulders,
        # drifting and breathing slowly (periods of a few seconds, like a person on a call).
        aspect = w / h
        full_w = min(iw, ih * aspect)
        cw = full_w * (0.86 + 0.08 * math.sin(2 * math.pi * t / 9.0))
        ch = cw / aspect
        cx = iw * 0.50 + 0.05 * iw * math.sin(2 * math.pi * t / 7.0)
        cy = ih * 0.27 + 0.03 * ih * math.sin(2 * math.pi * t / 5.0 + 1.0)
        cx = min(max(cx, cw / 2), iw - cw / 2)
        cy = min(max(cy, ch / 2), ih - ch / 2)
        s = w / cw
        m = np.array([[s, 0.0, w / 2 - s * cx], [0.0, s, h / 2 - s * cy]], np.float64)
        return cv2.warpAffine(self._img, m, (w, h), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT_101)

    def read(self) -> np.ndarray | None:
        if self.paced:
            k = self._pacer.due()
            self.dropped += k - self._pacer.next
        else:
            k = self._pacer.next
        self._pacer.next = k + 1
        return self.frame_at(k)


# --------------------------------------------------------------------------- video file


class FileSource(Source):
    """A video file, looped; paced at its own frame rate, or as fast as it decodes."""

    def __init__(self, path: Path, paced: bool = True) -> None:
        import cv2

        self.path = Path(path)
        if not self.path.is_file():
            raise UserError(f"video file {self.path} does not exist; pass an existing file, a camera (0) or demo")
        self._cap = cv2.VideoCapture(str(self.path))
        ok, first = self._cap.read() if self._cap.isOpened() else (False, None)
        if not ok or first is None:
            self._cap.release()
            raise UserError(f"cannot decode video {self.path}; convert it with: ffmpeg -i {self.path.name} out.mp4")
        fps = self._cap.get(cv2.CAP_PROP_FPS)
        self.fps = float(fps) if fps and 1.0 <= fps <= 1000.0 else 30.0
        self.size = (first.shape[1], first.shape[0])
        self.name, self.paced, self.dropped = f"file {self.path.name}", paced, 0
        self._pending = first  # the first frame is already decoded
        self._pacer = _Pacer(self.fps)
        self._failed = False

    def _next(self, decode: bool = True) -> np.ndarray | None:
        """Decode (or just skip, ``decode=False``) the next frame, looping at the end."""
        if self._pending is not None:
            frame, self._pending = self._pending, None
            return frame
        for attempt in range(2):
            if decode:
                ok, frame = self._cap.read()
            else:
                ok, frame = self._cap.grab(), True
            if ok:
                return frame
            if attempt == 0:  # end of file: rewind once and retry
                import cv2

                self._cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
        return None

    def read(self) -> np.ndarray | None:
        if self._cap is None:
            return None
        if self.paced:
            k = self._pacer.due()
            for _ in range(k - self._pacer.next):  # late: skip to the frame due now
                self._next(decode=False)
                self.dropped += 1
            self._pacer.next = k + 1
        frame = self._next()
        if frame is None:
            if not self._failed:
                log.warning("%s: decoding failed", self.name)
            self._failed = True
            time.sleep(UNAVAILABLE_WAIT_S)
        return frame

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None


# --------------------------------------------------------------------------- camera


def _linux_device(spec: str) -> str | None:
    """``/dev/videoN`` for ``"N"`` or ``"/dev/videoN"`` on Linux, else None."""
    if not sys.platform.startswith("linux"):
        return None
    return f"/dev/video{spec}" if spec.isdigit() else spec


def is_loopback(dev: str, sys_root: Path = Path("/sys")) -> bool:
    """Whether ``/dev/videoN`` is a v4l2loopback (virtual) device, by sysfs under ``sys_root``."""
    name = Path(dev).name
    if (sys_root / "devices" / "virtual" / "video4linux" / name).exists():
        return True
    try:
        return "virtual" in str((sys_root / "class" / "video4linux" / name).resolve())
    except OSError:
        return False


def device_number(path: Path) -> int:
    """N of ``/dev/videoN`` (the sort key for device lists)."""
    return int(re.sub(r"\D", "", path.name) or 0)


def camera_devices() -> list[str]:
    """Capture devices present on Linux (``/dev/videoN`` that are not loopback outputs), sorted by N."""
    if not sys.platform.startswith("linux"):
        return []
    devs = sorted(Path("/dev").glob("video[0-9]*"), key=device_number)
    return [str(d) for d in devs if not is_loopback(str(d))]


class CameraSource(Source):
    """A webcam through OpenCV; a grabber thread keeps only the newest frame."""

    def __init__(self, spec: str, size: tuple[int, int] = (1280, 720), fps: float = 30.0) -> None:
        self.spec, self.request = spec, (int(size[0]), int(size[1]), float(fps))
        self.dev = _linux_device(spec)
        self.name = f"camera {self.dev or spec}"
        self._check_device()
        self._cond = threading.Condition()
        self._frame: np.ndarray | None = None
        self._seq = self._taken = 0
        self._closed = threading.Event()
        self.dropped, self.lost, self.reconnects = 0, False, 0
        cap = self._open()
        if cap is None:
            raise UserError(self._open_error)
        first = self._first_frame(cap)
        if first is None:
            cap.release()
            raise UserError(f"{self.name} opened but gives no frames: it is busy (another app uses it) or broken; "
                            f"close other video apps" + (f" (find them with: fuser {self.dev})" if self.dev else ""))
        self._cap = cap
        self._publish(first)
        self._thread = threading.Thread(target=self._grab_loop, name="camera-grabber", daemon=True)
        self._thread.start()

    # -- opening

    def _check_device(self) -> None:
        if self.dev is None:
            if not self.spec.isdigit():
                raise UserError(f"camera {self.spec!r} not understood; "
                                "pass a camera index like 0, a video file, or demo")
            return
        if not os.path.exists(self.dev):
            have = ", ".join(camera_devices()) or "none"
            raise UserError(f"no camera {self.dev} (cameras found: {have}); pick one with --source, "
                            f"see vcam-sharpen list-devices, or use --source demo")
        if is_loopback(self.dev):
            raise UserError(f"{self.dev} is a virtual (v4l2loopback) device, not a camera; pick the real camera "
                            f"with --source (see vcam-sharpen list-devices)")
        if not os.access(self.dev, os.R_OK | os.W_OK):
            raise UserError(f"no permission to open {self.dev}: "
                            "run `sudo usermod -aG video $USER`, then log out and in")

    def _open(self):
        """A configured ``cv2.VideoCapture``, or None (reason in ``_open_error``)."""
        import cv2

        w, h, fps = self.request
        if self.dev is not None:
            cap = cv2.VideoCapture(self.dev, cv2.CAP_V4L2)
        else:
            cap = cv2.VideoCapture(int(self.spec))
        if not cap.isOpened():
            cap.release()
            self._open_error = (f"cannot open {self.name}: it is missing, busy or not permitted; "
                                f"run vcam-sharpen doctor, or use --source demo")
            return None
        if w >= 1280 or h >= 720:  # raw YUYV at 720p is limited to ~10 fps over USB 2
            cap.set(cv2.CAP_PROP_FOURCC, cv2.VideoWriter_fourcc(*"MJPG"))
        cap.set(cv2.CAP_PROP_FRAME_WIDTH, w)
        cap.set(cv2.CAP_PROP_FRAME_HEIGHT, h)
        cap.set(cv2.CAP_PROP_FPS, fps)
        cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)
        gw, gh = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        gfps = cap.get(cv2.CAP_PROP_FPS)
        self.size = (gw, gh) if gw > 0 and gh > 0 else (w, h)
        self.fps = float(gfps) if gfps and gfps > 0 else fps
        log.info("%s: asked %dx%d@%g, granted %dx%d@%g", self.name, w, h, fps, *self.size, self.fps)
        if self.size != (w, h):
            log.warning("%s gives %dx%d, not %dx%d; frames are scaled to the output size", self.name, *self.size, w, h)
        return cap

    def _first_frame(self, cap) -> np.ndarray | None:
        deadline = time.monotonic() + FIRST_FRAME_S
        while time.monotonic() < deadline:
            ok, frame = cap.read()
            if ok and frame is not None:
                self.size = (frame.shape[1], frame.shape[0])
                return frame
            time.sleep(0.05)
        return None

    # -- grabbing

    def _publish(self, frame: np.ndarray) -> None:
        with self._cond:
            if self._seq > self._taken:
                self.dropped += 1  # the previous frame was never read
            self._frame, self._seq = frame, self._seq + 1
            self._cond.notify_all()

    def _grab_loop(self) -> None:
        backoff = BACKOFF_MIN_S
        while not self._closed.is_set():
            cap = self._cap
            if cap is None:
                if self._closed.wait(backoff):
                    break
                cap = self._open()
                if cap is None:
                    log.info("%s: still unavailable; retrying in %.1f s", self.name, min(backoff * 2, BACKOFF_MAX_S))
                    backoff = min(backoff * 2, BACKOFF_MAX_S)
                    continue
                log.warning("%s is back", self.name)
                self._cap, backoff, self.reconnects = cap, BACKOFF_MIN_S, self.reconnects + 1
            ok, frame = cap.read()
            if self._closed.is_set():
                break
            if ok and frame is not None:
                self.lost = False
                self._publish(frame)
                continue
            log.warning("%s lost; reconnecting", self.name)
            self.lost, self._cap = True, None
            cap.release()
            with self._cond:
                self._cond.notify_all()
        cap = self._cap
        self._cap = None
        if cap is not None:
            cap.release()

    def read(self) -> np.ndarray | None:
        with self._cond:
            was_lost = self.lost
            timeout = UNAVAILABLE_WAIT_S if was_lost else STALL_S
            # wake for a new frame, on close, or the moment the grabber notices the camera is gone
            self._cond.wait_for(lambda: self._seq > self._taken or self._closed.is_set()
                                or (self.lost and not was_lost), timeout)
            if self._seq > self._taken and not self._closed.is_set():
                self._taken = self._seq
                return self._frame
        return None

    def close(self) -> None:
        if self._closed.is_set():
            return
        self._closed.set()
        with self._cond:
            self._cond.notify_all()
        # cap.read() may block inside the driver; the thread releases the camera when it returns.
        self._thread.join(timeout=1.5)
        if self._thread.is_alive():
            log.warning("%s: the grabber is stuck in the driver; the camera is released at exit", self.name)


# --------------------------------------------------------------------------- factory


def is_camera_spec(spec: str) -> bool:
    return spec.isdigit() or bool(re.fullmatch(r"/dev/video\d+", spec))


def probe_cameras(limit: int = 4) -> list[int]:
    """OpenCV camera indices that open (for systems without ``/dev/video*``: Windows, macOS)."""
    import cv2

    found = []
    for i in range(limit):
        cap = cv2.VideoCapture(i)
        if cap.isOpened():
            found.append(i)
        cap.release()
    return found


def default_source() -> str:
    """The first camera if one exists, else ``"demo"`` (so the daemon runs anywhere)."""
    if sys.platform.startswith("linux"):
        cams = camera_devices()
        return cams[0] if cams else "demo"
    return "0" if probe_cameras(1) else "demo"


def open_source(spec: str, size: tuple[int, int] = (1280, 720), fps: float = 30.0, paced: bool = True) -> Source:
    """Open a frame source.

    Args:
        spec: ``"demo"``; a camera as an index (``"0"``) or ``"/dev/videoN"``; or a video file path.
            ``"auto"`` picks the first camera, or ``demo`` when there is none.
        size: requested ``(width, height)``; the demo renders at it, a camera is asked for it
            (``.size`` says what it granted), a file keeps its own size.
        fps: requested rate for the demo and a camera; a file plays at its own rate.
        paced: for the demo and files: hand out frames in real time (``True``) or as fast as
            they are asked for (``False``, for benchmarks). Cameras are always real time.

    Raises:
        UserError: a missing file or camera, a busy or unreadable one; the message says the fix.
    """
    spec = str(spec).strip()
    if spec == "auto":
        spec = default_source()
    if spec == "demo":
        return DemoSource(size, fps, paced)
    if is_camera_spec(spec):
        return CameraSource(spec, size, fps)
    return FileSource(Path(spec).expanduser(), paced)
