"""Atomic file writes: a crash never leaves half a file where a whole one was."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def atomic_write(path: Path, data: bytes | str, private: bool = False) -> Path:
    """Write ``data`` to ``path`` through a temporary file in the same folder and a rename.

    Args:
        path: the file to create or replace; its folder must exist.
        data: the whole contents (``str`` is written as UTF-8).
        private: mode 0600; otherwise an ordinary file (0666 less the umask), which
            ``mkstemp``'s 0600 would not give.

    Raises:
        OSError: the folder is missing or not writable, or the disk is full; the
            original file, if any, is then untouched and no temporary file is left.
    """
    path = Path(path)
    raw = data.encode() if isinstance(data, str) else bytes(data)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(raw)
        if not private:
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
