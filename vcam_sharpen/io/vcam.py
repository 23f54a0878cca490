"""The virtual camera through pyvirtualcam: v4l2loopback on Linux, the OBS virtual camera elsewhere."""

from __future__ import annotations

import logging
import os
import sys

import numpy as np

from ..core.backoff import Backoff
from ..core.errors import UserError, one_line
from .sinks import Sink
from .usage import open_monitor

log = logging.getLogger(__name__)

MODULE_OPTIONS = 'devices=1 video_nr=10 card_label="vcam-sharpen" exclusive_caps=1'
MODPROBE = f"sudo modprobe v4l2loopback {MODULE_OPTIONS}"


def vcam_fix() -> str:
    """How to get a virtual camera device on this system (one clause)."""
    if sys.platform.startswith("linux"):
        if not os.path.exists("/sys/module/v4l2loopback"):
            return f"load v4l2loopback: {MODPROBE} (details: vcam-sharpen doctor)"
        return "check the device with vcam-sharpen doctor; pass --vcam-device /dev/videoN of the loopback device"
    return "install OBS Studio (28+) and click Start Virtual Camera once, then stop it (details: vcam-sharpen doctor)"


class VcamSink(Sink):
    """The virtual camera (``pyvirtualcam.Camera`` fed BGR frames)."""

    name = "vcam"

    def __init__(self, size: tuple[int, int], fps: float, device: str | None = None,
                 backend: str | None = None, watch_usage: bool = False) -> None:
        super().__init__(size)
        BACKENDS = _backends()

        if backend is not None and backend not in BACKENDS:
            have = ", ".join(sorted(BACKENDS)) or "none on this system"
            raise UserError(f"unknown virtual camera backend {backend!r}; choose from: {have}")
        if not BACKENDS:
            raise UserError(f"no virtual camera backend on this system; {vcam_fix()}")
        if device is not None and sys.platform.startswith("linux") and device.startswith("/dev/") \
                and not os.path.exists(device) and backend in (None, "v4l2loopback"):
            raise UserError(f"virtual camera {device} does not exist; {vcam_fix()}")
        self.fps, self.want_device, self.backend = fps, device, backend
        self.failures, self._retry, self.usage = 0, Backoff(), None
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
        if self.usage is not None:
            self.usage.close()
        self.usage = open_monitor(self.cam.device, self.cam.backend)

    def _open(self):
        import pyvirtualcam  # lazy: a broken pyvirtualcam install must not stop the other outputs or doctor

        w, h = self.size
        return pyvirtualcam.Camera(width=w, height=h, fps=self.fps, fmt=pyvirtualcam.PixelFormat.BGR,
                                   device=self.want_device, backend=self.backend)

    def _explain(self, e: Exception, device: str | None) -> str:
        msg = one_line(e)
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

    def readers(self) -> int | None:
        return self.usage.readers() if self.usage is not None else None

    def write(self, frame: np.ndarray) -> None:
        """Write a frame; a failed write (device gone, format changed under us) closes the device and
        reopens it with backoff 0.5 s -> 5 s, dropping frames meanwhile instead of stopping the daemon."""
        if self.cam is None:
            if not self._retry.due():
                return
            try:
                self.cam = self._open()
            except Exception as e:  # noqa: BLE001 - keep trying
                self._retry.failed()
                log.info("virtual camera still unavailable (%s)", one_line(e))
                return
            log.warning("virtual camera %s reopened", self.cam.device)
            self._retry.reset()
            self._watch()  # the old descriptor may belong to a device that was removed and recreated
        try:
            self.cam.send(frame)
        except Exception as e:  # noqa: BLE001
            self.failures += 1
            log.warning("virtual camera write failed (%s); reopening it", one_line(e))
            cam, self.cam = self.cam, None
            try:
                cam.close()
            except Exception:  # noqa: BLE001
                pass
            self._retry.failed()

    def close(self) -> None:
        usage, self.usage = getattr(self, "usage", None), None
        if usage is not None:
            usage.close()
        cam, self.cam = getattr(self, "cam", None), None
        if cam is not None:
            cam.close()


def _backends() -> dict:
    from pyvirtualcam.camera import BACKENDS  # lazy: see VcamSink._open

    return BACKENDS


def virtual_backends() -> list[str]:
    """Names of the pyvirtualcam backends available here."""
    try:
        return sorted(_backends())
    except Exception:  # noqa: BLE001 - a broken install is reported by doctor
        return []
