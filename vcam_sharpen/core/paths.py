"""Where the package keeps its files: the XDG base directories, in one place.

Every function only computes a path; :func:`runtime_dir` alone creates its folder, because
the daemon's pid and state files must live in a private (mode 700) folder.
"""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

from .errors import UserError, one_line

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
    """``$XDG_RUNTIME_DIR/vcam-sharpen`` (created, private): pid, state and log files live here.

    Without ``$XDG_RUNTIME_DIR`` it is ``$TMPDIR/vcam-sharpen-<uid>``, in a folder every user may
    write to: whoever creates that name first owns it. So the folder is created with mode 700 and
    used only while it is a real folder (not a link) owned by this user that nobody else may enter;
    otherwise another user could plant the pid file ``stop`` reads.

    Raises:
        UserError: the folder cannot be created, or is not private to this user (the line says the fix).
    """
    env = os.environ.get("XDG_RUNTIME_DIR")
    if env and Path(env).is_dir():
        path = Path(env) / APP
    else:
        uid = os.getuid() if hasattr(os, "getuid") else os.environ.get("USERNAME", "user")
        path = Path(tempfile.gettempdir()) / f"{APP}-{uid}"
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
    except FileExistsError:
        pass  # a file or a dangling link of that name: refused below
    except OSError as e:
        raise UserError(f"cannot create the state folder {path}: {e.strerror or one_line(e)}; set XDG_RUNTIME_DIR to a "
                        f"writable private folder (e.g. export XDG_RUNTIME_DIR=$HOME/.run)") from None
    _check_private(path)
    return path


def _check_private(path: Path) -> None:
    """A UserError unless ``path`` is a folder (not a link) owned by this user with mode 700."""
    try:
        st = os.lstat(path)
    except OSError as e:
        raise UserError(f"cannot use the state folder {path}: {e.strerror or one_line(e)}; set XDG_RUNTIME_DIR to a "
                        f"private folder") from None
    if not hasattr(os, "getuid"):  # Windows: the user's own temp folder
        return
    if stat.S_ISLNK(st.st_mode) or not stat.S_ISDIR(st.st_mode):
        raise UserError(f"the state folder {path} is not a folder (a link or a file); remove it "
                        f"(rm {path}) or set XDG_RUNTIME_DIR to a private folder")
    if st.st_uid != os.getuid():
        raise UserError(f"the state folder {path} belongs to another user (uid {st.st_uid}), who could plant "
                        f"files in it; set XDG_RUNTIME_DIR to a private folder of yours, or have it removed")
    if stat.S_IMODE(st.st_mode) & 0o077:
        raise UserError(f"the state folder {path} has mode {stat.S_IMODE(st.st_mode):o}, so other users could "
                        f"plant files in it; make it private with: chmod 700 {path}")
