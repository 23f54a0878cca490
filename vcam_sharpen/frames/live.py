"""Settings that can change on a running :class:`~vcam_sharpen.frames.sharpen.Sharpener`, and their checks."""

from __future__ import annotations

import math

from .temporal import check_mode

# What can change on a running Sharpener (``vcam-sharpen set``, the control panel): name -> attribute.
# ``temporal`` is the mode of the Sharpener's temporal stage (off, on, auto).
# ``skip_static`` restores only the tiles whose input changed (frames.reuse).
LIVE = {"strength": "strength", "sharpening": "enabled", "split": "split", "temporal": "temporal",
        "skip_static": "skip_static"}


def check_live(name: str, value):
    """A live setting's value checked (strength a finite number 0..1, temporal off|on|auto, the others
    booleans); returns it normalised, or raises ValueError with one line naming the setting."""
    if name not in LIVE:
        raise ValueError(f"{name!r} cannot change while running; use one of {', '.join(LIVE)}")
    if name == "strength":
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ValueError("strength must be a number from 0 to 1")
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"strength {value:g} is out of range: use 0 to 1")
        return float(value)
    if name == "temporal":
        return check_mode(value)
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be true or false")
    return value
