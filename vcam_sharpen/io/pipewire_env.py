"""The PipeWire session seen from outside: ``doctor``'s check, the camera nodes ``list-devices`` shows, and
``vcam-sharpen probe``, which reads frames from a node as an application would and says what it got.

``probe`` runs ``gst-launch-1.0 -v pipewiresrc target-object=NODE num-buffers=N ! video/x-raw ! fdsink``:
the caps filter matters, since without any caps pipewiresrc never negotiates a format with a
``mode=provide`` node and the pipeline hangs at PAUSED (GStreamer 1.22, PipeWire 0.3.65). The caps
come from ``-v``'s lines, the frames through a pipe of their own, timed as they arrive.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import select
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass

from ..core.errors import UserError
from .pipewire import pipewire_socket

# Bytes per pixel of the raw formats a camera node offers (I420 is what --output pipewire publishes).
BYTES_PER_PIXEL = {"I420": 1.5, "YV12": 1.5, "NV12": 1.5, "NV21": 1.5, "YUY2": 2, "UYVY": 2, "YVYU": 2,
                   "BGR": 3, "RGB": 3, "BGRx": 4, "BGRA": 4, "RGBx": 4, "RGBA": 4, "xRGB": 4, "ARGB": 4,
                   "GRAY8": 1}
NODE_NAME = re.compile(r"[A-Za-z0-9._-]+")


def portal_dir() -> str:
    """Where the portal daemons live: /usr/libexec (Debian, Ubuntu, Fedora) or /usr/lib (Arch)."""
    return next((d for d in ("/usr/libexec", "/usr/lib") if os.path.exists(f"{d}/xdg-desktop-portal")),
                "/usr/libexec")


def _run(argv, timeout=3.0):
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired):
        return None


def check_pipewire():
    """-> (ok, detail, fix) for the PipeWire camera output in the *current* session.

    ok is False when anything browsers need is missing (packages, PipeWire daemon,
    session manager, camera portal); fix is then one command line, else ""."""
    missing_deb, missing_fed = [], []

    def need(deb, fed):
        missing_deb.append(deb)
        missing_fed.append(fed)

    if not shutil.which("pipewire"):
        need("pipewire wireplumber", "pipewire wireplumber")
    if not shutil.which("gst-launch-1.0"):
        need("gstreamer1.0-tools", "gstreamer1")
    inspect = _run(["gst-inspect-1.0", "pipewiresink"], 30) if shutil.which("gst-inspect-1.0") else None
    if inspect is None or inspect.returncode:
        need("gstreamer1.0-pipewire", "pipewire-gstreamer")
    if not shutil.which("pw-link"):
        need("pipewire-bin", "pipewire-utils")
    if not shutil.which("dbus-send"):
        need("dbus", "dbus-tools")
    if not os.path.exists(f"{portal_dir()}/xdg-desktop-portal"):
        need("xdg-desktop-portal xdg-desktop-portal-gtk", "xdg-desktop-portal xdg-desktop-portal-gtk")
    if missing_deb:
        return (False, "missing packages: " + " ".join(missing_deb),
                f"sudo apt install {' '.join(missing_deb)}   # Fedora: sudo dnf install {' '.join(missing_fed)}")

    sock = pipewire_socket()
    start = "systemctl --user enable --now pipewire.socket pipewire wireplumber"
    if not sock or not os.path.exists(sock):
        return False, f"no PipeWire session (socket {sock or '$XDG_RUNTIME_DIR/pipewire-0'} missing)", start
    r = _run(["pw-cli", "ls", "Client"])
    if r is None or r.returncode:
        return False, f"PipeWire socket {sock} exists but the daemon does not answer", \
            "systemctl --user restart pipewire wireplumber"
    if "WirePlumber" not in r.stdout and "pipewire-media-session" not in r.stdout:
        return False, "PipeWire runs without a session manager: consumers would never be linked", \
            "systemctl --user enable --now wireplumber"

    r = _run(["dbus-send", "--session", "--print-reply", "--dest=org.freedesktop.portal.Desktop",
              "/org/freedesktop/portal/desktop", "org.freedesktop.DBus.Properties.Get",
              "string:org.freedesktop.portal.Camera", "string:version"], timeout=10)
    if r is None or r.returncode:
        why = (r.stderr.strip().splitlines() or ["timeout"])[-1] if r else "timeout/no dbus-send"
        return False, f"PipeWire OK, but the camera portal does not answer ({why}): browsers will not list the camera", \
            "systemctl --user restart xdg-desktop-portal   # needs a D-Bus session bus and a portal backend (xdg-desktop-portal-gtk/-gnome/-kde)"
    return True, (f"PipeWire session at {sock}, session manager and camera portal available. "
                  "Browsers: Chromium needs --enable-features=WebRtcPipeWireCamera (or "
                  "chrome://flags/#enable-webrtc-pipewire-camera); Firefox needs "
                  "media.webrtc.camera.allow-pipewire=true in about:config"), ""


def video_sources() -> list[dict]:
    """The PipeWire camera nodes (``Video/Source``) of this session: ``[{"name", "description"}]``
    (empty without a session or ``pw-dump``)."""
    if not shutil.which("pw-dump") or not os.path.exists(pipewire_socket() or "/nonexistent"):
        return []
    r = _run(["pw-dump"], timeout=5.0)
    try:
        objects = json.loads(r.stdout) if r is not None and r.returncode == 0 else []
    except ValueError:
        return []
    out = []
    for obj in objects:
        props = ((obj.get("info") or {}).get("props") or {}) if isinstance(obj, dict) else {}
        if obj.get("type", "").endswith(":Node") and props.get("media.class") == "Video/Source":
            out.append({"name": props.get("node.name", ""), "description": props.get("node.description", "")})
    return out


@dataclass
class Probe:
    """What :func:`probe` read from a node."""

    node: str
    frames: int  # frames that arrived whole
    width: int
    height: int
    format: str
    offered_fps: float | None  # the node's declared rate (its caps), None when it declares none
    measured_fps: float | None  # frames per second as they arrived (None with fewer than 2 frames)
    first_s: float  # seconds from start to the first frame (connecting and negotiating)
    timed_out: bool  # fewer frames than asked came within the timeout


def _probe_needs() -> None:
    """One-line errors, with the fix, for what probing needs and this machine lacks."""
    if not shutil.which("gst-launch-1.0"):
        raise UserError("probe needs gst-launch-1.0: install it with `sudo apt install gstreamer1.0-tools "
                        "gstreamer1.0-pipewire` (Fedora: `sudo dnf install gstreamer1 pipewire-gstreamer`)")
    r = _run(["gst-inspect-1.0", "pipewiresrc"], 30) if shutil.which("gst-inspect-1.0") else None
    if r is None or r.returncode:
        raise UserError("probe needs GStreamer's PipeWire plugin (pipewiresrc): install it with `sudo apt install "
                        "gstreamer1.0-pipewire` (Fedora: `sudo dnf install pipewire-gstreamer`)")
    sock = pipewire_socket()
    if not sock or not os.path.exists(sock):
        raise UserError(f"no PipeWire session (socket {sock or '$XDG_RUNTIME_DIR/pipewire-0'} missing): start it "
                        f"with `systemctl --user start pipewire wireplumber`, or see docs/pipewire.md for a "
                        f"headless one")


def _caps(line: str) -> dict | None:
    """``{"format", "width", "height", "fps"}`` from one of ``gst-launch-1.0 -v``'s ``caps = video/x-raw, ...``."""
    if "caps = video/x-raw" not in line:
        return None
    fields = dict(re.findall(r"(\w+)=\(\w+\)([^,]+)", line.split("caps = ", 1)[1]))
    try:
        w, h = int(fields["width"]), int(fields["height"])
    except (KeyError, ValueError):
        return None
    num, _, den = fields.get("framerate", "").partition("/")
    fps = int(num) / int(den) if num.isdigit() and den.isdigit() and int(den) and int(num) else None
    return {"format": fields.get("format", "?").strip(), "width": w, "height": h, "fps": fps}


