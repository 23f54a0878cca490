"""Self-describing checkpoints: weights plus model name, args, training config and metrics.

A checkpoint is a ``torch.save`` dict of plain types and tensors::

    {"format": 1, "model": name, "model_args": {...}, "state_dict": {...},
     "config": {...}, "metrics": {...}, "train_state": {...} (optional, for --resume)}

It is always read with ``torch.load(weights_only=True)``, which never runs pickled code.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import torch
from torch import nn

from .errors import UserError, one_line
from .files import atomic_write, existing_file
from .models import check_args, create_model, get_spec, list_models

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
    buf = io.BytesIO()
    torch.save(ckpt, buf)
    atomic_write(path, buf.getvalue())
    return path


def read(path: Path) -> dict:
    """Read a checkpoint dict; any problem is a one-line :class:`UserError`."""
    path = Path(path)
    if not existing_file(path, "weights file"):  # a FIFO or a device: named as such, never opened
        raise UserError(f"weights file {path} does not exist; pass an existing .pt file, or a model name "
                        f"(see vcam-sharpen models)")
    try:
        with warnings.catch_warnings():  # torch's warnings about foreign pickles would add lines to our one
            warnings.simplefilter("ignore")
            ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        why = ("it holds Python objects other than tensors, which are never loaded: they could run code"
               if "Weights only load failed" in str(e) else one_line(e, 120))
        raise UserError(f"cannot read weights {path}: not a vcam-sharpen checkpoint ({why}); use a .pt file "
                        f"written by vcam-sharpen (python -m train)") from None
    if not isinstance(ckpt, dict) or "model" not in ckpt or "state_dict" not in ckpt:
        raise UserError(f"cannot read weights {path}: not a vcam-sharpen checkpoint; use a .pt file written by "
                        f"vcam-sharpen (python -m train)")
    return ckpt


def validate(ckpt: dict, path: Path, overrides: dict | None = None) -> dict:
    """Check a checkpoint before any model is built from it; returns the model arguments to use.

    Field types, the model name, its arguments against the architecture's limits, and every
    tensor's name, shape, dtype and finiteness (NaN or Inf weights would publish black or
    white frames without a word). Each failure is one line naming the file and the field.
    """
    def bad(field: str, why: str) -> UserError:
        return UserError(f"weights {path}: field {field!r} {why}; the file is damaged or not a vcam-sharpen "
                         f"checkpoint: use another one")

    name = ckpt["model"]
    if not isinstance(name, str):
        raise bad("model", f"is a {type(name).__name__}, not a model name")
    for field in ("model_args", "state_dict", "config", "metrics"):
        if field in ckpt and not isinstance(ckpt[field], dict):
            raise bad(field, f"is a {type(ckpt[field]).__name__}, not a mapping")
    try:
        get_spec(name)
    except KeyError:
        raise UserError(f"weights {path} hold model {name!r}, which this version does not know "
                        f"(it knows {', '.join(list_models())}); use a file made by this version") from None
    try:
        args = check_args(name, {**ckpt.get("model_args", {}), **(overrides or {})})
        with torch.device("meta"):  # shapes only: no memory, whatever the arguments say
            expected = create_model(name, **args).state_dict()
    except ValueError as e:
        raise bad("model_args", f"is not usable ({e})") from None
    state = ckpt["state_dict"]
    for key, want in expected.items():
        got = state.get(key)
        if not isinstance(got, torch.Tensor):
            raise bad("state_dict", f"lacks tensor {key!r} of the {name!r} architecture")
        if tuple(got.shape) != tuple(want.shape) or got.dtype != want.dtype:
            raise bad("state_dict", f"has {key!r} as {got.dtype} {tuple(got.shape)}, "
                                    f"not {want.dtype} {tuple(want.shape)}")
        if got.is_floating_point() and not bool(torch.isfinite(got).all()):
            raise UserError(f"weights {path}: tensor {key!r} holds NaN or infinite values (a diverged "
                            f"training run or a damaged file); use another checkpoint")
    extra = sorted(set(state) - set(expected))
    if extra:
        raise bad("state_dict", f"has tensors the {name!r} architecture lacks ({', '.join(extra[:3])})")
    return args


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
    args = validate(ckpt, path, overrides)
    name = ckpt["model"]
    if expect is not None and name != expect:
        raise UserError(f"weights {path} are for model {name!r}, not {expect!r}; pass --model {name} or other weights")
    model = create_model(name, **args)
    model.load_state_dict(ckpt["state_dict"])
    return model.eval(), ckpt
