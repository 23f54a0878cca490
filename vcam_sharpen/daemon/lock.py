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
from .identity import describe, mismatch, send

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
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o600)
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
        # who holds the lock, recorded now in the state file: stop/toggle/set signal only this process
        _HELD["daemon"] = describe(os.getpid())
        now = time.time()
        try:
            write_state({"pid": os.getpid(), "status": "starting", "started": now, "updated": now})
        except OSError:
            pass  # the daemon warns when its first real state cannot be written

    def release(self, *also_remove: Path) -> None:
        if self.fd is None:
            return
        for p in (*also_remove, self.path):  # removed while still locked: nobody sees a half state
            try:
                p.unlink()
            except OSError:
                pass
        _HELD.pop("daemon", None)
        os.close(self.fd)
        self.fd = None


# The identity of this process while it holds the pid lock (added to every state file it writes).
_HELD: dict = {}


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
    """The pid in the pid file; None for junk and for pids of 1 or less (never a process to signal)."""
    try:
        text = Path(path).read_text(errors="replace").split()[0]
    except (OSError, IndexError):
        return None
    if not text.isdecimal() or len(text) > 10:
        return None
    pid = int(text)
    return pid if pid > 1 else None


def lock_held() -> bool:
    """Whether some process holds the pid lock (a stale pid and state file is removed when none does)."""
    p = paths()
    try:
        fd = os.open(p["pid"], os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    except OSError:
        return False
    try:
        free = _try_lock(fd, exclusive=False)
    finally:
        os.close(fd)
    if not free:
        return True
    for stale in (p["pid"], p["state"]):  # nobody holds the lock: left behind by a crash
        try:
            stale.unlink()
        except OSError:
            pass
    return False


def running_pid() -> int | None:
    """The pid the running daemon's pid file names, or None (for status; signals go through :func:`signal_daemon`)."""
    return read_pid(paths()["pid"]) if lock_held() else None


def daemon_identity() -> dict | None:
    """The running daemon's recorded identity (pid, start time, command line), proven against the live
    process and the lock's holder; None when no daemon runs.

    Raises:
        UserError: the lock is held but the pid file names a process not proven to be the daemon.
    """
    if not lock_held():
        return None
    path = paths()["pid"]
    pid = read_pid(path)
    recorded = (read_state() or {}).get("daemon")
    why = mismatch(pid, recorded, path)
    if why is not None:
        raise UserError(f"not signalling anything: {why}; check what holds {path} (fuser {path}) and stop it "
                        f"yourself if it is a vcam-sharpen daemon")
    return recorded


def signal_daemon(sig: int) -> int | None:
    """Send ``sig`` to the proven running daemon; its pid, or None when none runs (or it just exited)."""
    recorded = daemon_identity()
    if recorded is None:
        return None
    return recorded["pid"] if send(recorded["pid"], recorded, sig) else None


def read_state() -> dict | None:
    try:
        return json.loads(paths()["state"].read_text())
    except (OSError, ValueError):
        return None


def write_state(data: dict) -> None:
    """Replace the state file atomically (``status`` never reads half a file); while this process holds
    the pid lock, the file also records who it is (see :mod:`.identity`)."""
    if _HELD.get("daemon"):
        data = {**data, "daemon": _HELD["daemon"]}
    atomic_write(paths()["state"], json.dumps(data, indent=1), private=True)
