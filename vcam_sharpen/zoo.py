"""Where the shipped checkpoints live, in a checkout and in an installed package."""

from __future__ import annotations

from pathlib import Path

from .errors import UserError


def weights_dir() -> Path:
    """The folder of shipped ``*.pt`` files.

    Installed, ``weights/`` is the package ``vcam_sharpen.weights``; in a plain
    checkout it is the ``weights/`` folder beside ``vcam_sharpen/``.
    """
    try:
        from importlib.resources import files

        path = Path(str(files("vcam_sharpen.weights")))
        if path.is_dir():
            return path
    except (ModuleNotFoundError, TypeError):
        pass
    return Path(__file__).resolve().parent.parent / "weights"


def shipped() -> dict[str, Path]:
    """``{label: path}`` of every shipped checkpoint (label = file stem, e.g. ``seed-student``)."""
    folder = weights_dir()
    return {p.stem: p for p in sorted(folder.glob("*.pt"))} if folder.is_dir() else {}


def default_weights(label: str) -> Path:
    """The shipped checkpoint for ``label``; a one-line error if there is none."""
    path = shipped().get(label)
    if path is None:
        have = ", ".join(shipped()) or "none"
        raise UserError(f"no shipped weights for {label!r} (shipped: {have}); pass --weights PATH")
    return path


# The model the daemon, bench and export use unless told otherwise.
DEFAULT_MODEL = "student"
