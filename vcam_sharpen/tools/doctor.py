"""``vcam-sharpen doctor`` and ``list-devices``: what is there, what is missing, the exact fix.

Linux checks read sysfs and ``/dev`` only (the ``sys_root``/``dev_root`` arguments let
tests point them at a fake tree); nothing is opened for writing and no camera is grabbed.
"""

from __future__ import annotations

import os
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

from ..daemon.lock import running_pid
from ..io.inputs import probe_cameras
from ..io.pipewire_env import check_pipewire, video_sources
from ..io.sinks import has_display
from ..io.v4l2 import loopback_version, module_available, version_tuple, video_devices
from ..io.vcam import MODPROBE, MODULE_OPTIONS, virtual_backends

PERMANENT = (
    "make it permanent (loaded at every boot with these options):\n"
    "  echo v4l2loopback | sudo tee /etc/modules-load.d/v4l2loopback.conf\n"
    f"  echo 'options v4l2loopback {MODULE_OPTIONS}' | sudo tee /etc/modprobe.d/v4l2loopback.conf"
)
INSTALL_MODULE = ("install it: sudo apt install v4l2loopback-dkms (Debian/Ubuntu), "
                  "sudo dnf install v4l2loopback (Fedora, RPM Fusion), sudo pacman -S v4l2loopback-dkms (Arch)")
OBS = ("install OBS Studio 28 or newer (https://obsproject.com), click 'Start Virtual Camera' once and stop it "
       "again; vcam-sharpen then writes to 'OBS Virtual Camera' (OBS itself need not run)")


@dataclass
class Check:
    ok: bool | None  # None: information only
    title: str
    detail: str = ""
    fix: str = ""


def in_video_group() -> bool | None:
    """Whether this user is in the ``video`` group (None: no such group)."""
    try:
        import grp  # lazy: POSIX only

        gid = grp.getgrnam("video").gr_gid
    except (ImportError, KeyError):
        return None
    return os.getuid() == 0 or gid in os.getgroups()


def _access_check(devices: list, what: str, verb: str, note: str) -> "Check":
    """One check for a group of devices: fine if all can be used, else the fix for permissions."""
    denied = [d.path for d in devices if not d.access]
    if denied:
        return Check(False, f"{what.split()[0]} permissions", f"cannot {verb} {', '.join(denied)}",
                     "sudo usermod -aG video $USER, then log out and in")
    return Check(True, what, ", ".join(f"{d.path} ({d.name or 'unnamed'})" for d in devices) + note)


def _linux_checks(sys_root: Path, dev_root: Path) -> list[Check]:
    checks = []
    devices = video_devices(sys_root, dev_root)
    cams = [d for d in devices if d.kind == "camera"]
    loops = [d for d in devices if d.kind == "virtual"]
    group = in_video_group()
    if cams:
        checks.append(_access_check(cams, "camera", "open", ""))
    else:
        checks.append(Check(False, "camera", "no /dev/video* capture device",
                            "plug in a webcam (check: lsusb, dmesg | tail); "
                            "meanwhile --source demo or a video file works"))
    if group is False:
        checks.append(Check(False, "video group", "you are not in the 'video' group",
                            "sudo usermod -aG video $USER, then log out and in"))
    elif group is True:
        checks.append(Check(True, "video group", "member"))

    version = loopback_version(sys_root)
    if version is None:
        avail = module_available()
        fix = f"{MODPROBE}\n{PERMANENT}"
        if avail is False:
            fix = f"{INSTALL_MODULE}, then:\n{fix}"
        detail = "module not loaded" + (" (and not installed)" if avail is False else "")
        checks.append(Check(False, "v4l2loopback", detail, fix))
    else:
        note = ""
        if version and version_tuple(version) < (0, 12, 5):
            note = " (older than 0.12.5: Chrome may not list it; upgrade v4l2loopback-dkms)"
        elif version and version_tuple(version) < (0, 13):
            note = " (older than 0.13: the daemon cannot tell when no app reads it, so it never pauses)"
        checks.append(Check(True, "v4l2loopback", f"loaded, version {version or 'unknown'}{note}"))
        if not loops:
            checks.append(Check(False, "loopback device", "module loaded but no device",
                                f"sudo modprobe -r v4l2loopback && {MODPROBE}"))
        else:
            checks.append(_access_check(loops, "loopback device", "write",
                                        "; pass it with --vcam-device if there are several"))
            caps = sys_root / "module" / "v4l2loopback" / "parameters" / "exclusive_caps"
            try:
                value = caps.read_text().strip()
            except OSError:
                value = ""
            if value and not value.upper().startswith(("Y", "1")):
                checks.append(Check(False, "exclusive_caps",
                                    f"exclusive_caps={value}: Chrome/Meet/Teams will not list it",
                                    f"sudo modprobe -r v4l2loopback && {MODPROBE}"))
    return checks


def checks(sys_root: Path = Path("/sys"), dev_root: Path = Path("/dev"), platform: str | None = None) -> list[Check]:
    """Everything ``doctor`` reports, in order."""
    platform = platform or sys.platform
    backends = virtual_backends()
    out = [Check(None, "platform", f"{platform}, Python {sys.version.split()[0]}")]
    if platform.startswith("linux"):
        out += _linux_checks(Path(sys_root), Path(dev_root))
    elif platform in ("win32", "darwin"):
        if "obs" in backends:
            out.append(Check(None, "virtual camera", "OBS backend present; it needs OBS Virtual Camera installed", OBS))
        else:
            out.append(Check(False, "virtual camera", "no OBS virtual camera backend", OBS))
        if platform == "darwin":
            out.append(Check(None, "camera permission", "macOS asks once per app",
                             "allow your terminal in System Settings > Privacy & Security > Camera"))
    if platform.startswith("linux"):
        ok, detail, fix = check_pipewire()
        # Optional: the PipeWire output is the alternative to v4l2loopback, so missing is information.
        out.append(Check(True if ok else None, "PipeWire camera (--output pipewire)", detail, fix))
    out.append(Check(bool(backends), "pyvirtualcam backends", ", ".join(backends) or "none",
                     "" if backends else "pip install --force-reinstall pyvirtualcam"))
    out.append(Check(None, "preview window", "available" if has_display() else
                     "no display: --output preview will not work here (use --output FILE.mp4)"))
    try:
        pid = running_pid()
    except OSError:
        pid = None
    out.append(Check(None, "daemon", f"running (pid {pid})" if pid else "not running"))
    return out


def as_dicts(items) -> list[dict]:
    return [asdict(c) for c in items]


def list_devices(sys_root: Path = Path("/sys"), dev_root: Path = Path("/dev")) -> dict:
    """``{"cameras": [...], "virtual": [...], "backends": [...]}`` for ``list-devices``."""
    if sys.platform.startswith("linux"):
        devs = video_devices(Path(sys_root), Path(dev_root))
        cams = [asdict(d) for d in devs if d.kind == "camera"]
        virt = [asdict(d) for d in devs if d.kind == "virtual"]
    else:  # no device nodes: probe the first few OpenCV indices
        cams = [{"path": str(i), "name": f"camera {i}", "kind": "camera", "access": True} for i in probe_cameras()]
        virt = []
    return {"cameras": cams, "virtual": virt, "backends": virtual_backends(),
            "pipewire": video_sources() if sys.platform.startswith("linux") else []}
