"""Self-describing checkpoints: weights plus model name, args, training config and metrics.

A checkpoint is a ``torch.save`` dict of plain types and tensors::

    {"format": 1, "model": name, "model_args": {...}, "state_dict": {...},
     "config": {...}, "metrics": {...}, "train_state": {...} (optional, for --resume)}

It is always read with ``torch.load(weights_only=True)``, which never runs pickled code.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import torch
from torch import nn

from .errors import UserError
from .models import create_model, get_spec

FORMAT = 1


def save(path: Path, model: nn.Module, config: dict | None = None, metrics: dict | None = None,
         train_state: dict | None = None) -> Path:
    """Write a checkpoint atomically (temp file + rename), so a crash never leaves half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    ckpt = {
        "format": FORMAT,
        "model": model.model_name,
        "model_args": dict(model.model_args),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "config": dict(config or {}),
        "metrics": dict(metrics or {}),
    }
    if train_state is not None:
        ckpt["train_state"] = train_state
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    os.close(fd)
    try:
        torch.save(ckpt, tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; a checkpoint is an ordinary file
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def read(path: Path) -> dict:
    """Read a checkpoint dict; any problem is a one-line :class:`UserError`."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"weights file {path} does not exist")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise UserError(f"cannot read weights {path}: not a vcam-sharpen checkpoint ({first[:120]})") from None
    if not isinstance(ckpt, dict) or "model" not in ckpt or "state_dict" not in ckpt:
        raise UserError(f"cannot read weights {path}: not a vcam-sharpen checkpoint")
    return ckpt


def load(path: Path, expect: str | None = None, overrides: dict | None = None) -> tuple[nn.Module, dict]:
    """Build the model a checkpoint describes and load its weights.

    Args:
        path: checkpoint file.
        expect: if given, the model name the caller needs; another is an error.
        overrides: model arguments that change how the same weights run (e.g. a
            teacher's ``ensemble``); arguments that change the weights' shapes fail.

    Returns:
        ``(model in eval mode, checkpoint dict)``.
    """
    ckpt = read(path)
    name = ckpt["model"]
    if expect is not None and name != expect:
        raise UserError(f"weights {path} are for model {name!r}, not {expect!r}; pass --model {name} or other weights")
    try:
        get_spec(name)
    except KeyError as e:
        raise UserError(f"weights {path}: {e.args[0]}") from None
    args = {**ckpt.get("model_args", {}), **(overrides or {})}
    try:
        model = create_model(name, **args)
    except (TypeError, ValueError) as e:
        raise UserError(f"weights {path}: bad model arguments {args} ({e})") from None
    try:
        model.load_state_dict(ckpt["state_dict"])
    except RuntimeError:
        raise UserError(f"weights {path} do not match the {name!r} architecture (wrong or corrupt file)") from None
    return model.eval(), ckpt
