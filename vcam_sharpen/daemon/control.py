"""Changing a running daemon without a restart: ``vcam-sharpen set strength 0.6``, ``set model student``.

The command writes the wanted values to ``control.json`` in the runtime folder (atomically)
and sends SIGUSR2; the daemon hands them to its :class:`~vcam_sharpen.daemon.panel.PanelController`,
the same one the control panel uses, and confirms through its state file. Strength, sharpening and
split apply between two frames; a model or mode change builds a new sharpener in the background and
swaps it in (camera and outputs kept), which :func:`request` waits for. The rest needs a restart.
"""

from __future__ import annotations

import json
import logging
import signal
import time

from ..core.errors import UserError, one_line
from ..core.files import atomic_write
from ..frames.live import LIVE, check_live
from ..web.panel_app import MODES, mode_name
from .lock import daemon_identity, paths, read_state, signal_daemon
from .settings import check_value

log = logging.getLogger(__name__)

CONTROL_SIGNAL = getattr(signal, "SIGUSR2", None)
CONTROL_FILE = "control.json"
REBUILD_TIMEOUT_S = 180.0  # a model change loads, exports and warms up a model; auto measures the students
# ``set mode`` words -> (degrade, upscale): the panel's three modes
MODE_WORDS = {"2x": (2, False), "upscale": (1, True), "same-size": (1, False)}
ALIASES = {"degrade": "2x", "same": "same-size"}
SWITCHES = ("model", "mode")  # changes that rebuild the sharpener


def parse(name: str, text: str):
    """The value of live setting ``name`` from its command-line text; a one-line UserError otherwise.
    ``model`` is a model name, tag or file; ``mode`` is one of :data:`MODE_WORDS`, sent as the panel's mode."""
    if name not in LIVE and name not in SWITCHES:
        raise UserError(f"cannot change {name!r} while running; use one of: {', '.join([*LIVE, *SWITCHES])} "
                        "(others need a restart: vcam-sharpen stop, then start with the new option)")
    if name == "model":
        try:
            return check_value("model", text)
        except ValueError as e:
            raise UserError(f"model {text!r}: {e}") from None
    if name == "mode":
        word = ALIASES.get(str(text).lower(), str(text).lower())
        if word not in MODE_WORDS:
            raise UserError(f"mode {text!r}: use 2x (simulated link, --degrade 2), upscale (--upscale) or "
                            f"same-size (--degrade 1)")
        return mode_name(*MODE_WORDS[word])
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


def request(changes: dict, timeout: float = 3.0, rebuild_timeout: float = REBUILD_TIMEOUT_S) -> dict:
    """Ask the running daemon to apply ``changes``; returns its state once it confirmed them (for a model or
    mode change: once the new sharpener runs). A refused or failed change is a one-line UserError."""
    if CONTROL_SIGNAL is None:
        raise UserError("changing a running daemon needs SIGUSR2, which this system lacks; restart it instead")
    if daemon_identity() is None:  # proven before control.json is written
        raise UserError("vcam-sharpen is not running; start it with: vcam-sharpen start")
    seq = int((read_state() or {}).get("control_seq", 0)) + 1
    atomic_write(paths()["state"].with_name(CONTROL_FILE), json.dumps({"seq": seq, "changes": changes}),
                 private=True)
    pid = signal_daemon(CONTROL_SIGNAL)
    if pid is None:
        raise UserError("vcam-sharpen stopped before the change reached it; start it with: vcam-sharpen start")
    state = _wait(lambda st: st.get("control_seq", 0) >= seq, timeout)
    if state is None:
        raise UserError(f"the daemon (pid {pid}) did not confirm the change; see {paths()['log']}")
    if state.get("control_error"):
        raise UserError(state["control_error"])
    if not any(k in changes for k in SWITCHES):
        return state
    state = _wait(lambda st: not st.get("rebuilding"), rebuild_timeout)
    if state is None:
        raise UserError(f"the daemon (pid {pid}) is still switching after {rebuild_timeout:.0f} s; "
                        f"see vcam-sharpen status and {paths()['log']}")
    if state.get("rebuild_error"):
        raise UserError(state["rebuild_error"])
    return state


def _wait(done, timeout: float) -> dict | None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = read_state() or {}
        if done(state):
            return state
        time.sleep(0.05)
    return None


def apply(controller) -> tuple[int, str | None] | None:
    """Daemon side: hand the waiting ``control.json`` to ``controller`` (the daemon's
    :class:`~vcam_sharpen.daemon.panel.PanelController`). Returns its sequence number and why it was refused
    (None: accepted), or None when the file is unreadable."""
    path = paths()["state"].with_name(CONTROL_FILE)
    try:
        msg = json.loads(path.read_text())
        seq, changes = int(msg["seq"]), dict(msg["changes"])
    except (OSError, ValueError, KeyError, TypeError) as e:
        log.warning("ignoring an unreadable %s (%s)", path, e)
        return None
    accepted = {}
    for name, value in changes.items():
        try:
            if name == "mode" and value not in MODES or name == "model" and not isinstance(value, str):
                raise ValueError(name)
            accepted[name] = value if name in SWITCHES else check_live(name, value)
        except (ValueError, TypeError):
            log.warning("ignoring %s=%r from %s", name, value, path)
    try:
        controller.apply(accepted)
    except UserError as e:
        log.warning("refused %s: %s", ", ".join(f"{k}={v}" for k, v in accepted.items()), one_line(e))
        return seq, one_line(e)
    log.info("set %s", ", ".join(f"{k}={v}" for k, v in accepted.items()))
    return seq, None
