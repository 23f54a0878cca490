"""The shipped weight tags, declared once (timm's pretrained-tag style).

Each file ``weights/<tag>.pt`` has one :class:`Tag` row in :data:`TAGS`: its architecture (a name of
:mod:`vcam_sharpen.core.models`), its task, whether ``--model auto`` may pick it and where it stands on
``auto``'s ladder, and a description. The quality figures are the ones the checkpoint records
(``metrics.val_ssim``, ``metrics.val_ssim_corrupt``; :func:`vcam_sharpen.core.loader.recorded_quality`), so
a retrained file carries its own. ``tests/test_core_tags.py`` checks that this table and the files in
``weights/`` match both ways, and that each file holds the architecture and task declared here.

Tasks (:data:`TASKS`):

* ``2x``: restores a frame sent at half size (``--degrade 2``, ``--upscale``; eval's ``2x`` task);
* ``same-size``: sharpens and cleans a frame at its own size (``--degrade 1``; eval's ``soft`` task).

``auto``'s ladder (:func:`ladder`) is per task, best first: ``auto`` starts on the best rung that fits
the CPU budget, and the running daemon steps down it when the budget or the frame rate is missed
(:mod:`vcam_sharpen.daemon.autoscale`) and back up when there is room. Rungs are ordered by recorded
quality and get cheaper going down.

A rung may be a :class:`Pair` (:data:`PAIRS`) rather than one file: ``noise-aware`` is two shipped students
of which one runs at a time, chosen from the camera's noise (:mod:`vcam_sharpen.runtime.noiseaware`). It is a
name like a tag (``--model noise-aware``), offered when both its files are shipped.
"""

from __future__ import annotations

from dataclasses import dataclass

TASK_2X = "2x"
TASK_SAME = "same-size"
TASKS = (TASK_2X, TASK_SAME)

# What ``default`` means per task (loader.mode_default).
DEFAULT_MODEL = "student"
ENHANCE_MODEL = "enhance"


@dataclass(frozen=True)
class Tag:
    """One shipped checkpoint.

    Attributes:
        tag: the name commands accept (``--model student-wide``) and the file's stem.
        arch: the registered architecture the file holds.
        task: :data:`TASK_2X` or :data:`TASK_SAME`.
        rank: its place on ``auto``'s ladder for its task (0 = tried first), or None: never an ``auto``
            candidate (teachers, ablations, the seed models).
        description: one line for ``vcam-sharpen models``.
    """

    tag: str
    arch: str
    task: str
    rank: int | None
    description: str

    @property
    def file(self) -> str:
        return f"{self.tag}.pt"

    @property
    def auto(self) -> bool:
        return self.rank is not None


_ROWS = (
    # 2x task: the students auto chooses from, best (and dearest) first
    Tag("student-wide", "student-wide", TASK_2X, 0, "the best 2x student: three 3x3 convs of 15 channels, "
        "fine-tuned on camera-train corruptions"),
    # student-deep is off auto's ladder: it costs more than the noise-aware pair (0.76 against 0.69 core at
    # 720p30) and scores below it behind the temporal stage on every noisy clip (face, noise:5: 0.9541 against
    # 0.9673 SSIM; d12: 0.9180 against 0.9500), so stepping down to the pair never loses and auto never picks it
    Tag("student-deep", "student-deep", TASK_2X, None, "2x student, convs 3x3, 3x3, 1x1, 1x1 of 16 channels, "
        "fine-tuned on camera-train corruptions"),
    # rank 1 is the noise-aware pair (PAIRS), which takes student's place where its files are shipped
    Tag("student", "student", TASK_2X, 2, "the default 2x student: two 3x3 convs of 16 channels, "
        "distilled on camera-train corruptions"),
    Tag("student-temporal", "student", TASK_2X, None, "student fine-tuned on the temporal stage's output of "
        "noisy clips (train --sequence 8): the noisy half of the noise-aware choice"),
    Tag("student-nokd", "student", TASK_2X, None, "ablation: student without distillation"),
    Tag("student-clean", "student", TASK_2X, None, "student trained on clean downscales only"),
    Tag("student-clean-nokd", "student", TASK_2X, None, "ablation: clean student without distillation"),
    Tag("student-deep-clean", "student-deep", TASK_2X, None, "student-deep trained on clean downscales only"),
    Tag("student-deep-clean-nokd", "student-deep", TASK_2X, None,
        "ablation: clean student-deep without distillation"),
    Tag("teacher", "teacher", TASK_2X, None, "2x teacher (EDSR-style, offline only), camera-train corruptions"),
    Tag("teacher-clean", "teacher", TASK_2X, None, "2x teacher trained on clean downscales (offline only)"),
    Tag("seed-student", "seed-student", TASK_2X, None, "the write-up's full-resolution student (distilled)"),
    Tag("seed-student-nokd", "seed-student", TASK_2X, None, "ablation: seed student without distillation"),
    Tag("seed-teacher", "seed-teacher", TASK_2X, None, "the write-up's teacher"),
    # same-size task (--degrade 1)
    Tag("enhance", "enhance", TASK_SAME, 0, "the same-size student (--degrade 1): phase channels at half "
        "res, a global gate on the correction; soft webcam frames"),
    Tag("enhance-nogate", "enhance", TASK_SAME, 1, "enhance without the global gate (gate=0): a little cheaper, "
        "auto's lower rung for --degrade 1; 2 of 8 planned epochs"),
    Tag("enhance-kd", "enhance", TASK_SAME, None, "ablation: enhance distilled from enhance-teacher"),
    Tag("enhance-teacher", "enhance-teacher", TASK_SAME, None, "same-size teacher (offline only)"),
)

