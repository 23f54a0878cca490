"""The pid lock and the state file: one daemon at a time, stale files from a crash are harmless."""

from __future__ import annotations

import json
import os
import stat

import pytest
from conftest_daemon import daemon_env  # noqa: F401

from vcam_sharpen.daemon.lock import (AlreadyRunning, PidLock, already_running, paths, read_pid, read_state,
                                      running_pid, write_state)


def test_paths_live_in_the_private_runtime_folder(daemon_env):
    p = paths()
    folder = daemon_env / "xdg_runtime_dir" / "vcam-sharpen"
    assert p == {"pid": folder / "daemon.pid", "state": folder / "state.json", "log": folder / "daemon.log"}
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700


def test_pid_lock_single_instance_and_stale_pid_file():
    p = paths()
    lock = PidLock(p["pid"])
    lock.acquire()
    try:
        assert running_pid() == os.getpid() and read_pid(p["pid"]) == os.getpid()
        with pytest.raises(AlreadyRunning, match=f"already running \\(pid {os.getpid()}\\)"):
            PidLock(p["pid"]).acquire()
    finally:
        lock.release(p["state"])
    lock.release()  # twice is fine
    assert not p["pid"].exists()
    # a pid file left by a crash (nobody holds its lock) is stale: ignored and cleaned
    p["pid"].write_text("999999\n")
    p["state"].write_text("{}")
    assert running_pid() is None and not p["pid"].exists() and not p["state"].exists()


def test_read_pid_of_junk_is_none(tmp_path):
    (tmp_path / "pid").write_text("not a number\n")
    assert read_pid(tmp_path / "pid") is None and read_pid(tmp_path / "missing") is None
    assert already_running(42) == "vcam-sharpen is already running (pid 42); stop it first with: vcam-sharpen stop"


def test_state_file_is_replaced_whole_and_private():
    assert read_state() is None
    write_state({"status": "running", "fps_out": 30.0})
    assert read_state() == {"status": "running", "fps_out": 30.0}
    path = paths()["state"]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [f.name for f in path.parent.iterdir() if f.name.startswith(".")] == []  # no temp file left
    path.write_text("{half")
    assert read_state() is None
    write_state({"status": "paused"})
    assert json.loads(path.read_text()) == {"status": "paused"}
