"""Who a process is, so that ``stop``, ``toggle`` and ``set`` signal only the daemon itself.

A pid alone proves nothing: the pid file may be stale (its process died and the number was
reused) or planted. A daemon records its own identity in the state file when it takes the pid
lock: pid, start time (field 22 of ``/proc/PID/stat``, in clock ticks since boot, which a reused
pid never repeats), owner and command line. Before a signal, :func:`mismatch` compares that
record with the live process and with the kernel's list of lock holders (``/proc/locks``).
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

PROC = Path("/proc")


def describe(pid: int) -> dict | None:
    """``{"pid", "start", "uid", "cmdline"}`` of live process ``pid`` from /proc; None when it does not
    exist, is not visible, or the system has no /proc. Never describes a pid of 1 or less."""
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 1:
        return None
    try:
        stat = (PROC / str(pid) / "stat").read_text()
        cmdline = (PROC / str(pid) / "cmdline").read_bytes()
        uid = (PROC / str(pid)).stat().st_uid
    except OSError:
        return None
    try:  # the command name (field 2) is in parentheses and may itself hold spaces and ")"
        rest = stat.rsplit(")", 1)[1].split()
        start = int(rest[19])  # rest[0] is field 3 (state): field 22 is rest[19]
    except (IndexError, ValueError):
        return None
    if rest[0] in ("Z", "X"):  # exited, not yet reaped: nothing left to signal
        return None
    args = [a.decode(errors="replace") for a in cmdline.split(b"\0")]
    while args and args[-1] == "":
        args.pop()
    return {"pid": pid, "start": start, "uid": uid, "cmdline": args}


def flock_holders(path: Path) -> set[int] | None:
    """The pids holding a ``flock`` on ``path`` as the kernel lists them (``/proc/locks``); None when
    it cannot tell (no /proc/locks, the file is gone, or holders live in another pid namespace)."""
    try:
        st = os.stat(path)
        text = (PROC / "locks").read_text()
    except OSError:
        return None
    key = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    pids = set()
    for line in text.splitlines():
        parts = line.split()  # "1: FLOCK  ADVISORY  WRITE 1234 00:2b:5678 0 EOF"; waiters have "->" first
        if len(parts) >= 6 and parts[1] == "FLOCK" and parts[5] == key:
            try:
                pids.add(int(parts[4]))
            except ValueError:
                continue
    pids.discard(0)  # a holder outside this pid namespace shows as 0
    return pids or None


def mismatch(pid: int | None, recorded, lock_path: Path) -> str | None:
    """Why ``pid`` is not proven to be the daemon that recorded ``recorded`` (its state file's
    ``daemon`` entry) while holding the lock on ``lock_path``; None when it is proven."""
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 1:
        return f"the pid file names no valid process ({pid!r})"
    if not isinstance(recorded, dict):
        return f"the state file does not record which process pid {pid} is"
    if recorded.get("pid") != pid:
        return f"the pid file names pid {pid} but the state file records pid {recorded.get('pid')!r}"
    live = describe(pid)
    if live is None:
        return f"pid {pid} is not a live process this user can see"
    if live["uid"] != os.getuid():
        return f"pid {pid} belongs to another user"
    if (live["start"], live["cmdline"]) != (recorded.get("start"), recorded.get("cmdline")):
        return f"pid {pid} is another process than the daemon that started (start time or command line differ)"
    holders = flock_holders(lock_path)
    if holders is not None and pid not in holders:
        return f"pid {pid} does not hold the daemon's lock (held by {', '.join(map(str, sorted(holders)))})"
    return None


def same_process(pid: int, recorded: dict) -> bool:
    """Whether ``pid`` is still the very process ``recorded`` (not exited, pid not reused)."""
    live = describe(pid)
    return live is not None and (live["start"], live["cmdline"]) == (recorded.get("start"), recorded.get("cmdline"))


def send(pid: int, recorded: dict, sig: int) -> bool:
    """Send ``sig`` to ``pid`` only while it is still the process ``recorded``; False when it is not
    (or is gone). A pidfd pins the process between the check and the signal, so a pid reused in
    between is never hit (plain ``kill`` where the system has no pidfd)."""
    if not isinstance(pid, int) or pid <= 1:
        return False
    try:
        fd = os.pidfd_open(pid)
    except (AttributeError, OSError):
        fd = None
    try:
        if not same_process(pid, recorded):
            return False
        if fd is not None:
            signal.pidfd_send_signal(fd, sig)
        else:
            os.kill(pid, sig)
        return True
    except ProcessLookupError:
        return False
    finally:
        if fd is not None:
            os.close(fd)
