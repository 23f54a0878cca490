"""PipeWire camera output (``--output pipewire``): a ``Video/Source`` node that browsers
(Firefox 116+, Chromium with ``--enable-features=WebRtcPipeWireCamera``) reach through the
xdg-desktop-portal Camera API, without the v4l2loopback kernel module or root.

A ``gst-launch-1.0`` child reads raw frames on stdin and publishes them with
``pipewiresink mode=provide``: a subprocess keeps GStreamer/PipeWire crashes out of the
daemon and needs no PyGObject/libpipewire bindings.

Pixel format: BGR -> I420 here with OpenCV (~1 ms per 720p frame; BT.601 limited range,
which is how Chromium decodes it). Every libwebrtc PipeWire capturer (Chromium, Firefox
116+) accepts I420; older ones reject BGR and Chromium 156 shows it with red and blue
swapped. I420 also halves the bytes piped. ``pixel_format="BGR"`` is there for
GStreamer/OBS consumers that want bit-exact pixels.
"""

from __future__ import annotations

import contextlib
import fcntl
import fractions
import logging
import os
import re
import select
import shutil
import signal
import subprocess
import tempfile
import threading
import time

import cv2
import numpy as np

from ..core.backoff import Backoff
from ..core.errors import UserError
from .sinks import Sink

log = logging.getLogger(__name__)

_PKG = {  # what provides what (Debian/Ubuntu, Fedora), for actionable errors
    "gst-launch-1.0": ("gstreamer1.0-tools", "gstreamer1"),
    "pipewiresink": ("gstreamer1.0-pipewire", "pipewire-gstreamer"),
    "rawvideoparse": ("gstreamer1.0-plugins-base", "gstreamer1-plugins-base"),
}
_SLOW_S = 2.0          # a producer that accepts no bytes for this long has a slow consumer: WARNING, count it
_STUCK_S = 20.0        # ... and for this long is hung: ERROR, and it is restarted
_POLL_PERIOD_S = 1.0   # readers() refresh period
_APPEAR_S = 3.0        # how long __init__ waits for the node to appear


def _missing(what):
    deb, fed = _PKG[what]
    return (f"PipeWire output needs {what}: install it with `sudo apt install {deb}` "
            f"(Debian/Ubuntu) or `sudo dnf install {fed}` (Fedora)")


def pipewire_socket():
    """Path of the socket PipeWire clients of this session connect to ('' if unknown)."""
    remote = os.environ.get("PIPEWIRE_REMOTE", "pipewire-0")
    if os.path.isabs(remote):
        return remote
    runtime = os.environ.get("PIPEWIRE_RUNTIME_DIR") or os.environ.get("XDG_RUNTIME_DIR", "")
    return os.path.join(runtime, remote) if runtime else ""


def _pw_link(arg):
    """stdout of ``pw-link <arg>`` (a few ms of CPU), None on failure."""
    with contextlib.suppress(OSError, subprocess.TimeoutExpired):
        r = subprocess.run(["pw-link", arg], capture_output=True, text=True, timeout=1.0)
        return r.stdout if r.returncode == 0 else None
    return None


def _stderr_tail(proc):   # the first "ERROR: from element ...: <reason>" says most
    with contextlib.suppress(OSError, ValueError):
        proc.err_file.seek(0)
        lines = proc.err_file.read().decode(errors="replace").strip().splitlines()
        return next((ln for ln in lines if ln.startswith("ERROR")), " / ".join(lines[-2:]))[-300:]
    return ""


def _kill_group(proc, grace):
    """Give ``proc`` ``grace`` s to exit, then SIGKILL its process group (it runs in its
    own session, so this reaches anything it forked; we never kill by name)."""
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=grace)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)   # the group may outlive its leader
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=0.3)
    proc.err_file.close()


