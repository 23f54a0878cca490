"""The one place an ``--source`` value becomes a :class:`~vcam_sharpen.io.sources.Source`."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import cv2

from .camera import CameraSource
from .sources import DemoSource, FileSource, Source
from .v4l2 import camera_devices


def is_camera_spec(spec: str) -> bool:
    return spec.isdigit() or bool(re.fullmatch(r"/dev/video\d+", spec))


def probe_cameras(limit: int = 4) -> list[int]:
    """OpenCV camera indices that open (for systems without ``/dev/video*``: Windows, macOS)."""
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
