"""Whether any application reads the virtual camera, so the daemon can pause while nobody does.

v4l2loopback 0.13 and newer queue a private V4L2 event, ``V4L2_EVENT_PRI_CLIENT_USAGE``,
whenever a consumer starts or stops streaming from the device (capture STREAMON, STREAMOFF,
close) and once on subscribing with ``V4L2_EVENT_SUB_FL_SEND_INITIAL``; its payload
``struct v4l2_event_client_usage { __u32 count; }`` is the number of consumers streaming
(0 or 1 in practice: the driver lets one stream at a time). Merely opening or probing the
device, as apps do when they list cameras, sends nothing.

A :class:`UsageMonitor` answers ``readers()``: that count, or ``None`` when it cannot be
known (another backend or platform, an older module, an error), in which case the daemon
never pauses. The ioctl numbers and struct layouts are plain functions and constants, so
they are testable without a device.
"""

from __future__ import annotations

import errno
import logging
import os
import struct
import sys

log = logging.getLogger(__name__)

# linux/videodev2.h and v4l2loopback.h (>= 0.13)
V4L2_EVENT_PRIVATE_START = 0x08000000
V4L2_EVENT_PRI_CLIENT_USAGE = V4L2_EVENT_PRIVATE_START + 0x08E00000 + 1  # 0x10E00001
V4L2_EVENT_SUB_FL_SEND_INITIAL = 1

# struct v4l2_event_subscription { __u32 type, id, flags, reserved[5]; }: 32 bytes everywhere.
SUBSCRIPTION = struct.Struct("=8I")
# struct v4l2_event in the native layout: __u32 type; a 64-byte union (it holds an __s64,
# hence "0q": aligned like an int64, 8 bytes on 64-bit); __u32 pending, sequence;
# struct timespec (two longs); __u32 id, reserved[8]; padded to the struct's alignment.
# 136 bytes on x86-64 and arm64; other ABIs differ, and the native layout follows them.
EVENT = struct.Struct("@I0q64sIIllI8I0q")


def ioc(direction: int, kind: str, nr: int, size: int) -> int:
    """The kernel's ``_IOC`` encoding (asm-generic: x86, ARM, RISC-V; powerpc/mips/sparc differ,
    where the ioctl then simply fails and the daemon stays on): dir 2 bits, size 14, type 8, nr 8."""
    return direction << 30 | size << 16 | ord(kind) << 8 | nr


IOC_WRITE, IOC_READ = 1, 2
VIDIOC_DQEVENT = ioc(IOC_READ, "V", 89, EVENT.size)  # _IOR('V', 89, struct v4l2_event): 0x80885659 on x86-64
VIDIOC_SUBSCRIBE_EVENT = ioc(IOC_WRITE, "V", 90, SUBSCRIPTION.size)  # _IOW('V', 90, ...): 0x4020565a


def subscription(event_type: int = V4L2_EVENT_PRI_CLIENT_USAGE,
                 flags: int = V4L2_EVENT_SUB_FL_SEND_INITIAL) -> bytes:
    """A ``struct v4l2_event_subscription`` for ``VIDIOC_SUBSCRIBE_EVENT``."""
    return SUBSCRIPTION.pack(event_type, 0, flags, 0, 0, 0, 0, 0)


def client_usage(event: bytes) -> int | None:
    """The ``count`` of a dequeued ``struct v4l2_event`` if it is a client-usage event, else None."""
    kind, payload = EVENT.unpack(bytes(event))[:2]
    if kind != V4L2_EVENT_PRI_CLIENT_USAGE:
        return None
    return struct.unpack_from("=I", payload)[0]


class UsageMonitor:
    """How many applications read one virtual camera (base class: never known)."""

    def readers(self) -> int | None:
        """The number of readers now, or None when unknown (the daemon then stays on). Never raises."""
        return None

    def close(self) -> None:
        """Release what it holds; safe to call twice."""


class V4l2UsageMonitor(UsageMonitor):
    """Client-usage events of a v4l2loopback device, read through a descriptor of its own.

    Opening or subscribing failing (an older module: EINVAL; not a V4L2 device: ENOTTY)
    is logged once at info level and makes ``readers()`` None for good. Until the first
    event arrives the count is unknown (None) too.

    Args:
        device: the loopback device, e.g. ``/dev/video10``.
        ioctl, pending: stand-ins for ``fcntl.ioctl`` and "an event is queued on fd" (tests).
    """

    def __init__(self, device: str, ioctl=None, pending=None) -> None:
        self.device = str(device)
        self._count: int | None = None
        self._fd: int | None = None
        if ioctl is None:
            import fcntl  # lazy: POSIX only (the monitor is Linux-only)

            ioctl = fcntl.ioctl
        self._ioctl, self._pending = ioctl, pending
        try:
            # O_NONBLOCK: VIDIOC_DQEVENT answers ENOENT instead of waiting when nothing is queued
            self._fd = os.open(self.device, os.O_RDWR | os.O_NONBLOCK)
            self._ioctl(self._fd, VIDIOC_SUBSCRIBE_EVENT, subscription())
            if self._pending is None:
                import select  # lazy: poll() is POSIX only

                poller = select.poll()
                poller.register(self._fd, select.POLLPRI)  # V4L2 signals a queued event as POLLPRI
                self._pending = lambda fd: bool(poller.poll(0))
        except OSError as e:
            self._give_up(e, "subscribing to its client-usage events")

    def _give_up(self, e: OSError, doing: str) -> None:
        log.info("%s: %s failed (%s); the camera stays on while no app reads it (pausing needs "
                 "v4l2loopback >= 0.13)", self.device, doing, e.strerror or e)
        self.close()

    def readers(self) -> int | None:
        if self._fd is None:
            return None
        try:
            while self._pending(self._fd):
                buf = bytearray(EVENT.size)
                try:
                    self._ioctl(self._fd, VIDIOC_DQEVENT, buf, True)
                except OSError as e:
                    if e.errno in (errno.ENOENT, errno.EAGAIN):  # drained
                        break
                    raise
                count = client_usage(buf)
                if count is not None:
                    self._count = count
        except OSError as e:  # the device went away (module unloaded): stay on
            self._give_up(e, "reading its client-usage events")
            return None
        return self._count

    def close(self) -> None:
        fd, self._fd, self._count = self._fd, None, None
        if fd is not None:
            os.close(fd)


def open_monitor(device: str | None, backend: str | None) -> UsageMonitor | None:
    """A monitor for a pyvirtualcam device, or None where readers cannot be known (a backend
    other than v4l2loopback, or not Linux)."""
    if backend != "v4l2loopback" or not device or not sys.platform.startswith("linux"):
        return None
    return V4l2UsageMonitor(device)
