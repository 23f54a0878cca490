"""What every ``python -m train`` option does, for ``--help``: one sentence per :class:`train.recipe.Config`
field, and its default (read from the dataclass, so it cannot drift; the role-dependent ones say so)."""

from __future__ import annotations

HELP = {
    "model": "registered model to train (see vcam-sharpen models)",
    "model_args": "overrides of the model's registered arguments, e.g. channels=15,expand=64,kernels=3-3-1",
    "data": "CIFAR-10 folder (the batches or their parent); empty: the per-user cache, downloaded if missing",
    "out": "run folder: checkpoint.pt every epoch, metrics.json, model.pt at the end",
    "teacher": "teacher checkpoint to distil from (a student with --alpha > 0)",
    "teacher_args": "how to run the teacher's weights, e.g. ensemble=1 (one pass)",
    "init": "start from this checkpoint's weights (fine-tuning); same model and arguments",
    "alpha": "weight of MSE(student, teacher): the distillation term (0: no distillation)",
    "beta": "weight of MSE(output, ground truth)",
    "ssim_weight": "adds SSIM_WEIGHT x (1 - SSIM(output, ground truth)) to the loss",
    "epochs": "passes over the training images",
    "batch_size": "images per optimiser step",
    "lr": "Adam learning rate (cosine decay to 0 over the run)",
    "weight_decay": "Adam weight decay",
    "factor": "degradation factor: 2 for the 2x models, 1 for same-size models (with --corrupt soft-train)",
    "flip": "random horizontal flips",
    "rot90": "also random rotations by multiples of 90 degrees (with flips: all 8 symmetries)",
    "val_size": "last N training images held out for per-epoch validation (the test set is never used)",
    "limit": "use only the first N training images (smoke tests); 0: all",
    "data_mix": "cifar, patches (random crops of --patch-dirs) or mix (both, batches interleaved)",
    "patch_dirs": "comma-separated photo folders to crop; empty: sr/t91, hr, people beside the CIFAR-10 folder",
    "patch_size": "crop side at full size (64: a 2x model reads 32x32)",
    "patches": "crops per epoch; 0: a quarter of the CIFAR-10 training images (as many pixels)",
    "sequence": "K > 0: each input is the daemon's temporal stage output at the end of a K-frame clip with motion "
                "and per-frame corruption (train/sequence.py); 0: single frames",
    "corrupt": "webcam corruption of each half-size input: clean, noise:SIGMA, pg:A,B, jpeg:Q, h264:CRF, "
               "blur:SIGMA, camera, soft-train, or terms joined with '+'",
    "corrupt_workers": "threads that corrupt each batch (same result); 0: the training thread",
    "seed": "seed of the data order, flips, crops and corruptions",
    "threads": "torch threads; 0: torch's default",
    "device": "cpu or cuda (cuda runs are fast, not bit-reproducible)",
    "resume": "continue from OUT/checkpoint.pt, at the very batch where it stopped",
}

# Defaults that depend on the role (teacher | student): what --help says instead of the dataclass value.
BY_ROLE = {
    "model": "seed-teacher for a teacher, seed-student for a student",
    "alpha": "0 for a teacher, 0.5 for a student",
    "beta": "1 for a teacher, 0.5 for a student",
    "out": "runs/MODEL for a teacher, runs/MODEL-kd or runs/MODEL-nokd for a student",
}

ROLE_HELP = "teacher: learns from the ground truth; student: distils from --teacher (or not, with --alpha 0)"


def help_text(name: str, default) -> str:
    """``--help`` text of option ``name``: what it does, then its default (``%`` escaped for argparse)."""
    if name in BY_ROLE:
        shown = BY_ROLE[name]
    elif isinstance(default, bool):
        shown = "on" if default else "off"
    elif default == "":
        shown = "empty"
    else:
        shown = str(default)
    return f"{HELP[name]} (default: {shown})".replace("%", "%%")
