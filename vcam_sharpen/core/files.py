"""Writing the user's files safely: outputs go only to regular files or new paths, and an atomic write
never leaves half a file where a whole one was.

:func:`check_output` is the one test of an output path, run by every command before any work
(``compare --out``, ``export --out``, ``mos export``, recordings, checkpoints, the config file,
...) and again by :func:`atomic_write` itself: a device, FIFO, socket or folder at the target is
refused with one line. An atomic write replaces the path with a new file by a rename, so without
the check ``--out /dev/null`` as root would replace the device node with a regular file.
"""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

from .errors import UserError, one_line

# st_mode file type -> what the message calls it
KINDS = ((stat.S_ISDIR, "a folder"), (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
         (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISSOCK, "a socket"))


NAME_MAX = 255  # bytes in one file name on Linux, macOS and Windows file systems


class WriteError(UserError, OSError):
    """A write the system refused (read-only file system, full disk, no permission): a one-line
    :class:`UserError` for the CLI that still is an ``OSError`` for code that tolerates failed writes."""

    def __init__(self, errno: int | None, strerror: str, message: str) -> None:
        super().__init__(errno, strerror)  # errno and strerror as the system said them
        self.message = message

    def __str__(self) -> str:
        return self.message


def kind(path: Path) -> str | None:
    """What is at ``path`` when it is not a regular file ("a FIFO (named pipe)", ...); None for a regular
    file (or a link to one) and for a new path (nothing there, or a dangling link)."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return None
    except OSError as e:  # a link loop, a path through a file: nothing can be written there either
        return f"unusable ({e.strerror or one_line(e)})"
    if stat.S_ISREG(mode):
        return None
    return next((text for test, text in KINDS if test(mode)), "not a regular file")


def check_output(path: Path, what: str = "") -> Path:
    """``path`` when it may be written: a regular file or a new path. Refuses devices, FIFOs, sockets
    and folders with a one-line :class:`UserError` (``what`` names the option, e.g. ``--out``)."""
    if len(os.fsencode(Path(path).name)) > NAME_MAX:
        raise UserError(f"{what} {str(path)[:60]}...: the file name is over {NAME_MAX} bytes, more than file "
                        f"systems allow; pick a shorter name".strip())
    found = kind(Path(path))
    if found is not None:
        name = f"{what} {path}".strip()
        raise UserError(f"{name} is {found}, not a regular file; outputs are written only to regular files "
                        f"or new paths: pick another file name")
    return Path(path)


def atomic_write(path: Path, data: bytes | str, private: bool = False) -> Path:
    """Write ``data`` to ``path`` through a temporary file in the same folder and a rename.

    Args:
        path: the file to create or replace (a regular file or a new path; see :func:`check_output`);
            its folder must exist.
        data: the whole contents (``str`` is written as UTF-8).
        private: mode 0600; otherwise an ordinary file (0666 less the umask), which
            ``mkstemp``'s 0600 would not give.

    Raises:
        UserError: ``path`` is a device, FIFO, socket or folder (nothing is written).
        WriteError: the folder is missing or not writable, or the disk is full; the original
            file, if any, is then untouched and no temporary file is left.
    """
    path = check_output(Path(path))
    raw = data.encode() if isinstance(data, str) else bytes(data)
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name[:40]}.")
        with os.fdopen(fd, "wb") as f:
            f.write(raw)
        if not private:
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except OSError as e:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        reason = e.strerror or one_line(e)
        raise WriteError(e.errno, reason, f"cannot write {path}: {reason}; pick a writable folder with free "
                                          f"space") from e
    except BaseException:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        raise
    return path


def existing_file(path: Path, what: str) -> bool:
    """Whether the input file ``path`` is there: False when nothing is (an optional file such as the
    config), True for a regular file; a one-line :class:`UserError` for anything else (a folder, a
    FIFO, a device, a dangling link or a link loop), which must never pass for an absent file."""
    path = Path(path)
    if not os.path.lexists(path):
        return False
    found = kind(path)
    if found is None and not path.exists():
        found = "a link to nothing"
    if found is not None:
        raise UserError(f"{what} {path} is {found}, not a regular file; remove it or make it a file")
    return True


def check_writable(path: Path, what: str = "") -> None:
    """Whether a new file can be created beside ``path`` (a read-only file system, a full disk, no
    permission), tried before the work that produces it rather than after: a temporary file is
    created and removed at once. A folder that does not exist is left to the caller's own message."""
    folder = Path(path).parent
    if not folder.is_dir():
        return
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{Path(path).name[:40]}.")
    except OSError as e:
        reason = e.strerror or one_line(e)
        raise WriteError(e.errno, reason, f"{what} {path}: cannot write in {folder}: {reason}; pick a "
                                          f"writable folder".strip()) from None
    os.close(fd)
    os.unlink(tmp)
