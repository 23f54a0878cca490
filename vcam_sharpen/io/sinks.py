"""Where frames go: the interface every output implements, and the simple outputs.

Each output is a :class:`Sink`; :mod:`vcam_sharpen.io.outputs` is the one registry that
turns an ``--output`` value into one (and validates values without opening anything).
The pipeline hands every sink frames of the output size, ``(h, w, 3)`` BGR uint8; a sink
never rescales. As in pyvirtualcam, :meth:`Sink.send` checks the frame once, for every sink, and
then calls the sink's own :meth:`Sink.write`: a wrong frame is one clear error, never a device
closed and reopened in a loop. Sinks here: ``null`` (discard) and ``preview`` (an OpenCV window); the
virtual cameras and recordings live in their own modules.
"""

from __future__ import annotations

import logging
import os
import sys
from abc import ABC, abstractmethod

import cv2
import numpy as np

from ..core.errors import UserError

log = logging.getLogger(__name__)


class FrameMismatch(UserError):
    """A frame of the wrong shape or type reached an output: a bug upstream, reported in one line."""


class Sink(ABC):
    """An output of frames of one size.

    Attributes:
        name: what ``status`` shows.
        device: the device or node written to, when there is one (``status``, ``start``).
        quit_requested: set by an output whose user asked to stop (a preview window's q).
    """

    name = "sink"
    device: str | None = None
    quit_requested = False

    def __init__(self, size: tuple[int, int]) -> None:
        self.size = (int(size[0]), int(size[1]))

    def send(self, frame: np.ndarray) -> None:
        """Publish ``(h, w, 3)`` BGR uint8 of exactly :attr:`size`. Never blocks for long.

        Raises:
            FrameMismatch: any other shape or dtype (nothing is written).
        """
        w, h = self.size
        if not isinstance(frame, np.ndarray) or frame.shape != (h, w, 3) or frame.dtype != np.uint8:
            got = f"{frame.dtype} {'x'.join(map(str, frame.shape))}" if isinstance(frame, np.ndarray) \
                else type(frame).__name__
            raise FrameMismatch(f"output {self.name} was opened for {w}x{h} BGR uint8 frames (shape {h}x{w}x3) "
                                f"but was sent a {got} frame; this is a bug in vcam-sharpen: please report it")
        self.write(frame)

    @abstractmethod
    def write(self, frame: np.ndarray) -> None:
        """The sink's own writer: ``frame`` is already checked by :meth:`send`."""

    def readers(self) -> int | None:
        """How many applications read this output now; None when it cannot tell (then the
        daemon never pauses for it)."""
        return None

    def close(self) -> None:
        """Release the device / window / file; safe to call twice."""

    def __enter__(self) -> "Sink":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class NullSink(Sink):
    """Discards frames (tests and benchmarks)."""

    name = "null"

    def write(self, frame: np.ndarray) -> None:
        pass


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

    def write(self, frame: np.ndarray) -> None:
        if not self._open:
            return
        cv2.imshow(self.title, frame)
        key = cv2.waitKey(1) & 0xFF
        if key in (ord("q"), 27):
            self.quit_requested = True

    def close(self) -> None:
        if getattr(self, "_open", False):
            self._open = False
            try:
                cv2.destroyWindow(self.title)
                cv2.waitKey(1)
            except cv2.error:
                pass
