"""Changing a running daemon without a restart: ``vcam-sharpen set strength 0.6``.

The command writes the wanted values to ``control.json`` in the runtime folder (atomically)
and sends SIGUSR2; the daemon applies them between two frames and confirms through its
state file. Only settings that can change mid-stream are here: the rest needs a restart.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import time

from ..core.errors import UserError
from ..core.files import atomic_write
from ..frames.sharpen import LIVE, check_live
from .lock import paths, read_state, running_pid

log = logging.getLogger(__name__)

CONTROL_SIGNAL = getattr(signal, "SIGUSR2", None)
CONTROL_FILE = "control.json"


def parse(name: str, text: str):
    """The value of live setting ``name`` from its command-line text; a one-line UserError otherwise."""
    if name not in LIVE:
        raise UserError(f"cannot change {name!r} while running; use one of: {', '.join(LIVE)} "
                        "(others need a restart: vcam-sharpen stop, then start with the new option)")
    if name == "temporal":
        value = str(text).lower()
    elif name == "strength":
        try:
            value = float(text)
        except ValueError:
            raise UserError(f"strength {text!r}: give a number from 0 to 1, e.g. 0.6") from None
    else:
        words = {"on": True, "true": True, "1": True, "off": False, "false": False, "0": False}
        if str(text).lower() not in words:
            raise UserError(f"{name} {text!r}: use on or off")
        value = words[str(text).lower()]
    try:
        return check_live(name, value)
    except ValueError as e:
        raise UserError(str(e)) from None


def request(changes: dict, timeout: float = 3.0) -> dict:
    """Ask the running daemon to apply ``changes``; returns its state once it confirmed them."""
    if CONTROL_SIGNAL is None:
        raise UserError("changing a running daemon needs SIGUSR2, which this system lacks; restart it instead")
    pid = running_pid()
    if pid is None:
        raise UserError("vcam-sharpen is not running; start it with: vcam-sharpen start")
    seq = int((read_state() or {}).get("control_seq", 0)) + 1
    atomic_write(paths()["state"].with_name(CONTROL_FILE), json.dumps({"seq": seq, "changes": changes}),
                 private=True)
    os.kill(pid, CONTROL_SIGNAL)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = read_state() or {}
        if state.get("control_seq", 0) >= seq:
            return state
        time.sleep(0.05)
    raise UserError(f"the daemon (pid {pid}) did not confirm the change; see {paths()['log']}")


def apply(sharpener) -> int | None:
    """Daemon side: apply the waiting ``control.json`` to ``sharpener``; returns its sequence number."""
    path = paths()["state"].with_name(CONTROL_FILE)
    try:
        msg = json.loads(path.read_text())
        seq, changes = int(msg["seq"]), dict(msg["changes"])
    except (OSError, ValueError, KeyError, TypeError) as e:
        log.warning("ignoring an unreadable %s (%s)", path, e)
        return None
    for name, value in changes.items():
        try:
            sharpener.apply_live({name: check_live(name, value)})
        except ValueError:
            log.warning("ignoring %s=%r from %s", name, value, path)
            continue
        log.warning("%s set to %s", name, value)
    return seq
