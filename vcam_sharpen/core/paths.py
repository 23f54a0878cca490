"""Where the package keeps its files: the XDG base directories, in one place.

Every function only computes a path; :func:`runtime_dir` alone creates its folder, because
the daemon's pid and state files must live in a private (mode 700) folder.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

APP = "vcam-sharpen"


def _xdg(var: str, default: str) -> Path:
    env = os.environ.get(var)
    return Path(env) if env else Path.home() / default


def config_home() -> Path:
    """``$XDG_CONFIG_HOME`` or ``~/.config``."""
    return _xdg("XDG_CONFIG_HOME", ".config")


def config_path() -> Path:
    """The settings file, ``$XDG_CONFIG_HOME/vcam-sharpen/config.toml``."""
    return config_home() / APP / "config.toml"


def cache_home() -> Path:
    """``$XDG_CACHE_HOME/vcam-sharpen`` (``~/.cache/vcam-sharpen``): downloads and exported graphs."""
    return _xdg("XDG_CACHE_HOME", ".cache") / APP


def data_home() -> Path:
    """``$XDG_DATA_HOME/vcam-sharpen`` (``~/.local/share/vcam-sharpen``): data the user keeps."""
    return _xdg("XDG_DATA_HOME", ".local/share") / APP


def runtime_dir() -> Path:
    """``$XDG_RUNTIME_DIR/vcam-sharpen`` (created, private): pid, state and log files live here."""
    env = os.environ.get("XDG_RUNTIME_DIR")
    if env and Path(env).is_dir():
        path = Path(env) / APP
    else:
        uid = os.getuid() if hasattr(os, "getuid") else os.environ.get("USERNAME", "user")
        path = Path(tempfile.gettempdir()) / f"{APP}-{uid}"
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path
