"""Client-usage events of v4l2loopback: ioctl numbers, struct layouts, the monitor (no device needed)."""

from __future__ import annotations

import errno
import logging
import struct

import pytest

from vcam_sharpen.io import usage
from vcam_sharpen.io.usage import (EVENT, V4L2_EVENT_PRI_CLIENT_USAGE, VIDIOC_DQEVENT, VIDIOC_SUBSCRIBE_EVENT,
                                   V4l2UsageMonitor, client_usage, ioc, open_monitor, subscription)

LP64 = struct.calcsize("l") == 8


def test_ioctl_numbers_and_event_type():
    # what <linux/videodev2.h> gives on x86-64 (printed by a C program against the kernel headers)
    assert ioc(usage.IOC_WRITE, "V", 90, 32) == 0x4020565A
    assert ioc(usage.IOC_READ, "V", 89, 136) == 0x80885659
    assert VIDIOC_SUBSCRIBE_EVENT == 0x4020565A
    assert V4L2_EVENT_PRI_CLIENT_USAGE == 0x10E00001


@pytest.mark.skipif(not LP64, reason="64-bit layout")
def test_event_layout_on_64_bit():
    assert EVENT.size == 136 and VIDIOC_DQEVENT == 0x80885659


def fake_event(kind: int, count: int) -> bytes:
    """A dequeued ``struct v4l2_event`` as the kernel writes it on a 64-bit machine, by offsets."""
    buf = bytearray(136)
    struct.pack_into("=I", buf, 0, kind)  # type
    struct.pack_into("=I", buf, 8, count)  # u (8-byte aligned): struct v4l2_event_client_usage
    struct.pack_into("=II", buf, 72, 0, 7)  # pending, sequence
    struct.pack_into("=qq", buf, 80, 1_700_000_000, 5)  # timestamp
    return bytes(buf)


@pytest.mark.skipif(not LP64, reason="64-bit layout")
def test_parse_a_kernel_event():
    assert client_usage(fake_event(V4L2_EVENT_PRI_CLIENT_USAGE, 2)) == 2
    assert client_usage(fake_event(V4L2_EVENT_PRI_CLIENT_USAGE, 0)) == 0
    assert client_usage(fake_event(0x08000000, 1)) is None  # the pre-0.13 id, or any other event


def test_subscription_asks_for_the_initial_count():
    sub = subscription()
    assert len(sub) == 32
    assert struct.unpack("=8I", sub) == (0x10E00001, 0, 1, 0, 0, 0, 0, 0)


def packed(count: int, kind: int = V4L2_EVENT_PRI_CLIENT_USAGE) -> bytes:
    """An event in this machine's layout."""
    return EVENT.pack(kind, struct.pack("=I", count), 0, 0, 0, 0, 0, *[0] * 8)


class FakeDriver:
    """``ioctl`` and ``pending`` of a v4l2loopback device with a queue of events."""

    def __init__(self, subscribe_error: int | None = None) -> None:
        self.queue: list[bytes] = []
        self.subscribed: bytes | None = None
        self.subscribe_error = subscribe_error
        self.dq_error: int | None = None

    def ioctl(self, fd, request, arg, mutate=False):
        if request == VIDIOC_SUBSCRIBE_EVENT:
            if self.subscribe_error:
                raise OSError(self.subscribe_error, "Invalid argument")
            self.subscribed = bytes(arg)
            return 0
        assert request == VIDIOC_DQEVENT and mutate and len(arg) == EVENT.size
        if self.dq_error:
            raise OSError(self.dq_error, "No such device")
        if not self.queue:
            raise OSError(errno.ENOENT, "No such file or directory")
        arg[:] = self.queue.pop(0)
        return 0

    def pending(self, fd) -> bool:
        return bool(self.queue) or self.dq_error is not None


@pytest.fixture
def node(tmp_path):
    """A file standing in for /dev/videoN (the fake driver answers the ioctls)."""
    path = tmp_path / "video10"
    path.write_bytes(b"")
    return str(path)


def test_monitor_follows_the_events(node):
    drv = FakeDriver()
    mon = V4l2UsageMonitor(node, ioctl=drv.ioctl, pending=drv.pending)
    assert drv.subscribed == subscription()
    assert mon.readers() is None  # no event yet: unknown, so the daemon stays on
    drv.queue.append(packed(1))  # the initial count (SEND_INITIAL)
    assert mon.readers() == 1 and mon.readers() == 1
    drv.queue += [packed(0), packed(5, kind=0x08000000), packed(2)]
    assert mon.readers() == 2 and not drv.queue  # drained, the newest count wins, other events ignored
    drv.queue.append(packed(0))
    assert mon.readers() == 0
    mon.close()
    mon.close()
    assert mon.readers() is None


def test_device_gone_means_unknown_for_good(node, caplog):
    drv = FakeDriver()
    mon = V4l2UsageMonitor(node, ioctl=drv.ioctl, pending=drv.pending)
    drv.queue.append(packed(0))
    assert mon.readers() == 0
    drv.dq_error = errno.ENODEV
    with caplog.at_level(logging.INFO, logger="vcam_sharpen.io.usage"):
        assert mon.readers() is None and mon.readers() is None
    assert len(caplog.records) == 1 and "No such device" in caplog.records[0].getMessage()


@pytest.mark.parametrize("case", ["old module", "not a v4l2 device", "missing"])
def test_unsupported_stays_unknown_and_says_so_once(node, tmp_path, caplog, case):
    with caplog.at_level(logging.INFO, logger="vcam_sharpen.io.usage"):
        if case == "old module":  # v4l2loopback < 0.13 rejects the subscription with EINVAL
            drv = FakeDriver(subscribe_error=errno.EINVAL)
            mon = V4l2UsageMonitor(node, ioctl=drv.ioctl, pending=drv.pending)
        elif case == "not a v4l2 device":  # the real ioctl on a plain file: ENOTTY
            mon = V4l2UsageMonitor(node)
        else:
            mon = V4l2UsageMonitor(str(tmp_path / "video99"))
        assert [mon.readers() for _ in range(3)] == [None] * 3
    msgs = [r.getMessage() for r in caplog.records]
    assert len(msgs) == 1 and all(r.levelno == logging.INFO for r in caplog.records)
    assert "v4l2loopback >= 0.13" in msgs[0] and "\n" not in msgs[0]
    mon.close()


def test_only_v4l2loopback_on_linux_is_watched(monkeypatch, node):
    assert open_monitor("/dev/video10", "obs") is None
    assert open_monitor(None, "v4l2loopback") is None
    monkeypatch.setattr(usage.sys, "platform", "win32")
    assert open_monitor(node, "v4l2loopback") is None
    monkeypatch.setattr(usage.sys, "platform", "linux")
    mon = open_monitor(node, "v4l2loopback")
    assert isinstance(mon, V4l2UsageMonitor) and mon.readers() is None  # a plain file: unsupported
    mon.close()
