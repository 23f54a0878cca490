"""The one loader: a model name, a shipped weight tag or a checkpoint file becomes a ready model.

Names every command accepts (``run``/``start --model``, ``bench --models``, ``eval --models``,
``export --model``), from :func:`names`:

* ``none`` / ``bilinear``: no network (the bilinear upscale, or the frame as it is);
* ``unsharp``: the classical unsharp mask (:mod:`vcam_sharpen.core.baselines`);
* ``default``: the mode's default (:func:`vcam_sharpen.core.tags.mode_default`; :func:`resolve`):
  :data:`DEFAULT_MODEL` for 2x frames, :data:`ENHANCE_MODEL` for same-size frames (``--degrade 1``);
* a shipped weight tag: a row of :data:`vcam_sharpen.core.tags.TAGS` whose file ``weights/<tag>.pt`` is
  present (``student``, ``student-nokd``, ...); tags that equal a registered architecture name are that
  architecture's default weights;
* a pair (:data:`vcam_sharpen.core.tags.PAIRS`: ``noise-aware``) whose members are both shipped: it loads as a
  :class:`ModelPair`, which the runtime runs as one engine choosing between the two
  (:mod:`vcam_sharpen.runtime.noiseaware`);
* a registered architecture without shipped weights (untrained: speed measurements only);
* a path to a ``.pt`` checkpoint.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path

import torch
from torch import nn

from . import checkpoint
from .baselines import unsharp_for
from .errors import UserError
from .models import create_model, list_models
from .tags import (DEFAULT_MODEL, ENHANCE_MODEL, NOISE_AWARE, PAIRS, TAGS, ladder, mode_default,  # noqa: F401
                   mode_task)  # re-exported

log = logging.getLogger(__name__)

# "auto": the best shipped student this machine runs within the CPU budget; see :func:`resolve`.
AUTO = "auto"
CPU_BUDGET = 0.75  # cores at the set rate: the default --cpu-budget
NO_MODEL = ("none", "bilinear")
BASELINES = ("bilinear", "unsharp")


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
    """``{tag: path}`` of the declared tags (:data:`vcam_sharpen.core.tags.TAGS`, in its order) whose file is
    present in :func:`weights_dir`."""
    folder = weights_dir()
    return {t: folder / row.file for t, row in TAGS.items() if (folder / row.file).is_file()}


def pairs() -> dict[str, tuple[str, str]]:
    """``{name: (clean tag, noisy tag)}`` of the declared pairs (:data:`vcam_sharpen.core.tags.PAIRS`) whose
    members are both shipped."""
    have = shipped()
    return {name: p.members for name, p in PAIRS.items() if all(m in have for m in p.members)}


def members(spec: str | None) -> tuple:
    """The shipped tags a name runs: a pair's two members, else ``(spec,)``."""
    return tuple(PAIRS[spec].members) if spec in PAIRS else (spec,)


def names() -> list[str]:
    """Every model name the commands accept (paths to ``.pt`` files aside), in display order."""
    return list(dict.fromkeys(["none", *BASELINES, "default", AUTO, *shipped(), *pairs(), *list_models()]))


class ModelPair(nn.Module):
    """What :func:`load` gives for a pair: the clean and the noisy model (:data:`vcam_sharpen.core.tags.PAIRS`),
    one of which runs on a frame. It has the members' ``input_scale`` and task, so
    :func:`vcam_sharpen.core.degrade.check_mode` treats it as any model of the task;
    :func:`vcam_sharpen.core.models.count_macs` counts the dearer member. It is no network of its own: the
    runtime builds one engine per member (:func:`vcam_sharpen.runtime.noiseaware.create_any`), and a path that
    needs a single network (export, the still-image eval) refuses it.

    Attributes:
        model_name: the pair's name (``noise-aware``), as errors and tables call it.
        names: ``(clean tag, noisy tag)``.
    """

    def __init__(self, name: str, clean: nn.Module, noisy: nn.Module, names: tuple[str, str]) -> None:
        super().__init__()
        self.model_name, self.names = name, tuple(names)
        self.clean, self.noisy = clean, noisy
        self.input_scale = int(getattr(clean, "input_scale", 1))
        task = getattr(clean, "task", None)
        if task is not None:
            self.task = task

    @property
    def members(self) -> tuple[nn.Module, nn.Module]:
        return self.clean, self.noisy

    def forward(self, x):
        raise UserError(f"{self.model_name} is two models chosen over time from a video's noise, not one network: "
                        f"score it on a clip (eval --consecutive N), or pick {' or '.join(self.names)}")


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
        spec = DEFAULT_MODEL  # callers that know the mode resolve ``default`` first (resolve)
    if spec is None:
        return checkpoint.load(Path(weights))[0]
    spec = check(spec)
    if spec == AUTO:
        raise UserError("--model auto is chosen by measuring this machine: resolve it first (resolve)")
    if spec in NO_MODEL or spec == "unsharp":
        if weights is not None:
            raise UserError(f"--model {spec} runs no network, so --weights {weights} would be ignored; "
                            f"drop --weights, or pick the model the weights are for")
        return unsharp_for(task) if spec == "unsharp" else None
    if is_path(spec):
        return checkpoint.load(Path(spec).expanduser())[0]
    if spec in PAIRS:
        if weights is not None:
            raise UserError(f"--model {spec} runs the shipped {' and '.join(PAIRS[spec].members)}, so --weights "
                            f"{weights} would be ignored; drop --weights, or pick the model the weights are for")
        return ModelPair(spec, *(load(m, task=task) for m in PAIRS[spec].members), names=PAIRS[spec].members)
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
    """The validation SSIM a checkpoint records (0 when it records none)."""
    return _recorded(path, "metrics", "val_ssim", 0.0)