TAGS: dict[str, Tag] = {row.tag: row for row in _ROWS}

NOISE_AWARE = "noise-aware"


@dataclass(frozen=True)
class Pair:
    """Two shipped tags of the same task behind one name, one of them running at a time.

    Attributes:
        tag: the name commands accept (``--model noise-aware``).
        members: ``(clean, noisy)``: the tags of the model for a clean camera and of the one for a noisy camera.
        task: the members' task.
        rank: its place on ``auto``'s ladder (as :attr:`Tag.rank`).
        replaces: a rung the pair takes the place of on the ladder where both members are shipped.
        description: one line for ``vcam-sharpen models``.
    """

    tag: str
    members: tuple[str, str]
    task: str
    rank: int | None
    replaces: str | None
    description: str

    @property
    def auto(self) -> bool:
        return self.rank is not None


PAIRS: dict[str, Pair] = {NOISE_AWARE: Pair(
    # Where on the ladder: both members are the `student` architecture, so the pair costs what `student` costs
    # (one member runs outside a 0.5 s cross-fade) and is better than it on every clip (a noisy camera gets the
    # model trained on the temporal stage's output, a clean one the sharpest student): it takes student's place
    # as the bottom rung. `student` below it would be a step down that saves no CPU. The wider and deeper
    # students stay above: dearer, and robust to noise on their own.
    NOISE_AWARE, ("student-clean", "student-temporal"), TASK_2X, 1, "student",
    "student-clean on a clean camera, student-temporal on a noisy one, chosen from the temporal stage's noise "
    "estimate (hysteresis, cross-fade)")}


def get(tag: str) -> Tag | None:
    """The row of ``tag``, or None when it is not a shipped tag."""
    return TAGS.get(tag)


def mode_task(degrade: int = 2, upscale: bool = False) -> str:
    """The task a frame mode asks for: :data:`TASK_SAME` for ``--degrade 1`` without ``--upscale``, else
    :data:`TASK_2X`."""
    return TASK_SAME if degrade == 1 and not upscale else TASK_2X


def mode_default(degrade: int = 2, upscale: bool = False) -> str:
    """What ``default`` means for a frame mode: :data:`ENHANCE_MODEL` for same-size frames, else
    :data:`DEFAULT_MODEL`."""
    return ENHANCE_MODEL if mode_task(degrade, upscale) == TASK_SAME else DEFAULT_MODEL


def ladder(task: str) -> list[str]:
    """``auto``'s candidates for ``task``, best (and dearest) first: the declared ranks of tags and pairs, no
    file check (a pair and the rung it replaces are both listed; the loader keeps the one it can run)."""
    rows = [*_ROWS, *PAIRS.values()]
    return [t.tag for t in sorted((t for t in rows if t.task == task and t.auto), key=lambda t: t.rank)]


def for_task(task: str) -> list[str]:
    """Every declared tag of ``task``, in table order."""
    return [t.tag for t in _ROWS if t.task == task]
