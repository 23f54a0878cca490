"""Webcams through OpenCV: a grabber thread keeps only the newest frame, and a lost camera comes back by itself."""

from __future__ import annotations

import logging
import os
import sys
import threading
import time

import cv2
import numpy as np

from ..core.backoff import Backoff
from ..core.errors import UserError
from .sources import UNAVAILABLE_WAIT_S, Source
from .v4l2 import camera_devices, is_loopback

log = logging.getLogger(__name__)

# A camera that delivers nothing for this long counts as unavailable (placeholder shown).
STALL_S = 1.0
# How long opening a camera may take to deliver its first frame before it counts as busy.
FIRST_FRAME_S = 4.0
# How long close() waits for the grabber thread to let go of the camera.
CLOSE_WAIT_S = 0.5


def _linux_device(spec: str) -> str | None:
    """``/dev/videoN`` for ``"N"`` or ``"/dev/videoN"`` on Linux, else None."""
    if not sys.platform.startswith("linux"):
        return None
    return f"/dev/video{spec}" if spec.isdigit() else spec


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
        backoff = Backoff()
        while not self._closed.is_set():
            cap = self._cap
            if cap is None:
                if self._closed.wait(backoff.failed()):
                    break
                cap = self._open()
                if cap is None:
                    log.info("%s: still unavailable; retrying in %.1f s", self.name, backoff.delay)
                    continue
                log.info("%s is back", self.name)
                backoff.reset()
                self._cap, self.reconnects = cap, self.reconnects + 1
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
        # Waiting longer would break the 2 s shutdown promise: abandon it (a daemon thread; the
        # kernel releases the device when the process exits) and say so.
        self._thread.join(timeout=CLOSE_WAIT_S)
        if self._thread.is_alive():
            log.warning("%s: the grabber is stuck in the driver; abandoned it (the camera is released "
                        "when the process exits)", self.name)


