"""The one loader: a model name, a shipped weight tag or a checkpoint file becomes a ready model.

Names every command accepts (``run``/``start --model``, ``bench --models``, ``eval --models``,
``export --model``), from :func:`names`:

* ``none`` / ``bilinear``: no network (the bilinear upscale, or the frame as it is);
* ``unsharp``: the classical unsharp mask (:mod:`vcam_sharpen.core.baselines`);
* ``default``: the mode's default (:func:`mode_default`): :data:`DEFAULT_MODEL` for 2x frames,
  :data:`ENHANCE_MODEL` for same-size frames (``--degrade 1``);
* a shipped weight tag, the stem of a file in ``weights/`` (``student``, ``student-nokd``, ...);
  tags that equal a registered architecture name are that architecture's default weights;
* a registered architecture without shipped weights (untrained: speed measurements only);
* a path to a ``.pt`` checkpoint.
"""

from __future__ import annotations

import logging
import os
from importlib.resources import files
from pathlib import Path

import torch
from torch import nn

from . import checkpoint
from .baselines import unsharp_for
from .errors import UserError
from .models import create_model, list_models

log = logging.getLogger(__name__)

# The model bench, eval, export and the daemon use for 2x frames unless told otherwise.
DEFAULT_MODEL = "student"
# The same for same-size frames (--degrade 1): the enhance student.
ENHANCE_MODEL = "enhance"
# "auto": the best shipped student this machine runs within the CPU budget (vcam_sharpen.runtime.tuning).
AUTO = "auto"
# Shipped students ``auto`` chooses from (ablations and teachers are not candidates), for 2x frames and for
# same-size frames (--degrade 1), best first.
AUTO_CANDIDATES = ("student", "student-deep", "student-wide")
AUTO_SAME_SIZE = ("enhance", "enhance-lite")
NO_MODEL = ("none", "bilinear")
BASELINES = ("bilinear", "unsharp")


def mode_default(degrade: int = 2, upscale: bool = False) -> str:
    """What ``default`` means for a frame mode: :data:`ENHANCE_MODEL` for same-size frames
    (``degrade=1`` without ``upscale``), else :data:`DEFAULT_MODEL`."""
    return ENHANCE_MODEL if degrade == 1 and not upscale else DEFAULT_MODEL


def weights_dir() -> Path:
    """The folder of shipped ``*.pt`` files.

    Installed, ``weights/`` is the package ``vcam_sharpen.weights``; in a plain
    checkout it is the ``weights/`` folder beside ``vcam_sharpen/``.
    """
    try:
        path = Path(str(files("vcam_sharpen.weights")))
        if path.is_dir():
            return path
    except (ModuleNotFoundError, TypeError):
        pass
    return Path(__file__).resolve().parents[2] / "weights"


def shipped() -> dict[str, Path]:
    """``{tag: path}`` of every shipped checkpoint (tag = file stem, e.g. ``seed-student``)."""
    folder = weights_dir()
    return {p.stem: p for p in sorted(folder.glob("*.pt"))} if folder.is_dir() else {}


def names() -> list[str]:
    """Every model name the commands accept (paths to ``.pt`` files aside), in display order."""
    return list(dict.fromkeys(["none", *BASELINES, "default", AUTO, *shipped(), *list_models()]))


def is_path(spec: str) -> bool:
    """Whether ``spec`` names a checkpoint file rather than a model."""
    return spec.endswith(".pt") or os.sep in spec or (os.altsep is not None and os.altsep in spec)


def check(spec: str) -> str:
    """Validate a model name without loading anything; returns it normalised (stripped).

    Raises:
        UserError: neither a known name nor a ``.pt`` path; the message lists the names.
    """
    spec = str(spec).strip()
    if spec in names() or is_path(spec):
        return spec
    raise UserError(f"unknown model {spec!r}; choose from {', '.join(names())}, or a .pt file")


def load(spec: str | None, weights: Path | None = None, allow_untrained: bool = False,
         task: int = 2) -> nn.Module | None:
    """The model for ``spec``, in eval mode; ``None`` for no network (``none``/``bilinear``).

    Args:
        spec: a name from :func:`names`, a ``.pt`` path, or None for whatever ``weights``
            holds (else the default model).
        weights: a checkpoint to use instead of the shipped weights; it must hold ``spec``'s
            architecture.
        allow_untrained: a registered architecture without shipped weights gets freshly
            initialised ones (seed 0; for speed measurements only) instead of an error.
        task: 2 for the 2x task, 1 for the same-size one: picks ``unsharp``'s tuned sigma and amount
            (:func:`~vcam_sharpen.core.baselines.unsharp_for`).

    Raises:
        UserError: unknown name, a missing or bad checkpoint, weights for another model,
            or weights given where no network runs.
    """
    if spec == "default" or (spec is None and weights is None):
        spec = DEFAULT_MODEL
    if spec is None:
        return checkpoint.load(Path(weights))[0]
    spec = check(spec)
    if spec == AUTO:
        raise UserError("--model auto is chosen by measuring this machine: resolve it first "
                        "(vcam_sharpen.runtime.tuning.resolve_auto)")
    if spec in NO_MODEL or spec == "unsharp":
        if weights is not None:
            raise UserError(f"--model {spec} runs no network, so --weights {weights} would be ignored; "
                            f"drop --weights, or pick the model the weights are for")
        return unsharp_for(task) if spec == "unsharp" else None
    if is_path(spec):
        return checkpoint.load(Path(spec).expanduser())[0]
    if weights is not None:
        return checkpoint.load(Path(weights), expect=spec)[0]
    path = shipped().get(spec)
    if path is not None:
        return checkpoint.load(path)[0]
    if not allow_untrained:
        have = ", ".join(shipped()) or "none"
        raise UserError(f"no shipped weights for {spec!r} (shipped: {have}); pass --weights PATH")
    log.warning("no shipped weights for %s: using untrained weights (speed only)", spec)
    torch.manual_seed(0)
    return create_model(spec).eval()


def _recorded(path: Path, section: str, key: str, default):
    """``checkpoint[section][key]`` of a checkpoint file, or ``default`` when it records none or is unreadable."""
    try:
        return type(default)(checkpoint.read(path).get(section, {}).get(key, default))
    except (UserError, TypeError, ValueError, AttributeError):
        return default


def quality(path: Path) -> float:
    """The validation SSIM a shipped checkpoint records (0 when it records none): how ``auto`` ranks."""
    return _recorded(path, "metrics", "val_ssim", 0.0)


def same_size_trained(path: Path) -> bool:
    """Whether a checkpoint was trained on the same-size task (``python -m train ... --factor 1``, the
    ``enhance`` models) rather than on the 2x one."""
    return _recorded(path, "config", "factor", 2) == 1


def auto_candidates(degrade: int = 2) -> list[str]:
    """Shipped tags ``auto`` may pick, best first: the 2x students by validation quality, or for same-size
    frames (``degrade=1``) the enhance models in :data:`AUTO_SAME_SIZE` order."""
    have = shipped()
    if degrade == 1:
        return [t for t in AUTO_SAME_SIZE if t in have]
    return sorted((t for t in AUTO_CANDIDATES if t in have), key=lambda t: -quality(have[t]))


def label(spec: str) -> str:
    """A table row's label for ``spec``: ``bilinear`` when no network runs, checkpoint files by stem (or run
    folder for train's generic names)."""
    if spec in NO_MODEL:
        return "bilinear"
    if not is_path(spec):
        return DEFAULT_MODEL if spec == "default" else spec
    path = Path(spec)
    return path.parent.name if path.stem in ("model", "checkpoint") else path.stem