def recorded_quality(path: Path) -> dict:
    """The quality figures a checkpoint records: ``{"val_ssim", "val_ssim_corrupt"}`` (None where absent) and
    the training corruption (``corrupt``; None for clean training)."""
    ck = {}
    try:
        ck = checkpoint.read(path)
    except UserError:
        pass
    metrics, config = ck.get("metrics") or {}, ck.get("config") or {}
    return {"val_ssim": metrics.get("val_ssim"), "val_ssim_corrupt": metrics.get("val_ssim_corrupt"),
            "corrupt": config.get("corrupt") or None}


def same_size_trained(path: Path) -> bool:
    """Whether a checkpoint was trained on the same-size task (``python -m train ... --factor 1``, the
    ``enhance`` models) rather than on the 2x one."""
    return _recorded(path, "config", "factor", 2) == 1


def auto_candidates(degrade: int = 2, upscale: bool = False) -> list[str]:
    """``auto``'s ladder for the frame mode, best first: the declared ranks of the tag table
    (:func:`vcam_sharpen.core.tags.ladder`) among the shipped files and pairs (:func:`pairs`); a pair that
    is shipped takes the place of the rung it replaces."""
    have, both = shipped(), pairs()
    gone = {PAIRS[p].replaces for p in both}
    return [t for t in ladder(mode_task(degrade, upscale)) if (t in have or t in both) and t not in gone]


@dataclass
class Choice:
    """What a model name resolved to (:func:`resolve`).

    Attributes:
        spec: what :func:`load` takes: a name, a ``.pt`` path, or None (the ``weights`` file's own model).
        label: what ``status`` and logs call it: the name as given, the ``weights`` file's stem, auto's pick
            (tables use :func:`label`).
        reason: for ``auto``: why this one ("best that fits 0.75 core ...").
        cores: for ``auto``: ``{tag: estimated cores}`` for the candidates measured.
        ladder: for ``auto``: the candidates, best first (what the daemon's autoscaler steps along).
    """

    spec: str | None
    label: str
    reason: str = ""
    cores: dict = field(default_factory=dict)
    ladder: list = field(default_factory=list)

    @property
    def tag(self) -> str | None:  # the name auto picked (spec under its old name)
        return self.spec


def resolve(spec: str | None, degrade: int = 2, upscale: bool = False, weights: Path | None = None,
            cost=None, budget: float = CPU_BUDGET) -> Choice:
    """The one resolver of model names: ``default``, ``auto`` and ``None`` become what to load.

    * ``None`` or ``default``: the mode's default (:func:`vcam_sharpen.core.tags.mode_default`), or with
      ``weights`` the checkpoint's own model (``spec=None``);
    * ``auto``: with ``weights`` the checkpoint's own model; else the first tag on the mode's ladder
      (:func:`auto_candidates`) whose ``cost(tag)`` (estimated cores; the daemon measures with
      :func:`vcam_sharpen.runtime.tuning.cost_meter`) is at most ``budget``, or the cheapest one when none
      fits; without shipped candidates, the mode's default;
    * anything else: checked (:func:`check`) and returned as it is.

    Raises:
        UserError: an unknown name; ``auto`` without ``cost``.
    """
    if spec is None or spec in ("default", AUTO):
        if weights is not None:
            return Choice(None, label(str(weights)))
        if spec != AUTO:
            return Choice(mode_default(degrade, upscale), mode_default(degrade, upscale))
    else:
        spec = check(spec)
        return Choice(spec, spec)
    candidates = auto_candidates(degrade, upscale)
    if not candidates:
        fallback = mode_default(degrade, upscale)
        return Choice(fallback, fallback, reason=f"no {mode_task(degrade, upscale)} candidates shipped")
    if cost is None:
        raise UserError("--model auto is chosen by measuring this machine; give resolve a cost")
    cores = {}
    for tag in candidates:  # best first: stop at the first that fits
        cores[tag] = round(float(cost(tag)), 3)
        if cores[tag] <= budget:
            return Choice(tag, tag, f"best that fits {budget:g} core (estimated {cores[tag]:.2f} core)",
                          cores, candidates)
    cheapest = min(cores, key=cores.get)
    return Choice(cheapest, cheapest, f"none fits {budget:g} core; the cheapest (estimated "
                                      f"{cores[cheapest]:.2f} core)", cores, candidates)


def describe(name: str) -> str:
    """What ``status`` and the start line call a model: a pair with its members
    (``noise-aware (student-clean | student-temporal)``), anything else as it is."""
    return f"{name} ({' | '.join(PAIRS[name].members)})" if name in PAIRS else name


def label(spec: str) -> str:
    """A table row's label for ``spec``: ``bilinear`` when no network runs, checkpoint files by stem (or run
    folder for train's generic names)."""
    if spec in NO_MODEL:
        return "bilinear"
    if not is_path(spec):
        return DEFAULT_MODEL if spec == "default" else spec
    path = Path(spec)
    return path.parent.name if path.stem in ("model", "checkpoint") else path.stem