def probe(node: str = "vcam-sharpen", frames: int = 30, timeout: float = 10.0) -> Probe:
    """Read ``frames`` frames from PipeWire node ``node`` as a consumer would; how big, how fast.

    Raises:
        UserError: GStreamer, its PipeWire plugin or a PipeWire session missing; no frame within ``timeout``
            (the node absent or not producing); a format of unknown size.
    """
    if not NODE_NAME.fullmatch(node):
        raise UserError(f"node {node!r}: a PipeWire node name has only letters, digits, '.', '_' and '-'")
    _probe_needs()
    rfd, wfd = os.pipe()
    cmd = ["gst-launch-1.0", "-v", "--no-fault", "pipewiresrc", f"target-object={node}", f"num-buffers={frames}",
           "!", "video/x-raw", "!", "fdsink", f"fd={wfd}", "sync=false"]
    t0 = time.monotonic()
    try:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                pass_fds=(wfd,), start_new_session=True)
    finally:
        os.close(wfd)
    caps, text, arrivals, got = None, b"", [], 0
    try:
        deadline = t0 + timeout
        streams = [proc.stdout.fileno(), rfd]
        while streams and time.monotonic() < deadline:
            ready, _, _ = select.select(streams, [], [], 0.1)
            for fd in ready:
                chunk = os.read(fd, 1 << 20)
                if not chunk:
                    streams.remove(fd)
                elif fd == rfd:
                    got += len(chunk)
                    size = _frame_bytes(caps)
                    while size and got >= size * (len(arrivals) + 1):
                        arrivals.append(time.monotonic())
                else:
                    text += chunk
                    if caps is None:
                        caps = next(filter(None, map(_caps, text.decode(errors="replace").splitlines())), None)
    finally:
        os.close(rfd)
        _stop(proc)
    timed_out = len(arrivals) < frames
    if not arrivals:
        if caps is not None and _frame_bytes(caps) is None:
            raise UserError(f"node {node!r} sends {caps['format']} frames, whose size probe does not know")
        raise UserError(f"no frame from PipeWire node {node!r} within {timeout:g} s: is it running (vcam-sharpen "
                        f"start --output pipewire)? Camera nodes now: "
                        f"{', '.join(n['name'] for n in video_sources()) or 'none'}")
    span = arrivals[-1] - arrivals[0]
    return Probe(node, len(arrivals), caps["width"], caps["height"], caps["format"], caps["fps"],
                 (len(arrivals) - 1) / span if len(arrivals) > 1 and span > 0 else None, arrivals[0] - t0, timed_out)


def _frame_bytes(caps: dict | None) -> int | None:
    if caps is None or caps["format"] not in BYTES_PER_PIXEL:
        return None
    return int(caps["width"] * caps["height"] * BYTES_PER_PIXEL[caps["format"]])


def _stop(proc: subprocess.Popen) -> None:
    """End a probe's gst-launch-1.0 (its own process group: nothing it started is left)."""
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=0.5)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=1.0)
    proc.stdout.close()
