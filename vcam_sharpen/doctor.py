"""``vcam-sharpen doctor`` and ``list-devices``: what is there, what is missing, the exact fix.

Linux checks read sysfs and ``/dev`` only (the ``sys_root``/``dev_root`` arguments let
tests point them at a fake tree); nothing is opened for writing and no camera is grabbed.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

MODULE_OPTIONS = 'devices=1 video_nr=10 card_label="vcam-sharpen" exclusive_caps=1'
MODPROBE = f"sudo modprobe v4l2loopback {MODULE_OPTIONS}"
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


@dataclass
class Device:
    path: str
    name: str
    kind: str  # "camera" or "virtual"
    access: bool


def video_devices(sys_root: Path = Path("/sys"), dev_root: Path = Path("/dev")) -> list[Device]:
    """``/dev/videoN`` nodes with their sysfs name; v4l2loopback ones are ``virtual``."""
    from .sources import device_number, is_loopback

    virtual = sys_root / "devices" / "virtual" / "video4linux"
    out = []
    for node in sorted(dev_root.glob("video[0-9]*"), key=device_number):
        name_file = sys_root / "class" / "video4linux" / node.name / "name"
        try:
            name = name_file.read_text().strip()
        except OSError:
            name = (virtual / node.name / "name").read_text().strip() if (virtual / node.name / "name").exists() else ""
        kind = "virtual" if is_loopback(str(node), sys_root) else "camera"
        out.append(Device(str(node), name, kind, os.access(node, os.R_OK | os.W_OK)))
    return out


def loopback_version(sys_root: Path = Path("/sys")) -> str | None:
    """The loaded v4l2loopback version ('' if loaded without one), or None when not loaded."""
    mod = sys_root / "module" / "v4l2loopback"
    if not mod.is_dir():
        return None
    try:
        return (mod / "version").read_text().strip()
    except OSError:
        return ""


def _version_tuple(v: str) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", v)[:3])


def module_available() -> bool | None:
    """Whether the v4l2loopback module is installed for this kernel (None: cannot tell)."""
    if not shutil.which("modinfo"):
        return None
    try:
        r = subprocess.run(["modinfo", "-F", "version", "v4l2loopback"], capture_output=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return r.returncode == 0


def in_video_group() -> bool | None:
    """Whether this user is in the ``video`` group (None: no such group)."""
    try:
        import grp

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
        if version and _version_tuple(version) < (0, 12, 5):
            note = " (older than 0.12.5: Chrome may not list it; upgrade v4l2loopback-dkms)"
        elif version and _version_tuple(version) < (0, 13):
            note = " (older than 0.13: the daemon cannot tell when no app reads it, so it never pauses)"
        checks.append(Check(True, "v4l2loopback", f"loaded, version {version or 'unknown'}{note}"))
        if not loops:
            checks.append(Check(False, "loopback device", "module loaded but no device",
                                f"sudo modprobe -r v4l2loopback && {MODPROBE}"))
        else:
            checks.append(_access_check(loops, "loopback device", "write",
                                        "; pass it with --device if there are several"))
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
    from . import daemon
    from .sinks import has_display, virtual_backends

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
    out.append(Check(bool(backends), "pyvirtualcam backends", ", ".join(backends) or "none",
                     "" if backends else "pip install --force-reinstall pyvirtualcam"))
    out.append(Check(None, "preview window", "available" if has_display() else
                     "no display: --output preview will not work here (use --output FILE.mp4)"))
    try:
        pid = daemon.running_pid()
    except OSError:
        pid = None
    out.append(Check(None, "daemon", f"running (pid {pid})" if pid else "not running"))
    return out


def format_checks(items: list[Check]) -> str:
    marks = {True: "[ok]", False: "[!!]", None: "[--]"}
    lines = []
    for c in items:
        lines.append(f"{marks[c.ok]} {c.title}: {c.detail}".rstrip(": "))
        if c.fix and c.ok is not True:
            for i, line in enumerate(c.fix.splitlines()):
                lines.append(f"     {'fix: ' if i == 0 else '     '}{line}")
    return "\n".join(lines)


def as_dicts(items) -> list[dict]:
    return [asdict(c) for c in items]


def list_devices(sys_root: Path = Path("/sys"), dev_root: Path = Path("/dev")) -> dict:
    """``{"cameras": [...], "virtual": [...], "backends": [...]}`` for ``list-devices``."""
    from .sinks import virtual_backends

    if sys.platform.startswith("linux"):
        devs = video_devices(Path(sys_root), Path(dev_root))
        cams = [asdict(d) for d in devs if d.kind == "camera"]
        virt = [asdict(d) for d in devs if d.kind == "virtual"]
    else:  # no device nodes: probe the first few OpenCV indices
        from .sources import probe_cameras

        cams = [{"path": str(i), "name": f"camera {i}", "kind": "camera", "access": True} for i in probe_cameras()]
        virt = []
    return {"cameras": cams, "virtual": virt, "backends": virtual_backends()}


def format_devices(d: dict) -> str:
    lines = ["cameras (--source):"]
    lines += [f"  {c['path']:14s} {c['name'] or '(unnamed)'}" + ("" if c["access"] else "  [no permission]")
              for c in d["cameras"]] or ["  none (use --source demo or a video file)"]
    lines.append("virtual cameras (--device):")
    lines += [f"  {c['path']:14s} {c['name'] or '(unnamed)'}" + ("" if c["access"] else "  [no permission]")
              for c in d["virtual"]] or ["  none (run vcam-sharpen doctor)"]
    lines.append("virtual camera backends (--backend): " + (", ".join(d["backends"]) or "none"))
    return "\n".join(lines)
