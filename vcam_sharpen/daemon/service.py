"""A systemd ``--user`` unit that runs the daemon at login and restarts it on failure."""

from __future__ import annotations

import sys
from pathlib import Path

from ..core.errors import UserError
from ..core.files import atomic_write, check_output
from ..core.paths import config_home
from .settings import effective, settings_args

UNIT_NAME = "vcam-sharpen.service"


def unit_path() -> Path:
    """``$XDG_CONFIG_HOME/systemd/user/vcam-sharpen.service``."""
    return config_home() / "systemd" / "user" / UNIT_NAME


def _quote(arg: str) -> str:
    """One ExecStart word, quoted for systemd (``%`` is a specifier there, so doubled)."""
    arg = str(arg).replace("%", "%%")
    if arg and not any(c in arg for c in ' \t"\'\\;$'):
        return arg
    return '"' + arg.replace("\\", "\\\\").replace('"', '\\"') + '"'


def unit_text(args: list[str], python: str | None = None) -> str:
    """The unit file: ``python -m vcam_sharpen run ARGS`` with ``Restart=on-failure``.

    Only the options given at install time are baked in; everything else comes from the
    config file when the service starts, so editing ``config.toml`` needs no reinstall.
    """
    python = python or sys.executable
    exec_start = " ".join(_quote(a) for a in [python, "-m", "vcam_sharpen", "-v", "run", *args])
    return f"""[Unit]
Description=vcam-sharpen: sharpened webcam as a virtual camera
After=graphical-session.target

[Service]
Type=simple
ExecStart={exec_start}
Restart=on-failure
RestartSec=5
# SIGTERM is a clean stop (camera and virtual camera released within 2 s)
KillSignal=SIGTERM
TimeoutStopSec=10
Environment=PYTHONUNBUFFERED=1

[Install]
WantedBy=default.target
"""


def install(args: list[str], path: Path | None = None, force: bool = False) -> tuple[Path, str]:
    """Write the unit; returns ``(path, "written" | "unchanged" | "replaced")``.

    Raises:
        UserError: a different unit already exists there and ``force`` is not set.
    """
    path = Path(path) if path is not None else unit_path()
    text = unit_text(args)
    check_output(path, "--path")  # a folder, a FIFO (whose read would block), a device: refused before reading
    outcome = "written"
    if path.exists():
        try:
            old = path.read_text()
        except OSError as e:
            raise UserError(f"cannot read the existing unit {path} ({e.strerror})") from None
        if old == text:
            return path, "unchanged"
        if not force:
            raise UserError(f"{path} exists with different contents; keep it, or replace it with --force")
        outcome = "replaced"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, text)
    except OSError as e:
        raise UserError(f"cannot write {path} ({e.strerror}); pass another --path") from None
    return path, outcome


def install_from_overrides(overrides: dict, path: Path | None = None, force: bool = False) -> tuple[Path, str]:
    """:func:`install` with the options the user typed (validated first; a bad one is a UserError)."""
    settings, origin = effective(overrides)
    baked = {k: getattr(settings, k) for k in overrides}
    return install(settings_args(baked), path=path, force=force)


def next_steps(path: Path) -> str:
    """What to run after installing."""
    if path == unit_path():
        return ("enable it with: systemctl --user daemon-reload && systemctl --user enable --now vcam-sharpen\n"
                "logs: journalctl --user -u vcam-sharpen -f")
    return (f"copy it to {unit_path()}, then: "
            "systemctl --user daemon-reload && systemctl --user enable --now vcam-sharpen")
