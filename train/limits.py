"""The documented range of every numeric training option, checked before any data is read.

Without these, ``--lr nan`` trains NaNs, ``--limit -100`` slices off the last 100 images and
trains on the rest, and ``--threads -1`` is a torch traceback. Each range is wide enough for
every sensible run; a value outside it is a one-line error that names the range.
"""

from __future__ import annotations

import argparse
import math
import os
from pathlib import Path

from vcam_sharpen.core.errors import UserError
from vcam_sharpen.core.files import kind

# option -> (lowest, highest) allowed; floats must also be finite. lr > 0 (its low end is exclusive).
RANGES = {
    "epochs": (1, 10_000),
    "batch_size": (1, 65_536),
    "lr": (0.0, 10.0),
    "weight_decay": (0.0, 1.0),
    "alpha": (0.0, 100.0),
    "beta": (0.0, 100.0),
    "ssim_weight": (0.0, 100.0),
    "factor": (1, 4),
    "val_size": (1, 49_999),
    "limit": (0, 50_000),  # 0: every training image
    "patch_size": (16, 1024),
    "patches": (0, 10_000_000),
    "corrupt_workers": (0, 64),
    "sequence": (0, 64),  # frames per training clip; 0: single frames
    "threads": (0, 1024),  # 0: torch's default
    "seed": (0, 2**32 - 1),
}
EXCLUSIVE_LOW = {"lr"}


def with_range(name: str, text: str | None) -> str | None:
    """An option's help with its documented range appended (``--help`` shows every range)."""
    if name not in RANGES:
        return text
    low, high = RANGES[name]
    rng = f"range: above {low:g} to {high:g}" if name in EXCLUSIVE_LOW else f"range: {low:g} to {high:g}"
    return f"{text} ({rng})" if text else rng


def check_ranges(cfg) -> None:
    """A one-line :class:`UserError` for the first option of ``cfg`` outside :data:`RANGES`."""
    for name, (low, high) in RANGES.items():
        value = getattr(cfg, name)
        flag = "--" + name.replace("_", "-")
        if isinstance(value, float) and not math.isfinite(value):
            raise UserError(f"{flag} {value}: must be a finite number from {low:g} to {high:g}")
        if value > high or value < low or (name in EXCLUSIVE_LOW and value <= low):
            bound = f"above {low:g} and at most {high:g}" if name in EXCLUSIVE_LOW else f"from {low:g} to {high:g}"
            raise UserError(f"{flag} {value:g}: must be {bound}")


def check_out(out: Path) -> None:
    """``--out`` must be a folder (or a new path below a writable folder): a file there would end the run
    at its first checkpoint, after minutes of training."""
    out = Path(out)
    found = kind(out)
    if out.exists() and found is None:
        found = "a file"
    if found is not None and found != "a folder":
        raise UserError(f"--out {out} is {found}; training writes a run folder: pick a folder name")
    probe = out
    while not probe.exists():  # the nearest folder that exists is where the run folder gets created
        if probe.parent == probe:
            break
        probe = probe.parent
    if not probe.is_dir():
        raise UserError(f"--out {out}: {probe} is not a folder; pick another --out")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise UserError(f"--out {out}: cannot write in {probe}; pick a writable folder")


class Parser(argparse.ArgumentParser):
    """argparse with its errors as one line (a :class:`UserError`, exit 2 through ``main``), not a usage block."""

    def error(self, message: str):
        raise UserError(f"{message} (see python -m train --help)")
