"""Where frames come from: the interface every source implements, the demo scene and video files.

Every source has the same small interface (:class:`Source`)::

    src = open_source("0")            # vcam_sharpen.io.inputs: "0", "/dev/video2", "clip.mp4", "demo"
    frame = src.read()                # newest BGR uint8 (H, W, 3) frame, or None
    src.size, src.fps, src.name       # what was granted (a camera may refuse 1280x720)
    src.close()

``read()`` behaves like a camera: it returns the newest frame, waiting at most until the
next one is due, and never a stale one (a camera's grabber thread and a paced file both
skip what arrived while the caller was busy; ``dropped`` counts those). It returns
``None`` while the source is unavailable (camera unplugged, stalled for a second,
undecodable file) after waiting a short while, so a caller looping on it never spins.
Webcams are in :mod:`vcam_sharpen.io.camera`.
"""

from __future__ import annotations

import logging
import math
import time
from abc import ABC, abstractmethod
from pathlib import Path

import av
import cv2
import numpy as np

from ..core.errors import UserError, one_line

log = logging.getLogger(__name__)

# How long read() waits while the source is unavailable, so callers never busy-loop.
UNAVAILABLE_WAIT_S = 0.1
MIN_SIDE = 16  # the smallest source frame side accepted


class Source(ABC):
    """A stream of BGR uint8 frames (see the module docstring)."""

    name: str = "source"
    size: tuple[int, int] = (0, 0)  # (width, height) granted
    fps: float = 30.0  # frame rate granted
    dropped: int = 0  # frames skipped because a newer one was available

    lost: bool = False  # unavailable right now (the pipeline shows a placeholder)

    @abstractmethod
    def read(self) -> np.ndarray | None:
        """The newest frame (``(H, W, 3)`` BGR uint8), or ``None`` while unavailable."""

    def close(self) -> None:
        """Release the device or file; safe to call twice."""

    def __enter__(self) -> "Source":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        w, h = self.size
        return f"<{type(self).__name__} {self.name} {w}x{h}@{self.fps:g}>"


class Pacer:
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


class DemoSource(Source):
    """A moving head-and-shoulders scene: scikit-image's astronaut, panned and zoomed smoothly.

    Frame ``k`` is a deterministic function of ``k`` (time ``k / fps``), rendered at the
    requested size with a bicubic warp, so it runs anywhere without a camera or files.
    """

    def __init__(self, size: tuple[int, int] = (1280, 720), fps: float = 30.0, paced: bool = True) -> None:
        from skimage import data  # lazy: scikit-image takes ~1 s to import, and only the demo needs it

        self.name, self.size, self.fps, self.paced = "demo", (int(size[0]), int(size[1])), float(fps), paced
        self._img = cv2.cvtColor(np.ascontiguousarray(data.astronaut()), cv2.COLOR_RGB2BGR)
        self._pacer = Pacer(self.fps)
        self.dropped = 0

    def frame_at(self, k: int) -> np.ndarray:
        """Render frame ``k``."""
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


# FFmpeg demuxers that read one picture: a still image loops as a source that is lost forever.
STILL_FORMATS = ("image2", "png_pipe", "jpeg_pipe", "bmp_pipe", "webp_pipe", "tiff_pipe", "gif", "pgm_pipe",
                 "ppm_pipe", "qoi_pipe")


def check_frame_size(width: int, height: int, path) -> None:
    """A one-line UserError for a picture smaller than MIN_SIDE pixels a side (a 1x1 video cannot even be
    halved for --degrade 2, and nothing that small is a picture to sharpen)."""
    if width < MIN_SIDE or height < MIN_SIDE:
        raise UserError(f"{path} is {width}x{height} pixels, too small to sharpen (at least {MIN_SIDE}x{MIN_SIDE}); "
                        f"pass a real video or picture")


def check_video_file(path: Path) -> None:
    """A one-line UserError unless ``path`` is a video file FFmpeg can decode.

    Probed with PyAV (FFmpeg, silent) before OpenCV opens it, so an undecodable file gives our
    message alone, not FFmpeg's log line first, and a still image is refused instead of
    playing as a source that never delivers a second frame.
    """
    fix = "pass a video file, a camera (0) or demo"
    if not path.exists():
        raise UserError(f"video file {path} does not exist; {fix}")
    if path.is_dir():
        raise UserError(f"{path} is a folder, not a video file; {fix}")
    if not path.is_file():
        raise UserError(f"{path} is not a regular file (a device or a pipe); {fix}")
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise UserError(f"{path} has no video stream (audio only?); {fix}")
            still = container.format.name in STILL_FORMATS or container.streams.video[0].frames == 1
            first = next(container.decode(video=0))
    except (av.FFmpegError, StopIteration, UnicodeDecodeError) as e:
        why = one_line(e, 100).split(": '")[0]  # FFmpeg names the file again: once is enough
        raise UserError(f"cannot decode video {path} ({why}); convert it with: "
                        f"ffmpeg -i {path.name} out.mp4") from None
    check_frame_size(first.width, first.height, path)
    if still:
        raise UserError(f"{path} is a still image, not a video; make one with: ffmpeg -loop 1 -i {path.name} "
                        f"-t 10 -pix_fmt yuv420p still.mp4, or use --source demo")


class FileSource(Source):
    """A video file, looped; paced at its own frame rate, or as fast as it decodes."""

    def __init__(self, path: Path, paced: bool = True) -> None:
        self.path = Path(path)
        check_video_file(self.path)
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
        self._pacer = Pacer(self.fps)
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
