"""Video device nodes on Linux: which ``/dev/videoN`` is a camera and which a v4l2loopback output.

Everything reads sysfs and ``/dev`` only (``sys_root``/``dev_root`` let tests point at a
fake tree); nothing is opened.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Device:
    path: str
    name: str
    kind: str  # "camera" or "virtual"
    access: bool


def is_loopback(dev: str, sys_root: Path = Path("/sys")) -> bool:
    """Whether ``/dev/videoN`` is a v4l2loopback (virtual) device, by sysfs under ``sys_root``."""
    name = Path(dev).name
    if (sys_root / "devices" / "virtual" / "video4linux" / name).exists():
        return True
    try:
        return "virtual" in str((sys_root / "class" / "video4linux" / name).resolve())
    except OSError:
        return False


def device_number(path: Path) -> int:
    """N of ``/dev/videoN`` (the sort key for device lists)."""
    return int(re.sub(r"\D", "", path.name) or 0)


def camera_devices() -> list[str]:
    """Capture devices present on Linux (``/dev/videoN`` that are not loopback outputs), sorted by N."""
    if not sys.platform.startswith("linux"):
        return []
    devs = sorted(Path("/dev").glob("video[0-9]*"), key=device_number)
    return [str(d) for d in devs if not is_loopback(str(d))]


def video_devices(sys_root: Path = Path("/sys"), dev_root: Path = Path("/dev")) -> list[Device]:
    """``/dev/videoN`` nodes with their sysfs name; v4l2loopback ones are ``virtual``."""
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


def version_tuple(v: str) -> tuple[int, ...]:
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
