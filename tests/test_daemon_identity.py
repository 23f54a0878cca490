"""Process safety: stop, toggle and set signal only a process proven to be the daemon.

A planted pid file (an unrelated process's pid, -1, 0, 1, junk) must never make us signal
anything, whoever holds the lock. Every test here replaces ``os.kill`` and
``signal.pidfd_send_signal`` with recorders first, so even a regression cannot hit a real process.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from click.testing import CliRunner
from conftest_daemon import daemon_env  # noqa: F401

from vcam_sharpen.cli import cli
from vcam_sharpen.core.errors import UserError
from vcam_sharpen.daemon import control, identity, lifecycle
from vcam_sharpen.daemon.lock import PidLock, daemon_identity, paths, read_state, signal_daemon

pytestmark = pytest.mark.skipif(not os.path.isdir("/proc"), reason="needs /proc")

REAL_KILL = os.kill  # the fixtures end their own children with it, after the recorders are in place
HOLD = ("import fcntl, os, sys, time\n"
        "fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)\n"
        "fcntl.flock(fd, fcntl.LOCK_EX)\n"
        "print('held', flush=True)\n"
        "time.sleep(60)\n")


@pytest.fixture
def sent(monkeypatch):
    """Every signal the code under test tries to send (none reaches a process)."""
    calls = []
    monkeypatch.setattr(os, "kill", lambda pid, sig: calls.append(("kill", pid, sig)))
    monkeypatch.setattr(signal, "pidfd_send_signal", lambda fd, sig, *a: calls.append(("pidfd", fd, sig)),
                        raising=False)
    return calls


@pytest.fixture
def bystander():
    """An unrelated process of this user (what a planted pid names)."""
    p = subprocess.Popen(["sleep", "60"])
    yield p
    if p.poll() is None:
        REAL_KILL(p.pid, signal.SIGKILL)
        p.wait()


@pytest.fixture
def holder():
    """Another process holding the daemon's pid lock (as a real daemon, or anyone, might)."""
    path = paths()["pid"]
    p = subprocess.Popen([sys.executable, "-c", HOLD, str(path)], stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "held"
    yield p
    if p.poll() is None:
        REAL_KILL(p.pid, signal.SIGKILL)
        p.wait()


def plant(pid_text: str, state: dict | None = None) -> None:
    paths()["pid"].write_text(pid_text)
    if state is not None:
        paths()["state"].write_text(json.dumps(state))


def refused_everywhere(sent) -> None:
    """stop, toggle and set all refuse with one line and exit 2, and nothing was signalled."""
    with pytest.raises(UserError, match="not signalling anything"):
        lifecycle.stop()
    with pytest.raises(UserError, match="not signalling anything"):
        lifecycle.toggle()
    with pytest.raises(UserError, match="not signalling anything"):
        control.request({"strength": 0.5})
    for argv in (["stop"], ["toggle"], ["set", "strength", "0.5"]):
        r = CliRunner().invoke(cli, argv)
        assert r.exit_code == 2, (argv, r.output)
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: not signalling anything"), r.stderr
        assert "fuser" in lines[0]
    assert sent == []
    assert not (paths()["pid"].parent / control.CONTROL_FILE).exists()  # nothing written for the daemon either


def bystander_identity(p) -> dict:
    for _ in range(100):  # the child has exec'd sleep once its command line says so
        d = identity.describe(p.pid)
        if d and d["cmdline"][:1] == ["sleep"]:
            return d
        time.sleep(0.01)
    raise AssertionError("sleep did not start")


@pytest.mark.parametrize("text", ["{pid}\n", "-1\n", "0\n", "1\n", "garbage\n", "", "99999999999999999999\n",
                                  "0x10\n", "{me}\n"])
def test_a_planted_pid_file_signals_nothing(text, holder, bystander, sent):
    plant(text.format(pid=bystander.pid, me=os.getpid()))
    refused_everywhere(sent)
    assert bystander.poll() is None and holder.poll() is None


def test_a_planted_state_file_naming_the_bystander_is_not_enough(holder, bystander, sent):
    """Even with the bystander's true start time and command line recorded, it does not hold the lock."""
    plant(f"{bystander.pid}\n", {"pid": bystander.pid, "daemon": bystander_identity(bystander)})
    refused_everywhere(sent)
    assert bystander.poll() is None


@pytest.mark.parametrize("change", [
    {"start": 1},  # the pid was reused by a later process
    {"cmdline": ["python", "-m", "vcam_sharpen", "run"]},
    {"pid": 1},
    {"pid": -1},
])
def test_a_record_that_does_not_match_the_live_process_is_refused(change, holder, sent):
    real = identity.describe(holder.pid)
    plant(f"{holder.pid}\n", {"daemon": {**real, **change}})
    refused_everywhere(sent)
    assert holder.poll() is None


def test_the_lock_holder_with_its_own_record_is_proven(holder, sent):
    """The positive case: what a daemon writes about itself is accepted, and the signal goes to it alone."""
    real = identity.describe(holder.pid)
    plant(f"{holder.pid}\n", {"daemon": real})
    assert identity.flock_holders(paths()["pid"]) == {holder.pid}
    assert daemon_identity() == real
    assert signal_daemon(signal.SIGUSR1) == holder.pid
    assert len(sent) == 1 and sent[0][2] == signal.SIGUSR1


def test_a_daemon_records_who_it_is_when_it_takes_the_lock():
    lock = PidLock(paths()["pid"])
    lock.acquire()
    try:
        state = read_state()
        me = identity.describe(os.getpid())
        assert state["daemon"] == me and state["pid"] == os.getpid() and state["status"] == "starting"
        assert me["start"] > 0 and me["uid"] == os.getuid() and me["cmdline"][0]
        assert daemon_identity() == me
        assert identity.flock_holders(paths()["pid"]) == {os.getpid()}
        assert lifecycle.status()["running"] is True and lifecycle.status()["status"] == "starting"
    finally:
        lock.release(paths()["state"])
    assert daemon_identity() is None


def test_nothing_to_signal_when_no_lock_is_held(bystander, sent):
    plant(f"{bystander.pid}\n", {"daemon": bystander_identity(bystander)})  # stale files: nobody holds the lock
    assert lifecycle.stop() is None and sent == []
    assert not paths()["pid"].exists()  # cleaned as stale
    assert bystander.poll() is None


@pytest.mark.parametrize("pid", [-1, 0, 1, True, None, "12"])
def test_describe_and_send_never_touch_pids_of_one_or_less(pid, sent):
    assert identity.describe(pid) is None
    assert identity.send(pid, {"pid": pid, "start": 0, "cmdline": []}, signal.SIGTERM) is False
    assert identity.mismatch(pid, {"pid": pid}, paths()["pid"]) is not None
    assert sent == []


def test_send_checks_the_process_again(bystander, sent):
    rec = bystander_identity(bystander)
    assert identity.send(bystander.pid, {**rec, "start": rec["start"] + 1}, signal.SIGTERM) is False
    assert identity.send(bystander.pid, rec, signal.SIGTERM) is True and len(sent) == 1
    REAL_KILL(bystander.pid, signal.SIGKILL)
    bystander.wait()
    assert identity.describe(bystander.pid) is None
    assert identity.send(bystander.pid, rec, signal.SIGTERM) is False and len(sent) == 1
