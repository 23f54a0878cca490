"""The daemon's files in the runtime folder: the pid lock and the state file ``status`` reads.

``daemon.pid`` holds an exclusive ``flock`` while a daemon runs, so a file left by a crash is
harmless (nobody holds its lock); ``state.json`` is refreshed about once a second;
``daemon.log`` is what a background daemon printed.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from ..core.errors import UserError
from ..core.files import atomic_write
from ..core.paths import runtime_dir

PID_FILE, STATE_FILE, LOG_FILE = "daemon.pid", "state.json", "daemon.log"

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None
    import msvcrt


def paths() -> dict[str, Path]:
    d = runtime_dir()
    return {"pid": d / PID_FILE, "state": d / STATE_FILE, "log": d / LOG_FILE}


class PidLock:
    """An exclusive lock on the pid file, held for the daemon's lifetime.

    The kernel drops the lock when the process dies, so a pid file left behind by a
    crash is recognised as stale (nobody holds its lock) and simply taken over.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.fd: int | None = None

    def acquire(self) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        deadline = time.monotonic() + 0.5  # a concurrent `status` may hold a shared lock for a moment
        while not _try_lock(fd, exclusive=True):
            if time.monotonic() > deadline:
                os.close(fd)
                pid = read_pid(self.path)
                raise AlreadyRunning(already_running(pid))
            time.sleep(0.05)
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self.fd = fd

    def release(self, *also_remove: Path) -> None:
        if self.fd is None:
            return
        for p in (*also_remove, self.path):  # removed while still locked: nobody sees a half state
            try:
                p.unlink()
            except OSError:
                pass
        os.close(self.fd)
        self.fd = None


class AlreadyRunning(UserError):
    pass


def already_running(pid: int | None) -> str:
    return f"vcam-sharpen is already running (pid {pid}); stop it first with: vcam-sharpen stop"


def _try_lock(fd: int, exclusive: bool) -> bool:
    if fcntl is None:
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
            if not exclusive:
                msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
            return True
        except OSError:
            return False
    try:
        fcntl.flock(fd, (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)
        if not exclusive:
            fcntl.flock(fd, fcntl.LOCK_UN)
        return True
    except OSError:
        return False


def read_pid(path: Path) -> int | None:
    try:
        return int(Path(path).read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def running_pid() -> int | None:
    """The pid of the running daemon, or None (a stale pid file is removed)."""
    p = paths()
    if not p["pid"].exists():
        return None
    try:
        fd = os.open(p["pid"], os.O_RDONLY)
    except OSError:
        return None
    try:
        free = _try_lock(fd, exclusive=False)
    finally:
        os.close(fd)
    if not free:
        return read_pid(p["pid"])
    for stale in (p["pid"], p["state"]):  # nobody holds the lock: left behind by a crash
        try:
            stale.unlink()
        except OSError:
            pass
    return None


def read_state() -> dict | None:
    try:
        return json.loads(paths()["state"].read_text())
    except (OSError, ValueError):
        return None


def write_state(data: dict) -> None:
    """Replace the state file atomically (``status`` never reads half a file)."""
    atomic_write(paths()["state"], json.dumps(data, indent=1), private=True)
