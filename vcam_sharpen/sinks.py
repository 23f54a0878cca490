"""Where frames go: the virtual camera, a preview window, a video file, or nowhere.

Every sink takes ``(H, W, 3)`` BGR uint8 frames of any size (grey and BGRA too) and
fits them to its own output size (letterboxed, aspect kept)::

    sinks = open_sinks(["vcam", "preview"], size=(1280, 720), fps=30)
    for s in sinks: s.send(frame)
    close_sinks(sinks)

``--output`` values: ``vcam`` (pyvirtualcam: v4l2loopback on Linux, the OBS virtual
camera on Windows/macOS), ``preview`` (an OpenCV window; q or Esc quits), ``null``
(discard; for tests and benchmarks) or a file name ending in ``.mp4`` / ``.avi``.

Only this module and :mod:`vcam_sharpen.sources` import pyvirtualcam or OpenCV's
windowing side; drawing the placeholder frame lives here too.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from pathlib import Path

import numpy as np

from .doctor import MODPROBE
from .errors import UserError

log = logging.getLogger(__name__)

RETRY_MIN_S, RETRY_MAX_S = 0.5, 5.0
FILE_SUFFIXES = {".mp4": "mp4v", ".avi": "MJPG"}


def fit(frame: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``frame`` as ``(h, w, 3)`` BGR uint8 for ``size=(w, h)``: scaled to fit, black bars, aspect kept."""
    import cv2

    frame = np.asarray(frame)
    if frame.ndim == 2 or frame.shape[2] == 1:
        frame = cv2.cvtColor(frame.reshape(frame.shape[:2]), cv2.COLOR_GRAY2BGR)
    elif frame.shape[2] == 4:
        frame = cv2.cvtColor(frame, cv2.COLOR_BGRA2BGR)
    w, h = size
    fh, fw = frame.shape[:2]
    if (fw, fh) == (w, h):
        return np.ascontiguousarray(frame)
    s = min(w / fw, h / fh)
    nw, nh = max(1, min(w, round(fw * s))), max(1, min(h, round(fh * s)))
    scaled = cv2.resize(frame, (nw, nh), interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
    if (nw, nh) == (w, h):
        return scaled
    out = np.zeros((h, w, 3), np.uint8)
    x0, y0 = (w - nw) // 2, (h - nh) // 2
    out[y0:y0 + nh, x0:x0 + nw] = scaled
    return out


def placeholder(last: np.ndarray | None, size: tuple[int, int], message: str) -> np.ndarray:
    """The frame shown while the camera is away: the last picture dimmed, with ``message``."""
    import cv2

    w, h = size
    frame = (fit(last, size) // 3) if last is not None else np.full((h, w, 3), 32, np.uint8)
    scale = max(0.5, w / 1280 * 1.2)
    thick = max(1, round(2 * scale))
    font = cv2.FONT_HERSHEY_SIMPLEX
    (tw, th), _ = cv2.getTextSize(message, font, scale, thick)
    if tw > w * 0.9:  # long message on a small frame: shrink to fit
        scale *= w * 0.9 / tw
        (tw, th), _ = cv2.getTextSize(message, font, scale, thick)
    org = ((w - tw) // 2, (h + th) // 2)
    cv2.putText(frame, message, org, font, scale, (0, 0, 0), thick + 3, cv2.LINE_AA)
    cv2.putText(frame, message, org, font, scale, (255, 255, 255), thick, cv2.LINE_AA)
    return frame


class Sink:
    """Base class: consumes frames of the output size."""

    name = "sink"
    quit_requested = False  # a preview window whose user pressed q
    usage = None  # a vcam_sharpen.usage.UsageMonitor, if the sink can tell how many apps read it

    def __init__(self, size: tuple[int, int]) -> None:
        self.size = (int(size[0]), int(size[1]))
        self.frames = 0

    def send(self, frame: np.ndarray) -> None:
        self._send(fit(frame, self.size))
        self.frames += 1

    def _send(self, frame: np.ndarray) -> None:
        raise NotImplementedError

    def close(self) -> None:
        """Release the device / window / file; safe to call twice."""

    def __enter__(self) -> "Sink":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class NullSink(Sink):
    """Discards frames (counts them)."""

    name = "null"

    def _send(self, frame: np.ndarray) -> None:
        pass


def _one_line(e: BaseException) -> str:
    text = " ".join(str(e).split())
    return text[:200] or type(e).__name__


def vcam_fix() -> str:
    """How to get a virtual camera device on this system (one clause)."""
    if sys.platform.startswith("linux"):
        if not os.path.exists("/sys/module/v4l2loopback"):
            return f"load v4l2loopback: {MODPROBE} (details: vcam-sharpen doctor)"
        return "check the device with vcam-sharpen doctor; pass --device /dev/videoN of the loopback device"
    return "install OBS Studio (28+) and click Start Virtual Camera once, then stop it (details: vcam-sharpen doctor)"


class VcamSink(Sink):
    """The virtual camera (``pyvirtualcam.Camera`` fed BGR frames)."""

    name = "vcam"

    def __init__(self, size: tuple[int, int], fps: float, device: str | None = None,
                 backend: str | None = None, watch_usage: bool = False) -> None:
        super().__init__(size)
        import pyvirtualcam
        from pyvirtualcam.camera import BACKENDS

        if backend is not None and backend not in BACKENDS:
            have = ", ".join(sorted(BACKENDS)) or "none on this system"
            raise UserError(f"unknown virtual camera backend {backend!r}; choose from: {have}")
        if not BACKENDS:
            raise UserError(f"no virtual camera backend on this system; {vcam_fix()}")
        if device is not None and sys.platform.startswith("linux") and device.startswith("/dev/") \
                and not os.path.exists(device) and backend in (None, "v4l2loopback"):
            raise UserError(f"virtual camera {device} does not exist; {vcam_fix()}")
        self.fps, self.want_device, self.backend = fps, device, backend
        self.failures, self._retry_at, self._backoff = 0, 0.0, RETRY_MIN_S
        try:
            self.cam = self._open()
        except Exception as e:  # pyvirtualcam reports every failure as RuntimeError with one line per backend
            raise UserError(self._explain(e, device)) from None
        self.device = self.cam.device
        log.info("virtual camera %s (%s backend) %dx%d@%g", self.device, self.cam.backend, *self.size, fps)
        self.watch_usage = watch_usage
        self._watch()

    def _watch(self) -> None:
        """(Re)start counting the apps that read the device, when asked to and the backend can tell."""
        if not self.watch_usage:
            return
        from .usage import open_monitor

        if self.usage is not None:
            self.usage.close()
        self.usage = open_monitor(self.cam.device, self.cam.backend)

    def _open(self):
        import pyvirtualcam

        w, h = self.size
        return pyvirtualcam.Camera(width=w, height=h, fps=self.fps, fmt=pyvirtualcam.PixelFormat.BGR,
                                   device=self.want_device, backend=self.backend)

    def _explain(self, e: Exception, device: str | None) -> str:
        msg = _one_line(e)
        low = msg.lower()
        if any(k in low for k in ("no v4l2 loopback", "does not exist", "no such", "not found", "not installed",
                                  "not a video output", "not a v4l2")):
            return f"no virtual camera device ({msg}); {vcam_fix()}"
        if "busy" in low or "errno 16" in low:
            return f"virtual camera is busy ({msg}); stop the other program writing to it"
        if "errno 22" in low or "invalid argument" in low or "format" in low:
            return (f"virtual camera refused {self.size[0]}x{self.size[1]} ({msg}); an app still holds it at "
                    f"another format: close the meeting app (or reload v4l2loopback), or match its size with --size")
        if "permission" in low or "errno 13" in low:
            return (f"no permission to write the virtual camera ({msg}); "
                    "run `sudo usermod -aG video $USER`, then log out and in")
        return f"cannot open the virtual camera ({msg}); {vcam_fix()}"

    def _send(self, frame: np.ndarray) -> None:
        """Write a frame; a failed write (device gone, format changed under us) closes the device and
        reopens it with backoff 0.5 s -> 5 s, dropping frames meanwhile instead of stopping the daemon."""
        now = time.monotonic()
        if self.cam is None:
            if now < self._retry_at:
                return
            try:
                self.cam = self._open()
            except Exception as e:  # noqa: BLE001 - keep trying
                self._backoff = min(self._backoff * 2, RETRY_MAX_S)
                self._retry_at = now + self._backoff
                log.info("virtual camera still unavailable (%s)", _one_line(e))
                return
            log.warning("virtual camera %s reopened", self.cam.device)
            self._backoff = RETRY_MIN_S
            self._watch()  # the old descriptor may belong to a device that was removed and recreated
        try:
            self.cam.send(frame)
        except Exception as e:  # noqa: BLE001
            self.failures += 1
            log.warning("virtual camera write failed (%s); reopening it", _one_line(e))
            cam, self.cam = self.cam, None
            try:
                cam.close()
            except Exception:  # noqa: BLE001
                pass
            self._retry_at = now + self._backoff

    def close(self) -> None:
        usage, self.usage = getattr(self, "usage", None), None
        if usage is not None:
            usage.close()
        cam, self.cam = getattr(self, "cam", None), None
        if cam is not None:
            cam.close()


def has_display() -> bool:
    """Whether a window can be opened (always true on Windows/macOS)."""
    if not sys.platform.startswith("linux"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


class PreviewSink(Sink):
    """An OpenCV window; q or Esc in it stops the daemon."""

    name = "preview"
    title = "vcam-sharpen preview (q quits)"

    def __init__(self, size: tuple[int, int]) -> None:
        super().__init__(size)
        import cv2

        if not has_display():
            raise UserError("--output preview needs a display (no $DISPLAY / $WAYLAND_DISPLAY); "
                            "record to a file instead: --output out.mp4")
        try:
            cv2.namedWindow(self.title, cv2.WINDOW_NORMAL)
            cv2.resizeWindow(self.title, *self.size)
        except cv2.error:
            raise UserError("--output preview needs OpenCV with windows: pip install opencv-python "
                            "(this one is opencv-python-headless); or use --output out.mp4") from None
        self._open = True

    def _send(self, frame: np.ndarray) -> None:
        import cv2

        if not self._open:
            return
        cv2.imshow(self.title, frame)
        key = cv2.waitKey(1) & 0xFF
        if key in (ord("q"), 27):
            self.quit_requested = True

    def close(self) -> None:
        if getattr(self, "_open", False):
            import cv2

            self._open = False
            try:
                cv2.destroyWindow(self.title)
                cv2.waitKey(1)
            except cv2.error:
                pass


class FileSink(Sink):
    """A recording (``.mp4`` with mp4v, ``.avi`` with MJPG) at the output size and rate."""

    def __init__(self, path: Path, size: tuple[int, int], fps: float) -> None:
        super().__init__(size)
        import cv2

        self.path = Path(path)
        self.name = f"file {self.path.name}"
        codec = FILE_SUFFIXES.get(self.path.suffix.lower())
        if codec is None:
            raise UserError(f"--output {path}: not a known output; use vcam, preview, null, or a .mp4/.avi file")
        if not self.path.parent.is_dir():
            raise UserError(f"--output {path}: folder {self.path.parent} does not exist; create it first")
        self.writer = cv2.VideoWriter(str(self.path), cv2.VideoWriter_fourcc(*codec), float(fps), self.size)
        if not self.writer.isOpened():
            self.writer = None
            raise UserError(f"cannot write {self.path} (no permission, or no {codec} encoder); try a .avi file")

    def _send(self, frame: np.ndarray) -> None:
        if self.writer is not None:
            self.writer.write(frame)

    def close(self) -> None:
        w, self.writer = getattr(self, "writer", None), None
        if w is not None:
            w.release()


def open_sink(spec: str, size: tuple[int, int], fps: float, device: str | None = None,
              backend: str | None = None, watch_usage: bool = False) -> Sink:
    """One sink from an ``--output`` value (see the module docstring); ``watch_usage``: a virtual
    camera counts the apps reading it (``.usage``), so the daemon can pause while there are none."""
    spec = str(spec).strip()
    if spec == "vcam":
        return VcamSink(size, fps, device, backend, watch_usage)
    if spec == "preview":
        return PreviewSink(size)
    if spec == "null":
        return NullSink(size)
    return FileSink(Path(spec).expanduser(), size, fps)


def check_output(spec: str) -> str:
    """Validate an ``--output`` value without opening anything; returns it."""
    spec = str(spec).strip()
    if spec in ("vcam", "preview", "null") or Path(spec).suffix.lower() in FILE_SUFFIXES:
        return spec
    raise UserError(f"--output {spec!r}: not a known output; use vcam, preview, null, or a .mp4/.avi file name")


def open_sinks(specs: list[str], size: tuple[int, int], fps: float, device: str | None = None,
               backend: str | None = None, watch_usage: bool = False) -> list[Sink]:
    """Open every ``--output``; if one fails, the ones already open are closed again."""
    sinks: list[Sink] = []
    try:
        for spec in dict.fromkeys(specs):  # each output once, in order
            sinks.append(open_sink(spec, size, fps, device, backend, watch_usage))
    except BaseException:
        close_sinks(sinks)
        raise
    return sinks


def close_sinks(sinks: list[Sink]) -> None:
    """Close every sink, even if one fails (logged)."""
    for s in sinks:
        try:
            s.close()
        except Exception as e:  # noqa: BLE001 - closing must go on
            log.warning("closing %s failed: %s", s.name, _one_line(e))


def virtual_backends() -> list[str]:
    """Names of the pyvirtualcam backends available here."""
    try:
        from pyvirtualcam.camera import BACKENDS
    except Exception:  # noqa: BLE001 - a broken install is reported by doctor
        return []
    return sorted(BACKENDS)