class PipewireSink(Sink):
    """Frames of ``size`` published as the PipeWire camera ``node_name`` (see the module docstring).

    Args:
        watch_usage: count the consumers linked to the node (``readers()``), so the daemon can
            pause while there are none; off: ``readers()`` is None and nothing is polled.
    """

    name = "pipewire"

    def __init__(self, size: tuple[int, int], fps: float, node_name: str = "vcam-sharpen",
                 pixel_format: str = "I420", watch_usage: bool = False, error_cls=UserError) -> None:
        super().__init__(size)
        self.w, self.h = self.size
        self.fps, self.device, self.pixel_format = float(fps), node_name, pixel_format.upper()
        self.watch_usage = watch_usage
        self._error_cls = error_cls
        self._check_environment()
        self._cond, self._poll_stop = threading.Condition(), threading.Event()
        self._pending = None            # newest converted frame; older unsent ones are dropped
        self._last_error = None         # set while the producer is down (logged once)
        self._proc = self._readers = self._poller = None
        self._closing, self._started_at, self._retry = False, 0.0, Backoff()
        self.stalls = 0                 # times a consumer stopped taking frames for _SLOW_S (a WARNING each)
        self.dropped = 0                # frames replaced by a newer one before the producer took them
        if not self._spawn():
            raise error_cls(f"could not start gst-launch-1.0 for the PipeWire output ({self._last_error})")
        # The node appears only with the first buffer, and consumers started before that hang
        # ("target not found"): publish black and wait for it, so the camera exists on return.
        self.send(np.zeros((self.h, self.w, 3), np.uint8))
        self._writer = threading.Thread(target=self._write_loop, name="pipewire-writer", daemon=True)
        self._writer.start()
        self._wait_for_node()

    def _check_environment(self):
        err, fmt = self._error_cls, self.pixel_format
        if fmt not in ("I420", "BGR"):
            raise err(f"PipeWire output: unknown pixel format {fmt!r} (use I420 or BGR)")
        if not re.fullmatch(r"[A-Za-z0-9._-]+", self.device):   # it goes into a GstStructure string
            raise err(f"PipeWire node name {self.device!r} may only use letters, digits, '.', '_', '-'")
        # Tight OpenCV I420 matches GStreamer's default plane layout (strides rounded up to
        # 4 bytes) only if width % 8 == 0; browsers also insist on stride == width.
        if (fmt == "I420" and (self.w % 8 or self.h % 2)) or (fmt == "BGR" and self.w % 4):
            raise err(f"PipeWire output ({fmt}) needs a width divisible by "
                      f"{8 if fmt == 'I420' else 4} and an even height, got {self.w}x{self.h}: "
                      f"use e.g. 1280x720 or 640x480")
        if not shutil.which("gst-launch-1.0"):
            raise err(_missing("gst-launch-1.0"))
        for element in ("pipewiresink", "rawvideoparse"):
            ok = False   # plain gst-inspect: `--exists` wrongly fails for pipewiresink (plugin v0.3)
            with contextlib.suppress(OSError, subprocess.TimeoutExpired):
                ok = subprocess.run(["gst-inspect-1.0", element], stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL, timeout=30).returncode == 0
            if not ok:
                raise err(_missing(element))
        sock = pipewire_socket()
        if not sock or not os.path.exists(sock):
            raise err(f"no PipeWire session running (no {sock or '$XDG_RUNTIME_DIR/pipewire-0'}): "
                      f"start it with `systemctl --user start pipewire wireplumber`")

    def _command(self):
        rate = fractions.Fraction(self.fps).limit_denominator(1001)
        props = (f"props,media.class=Video/Source,media.role=Camera,"   # role: browsers filter on it
                 f"node.name={self.device},node.description={self.device}")
        frame_bytes = self.w * self.h * 3 // (2 if self.pixel_format == "I420" else 1)
        return [
            # --no-fault: exit on a crash (we see EPIPE) instead of "Spinning" forever.
            "gst-launch-1.0", "-q", "--no-fault", "fdsrc", "fd=0", f"blocksize={frame_bytes}", "!",
            "rawvideoparse", f"width={self.w}", f"height={self.h}", f"format={self.pixel_format.lower()}",
            f"framerate={rate.numerator}/{rate.denominator}", "colorimetry=bt601", "!",
            # pipewiresink 0.3.65 segfaults as soon as a consumer connects when upstream got
            # its buffer pool through the allocation query; dropping the query avoids that.
            "identity", "drop-allocation=true", "!",
            # sync=false: publish each frame as soon as it arrives; the caller paces.
            "pipewiresink", "mode=provide", "sync=false", f"stream-properties={props}",
        ]

    def _spawn(self):
        err_file = tempfile.TemporaryFile()   # not a pipe: one nobody reads could fill and stall gst
        try:
            proc = subprocess.Popen(self._command(), stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                    stderr=err_file, start_new_session=True, bufsize=0)
        except OSError as exc:
            err_file.close()
            self._last_error = self._last_error or str(exc)
            return False
        proc.err_file = err_file
        fd = proc.stdin.fileno()
        with contextlib.suppress(OSError, AttributeError):   # 1 MiB pipe: fewer wakeups per frame
            fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, 1 << 20)
        os.set_blocking(fd, False)   # writes are bounded by select(): a hung child can't hang us
        self._proc, self._started_at = proc, time.monotonic()
        return True

    def _wait_for_node(self):
        if not shutil.which("pw-link"):
            return                       # can't check without pipewire's tools; don't block
        deadline = time.monotonic() + _APPEAR_S
        while time.monotonic() < deadline:
            proc = self._proc
            if self._last_error or proc is None or proc.poll() is not None:
                why = self._last_error or (_stderr_tail(proc) if proc else "") or "no message"
                self.close()
                raise self._error_cls(f"PipeWire output: gst-launch-1.0 failed at startup ({why}); "
                                      f"check the daemon: `systemctl --user restart pipewire wireplumber`")
            out = _pw_link("--output") or ""
            if any(line.startswith(self.device + ":") for line in out.splitlines()):
                return
            time.sleep(0.05)
        log.warning("pipewire: node %r not visible after %.0f s; continuing", self.device, _APPEAR_S)

    def write(self, frame):
        """Queue a (h, w, 3) uint8 BGR frame (checked by :meth:`Sink.send`); costs ~1 ms, never blocks on the
        producer."""
        if self._closing:
            return
        try:
            if self.pixel_format == "I420":
                data = cv2.cvtColor(frame, cv2.COLOR_BGR2YUV_I420)   # a new array: caller may reuse frame
            else:
                data = np.array(frame, np.uint8, order="C", copy=True)
        except Exception:
            return log.exception("pipewire: cannot convert frame")
        with self._cond:
            if self._pending is not None:
                self.dropped += 1
            self._pending = data          # newest wins: a stalled producer never backs up the caller
            self._cond.notify()

    def _write_loop(self):
        while True:
            with self._cond:
                while self._pending is None and not self._closing:
                    self._cond.wait()
                if self._closing:
                    return
                data, self._pending = self._pending, None
            if self._proc is None:            # producer down: drop frames until the backoff expires
                if not self._retry.due():
                    continue
                if not self._spawn():
                    self._died(None)
                    continue
                log.info("pipewire: producer restarted (pid %d)", self._proc.pid)
            proc = self._proc
            try:
                self._write_all(proc.stdin.fileno(), memoryview(data).cast("B"), proc)
                self._last_error = None
            except (OSError, ValueError, TimeoutError) as exc:
                if self._closing:
                    return
                rc = proc.poll()
                why = f"exit code {rc}: {_stderr_tail(proc)}" if rc is not None else repr(exc)
                _kill_group(proc, grace=0)
                self._died(why)

    def _write_all(self, fd, view, proc=None):
        """Write one whole frame (a partial one would shift every later frame). A consumer that reads
        slowly makes pipewiresink, and so this pipe, stall: after ``_SLOW_S`` that is one WARNING and
        one count in :attr:`stalls`, newer frames replace the pending one meanwhile (:attr:`dropped`);
        only a producer that takes nothing for ``_STUCK_S``, or exits, is treated as dead."""
        last, slow_since = time.monotonic(), None
        while view:
            if self._closing:
                raise ValueError("closing")
            try:
                view = view[os.write(fd, view):]
                last = time.monotonic()
                if slow_since is not None:
                    log.info("pipewire: the consumer caught up after %.1f s (%d frames dropped in all)",
                             last - slow_since, self.dropped)
                    slow_since = None
            except BlockingIOError:
                select.select([], [fd], [], 0.1)
                waited = time.monotonic() - last
                if proc is not None and proc.poll() is not None:
                    raise OSError("the producer exited") from None
                if waited > _SLOW_S and slow_since is None:
                    slow_since = last
                    self.stalls += 1
                    log.warning("pipewire: a consumer takes no frames (%.0f s); dropping frames until it catches "
                                "up (stall %d)", waited, self.stalls)
                if waited > _STUCK_S:
                    raise TimeoutError(f"producer accepted no data for {_STUCK_S:.0f} s")

    def _died(self, why):
        if self._last_error is None:      # log once per outage, not once per frame
            log.error("pipewire: producer died (%s); restarting with backoff, dropping frames", why)
            self._last_error = why or "restart failed"
        if self._proc is not None and time.monotonic() - self._started_at > 10:
            self._retry.reset()           # it had been running fine: start the backoff over
        self._proc = None
        self._retry.failed()

    def readers(self):
        """Consumers linked to our node (refreshed once a second), None if unknown. The poller
        starts on first use, so a daemon that never asks pays nothing.  A link exists only while
        a consumer streams (listing devices does not count); a producer restart drops all links."""
        if not self.watch_usage:
            return None
        if self._poller is None and not self._closing and shutil.which("pw-link"):
            self._poll_once()             # the first call gets a real answer
            self._poller = threading.Thread(target=self._poll_loop, name="pipewire-readers", daemon=True)
            self._poller.start()
        return self._readers

    def _poll_loop(self):
        while not self._poll_stop.wait(_POLL_PERIOD_S):
            self._poll_once()

    def _poll_once(self):   # pw-link -l: "node:port" at column 0, then "  |-> peer:port" per link
        out, count, ours = _pw_link("--links"), 0, False
        for line in (out or "").splitlines():
            if not line.startswith(" "):
                ours = line.startswith(self.device + ":")
            elif ours and "|->" in line:
                count += 1
        self._readers = count if out is not None and self._proc is not None else None

    def close(self):
        """Stop publishing; returns within ~1 s and leaves no child process. Idempotent."""
        with self._cond:
            if self._closing:
                return
            self._closing = True
            self._cond.notify_all()
        self._poll_stop.set()
        self._writer.join(timeout=0.3)    # it notices _closing within 0.1 s
        proc, self._proc, self._readers = self._proc, None, None
        if proc is not None:
            with contextlib.suppress(OSError):
                proc.stdin.close()        # EOF -> fdsrc sends EOS -> gst-launch exits cleanly
            _kill_group(proc, grace=0.5)
        if self._poller is not None:
            self._poller.join(timeout=0.2)
