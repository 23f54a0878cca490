"""The simulated bad link: bilinear downscale by an integer factor, then bilinear upscale.

Both steps are ``torch.nn.functional.interpolate(mode="bilinear", align_corners=False,
antialias=False)``. For ``factor=2`` the downscale is exactly a 2x2 box average (each output
sample falls halfway between four input pixels), so the degraded frame is a deterministic
function of the half-size frame; models with ``input_scale == 2`` take that half-size frame
directly. Training, eval and the daemon's uint8 fast path (:mod:`vcam_sharpen.frames.sharpen`)
all follow these definitions.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .corrupt import Corruption, corrupt_tensor, parse_corruption
from .errors import UserError
from .tags import DEFAULT_MODEL, ENHANCE_MODEL, TASK_2X, mode_task


def downscale(x: torch.Tensor, factor: int = 2) -> torch.Tensor:
    """Bilinear downscale (align_corners=False, no antialias).

    Args:
        x: ``(N, C, H, W)`` float tensor, values in [0, 1]. H and W need not be
            multiples of ``factor``; the small size is ``(H // factor, W // factor)``.
        factor: integer >= 1.

    Returns:
        ``(N, C, H // factor, W // factor)`` tensor, same dtype, values in [0, 1].
    """
    if factor < 1:
        raise ValueError(f"degradation factor must be >= 1, got {factor}")
    if factor == 1:
        return x
    h, w = x.shape[-2:]
    if h < factor or w < factor:
        raise ValueError(f"a {w}x{h} image is too small to downscale by {factor}")
    return F.interpolate(x, size=(h // factor, w // factor), mode="bilinear", align_corners=False)


def upscale(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear upscale (align_corners=False) of ``(N, C, h, w)`` to ``size=(H, W)``."""
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


def degrade(x: torch.Tensor, factor: int = 2) -> torch.Tensor:
    """Simulate a bad link: downscale by ``factor`` then bilinear upscale back.

    Args:
        x: ``(N, C, H, W)`` float tensor in [0, 1].
        factor: integer >= 1; 1 returns ``x`` unchanged.

    Returns:
        Tensor of the same shape and dtype as ``x``, values in [0, 1].
    """
    return degrade_pair(x, factor)[1]


def degrade_pair(x: torch.Tensor, factor: int = 2, corrupt: str | Corruption | None = None, seed: int = 0,
                 offset: int = 0, workers: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """``(small, degraded)`` for a clean ``(N, 3, H, W)`` batch in [0, 1].

    ``small`` is the downscaled batch, ``degraded`` its upscale back to ``(H, W)``
    (``x`` itself for ``factor=1``). With ``corrupt`` (a spec such as ``"noise:5"`` or a
    :class:`~vcam_sharpen.core.corrupt.Corruption`) the half-size batch is rounded to uint8 and
    corrupted per image before the upscale, image ``i`` with the generator ``[seed, offset + i]``
    (:func:`~vcam_sharpen.core.corrupt.corrupt_batch`), so an image's corruption does not depend on the
    batch it is in; ``factor=1`` corrupts the full-size batch. ``None`` and ``clean`` change nothing.
    ``workers`` > 1 corrupts on that many threads (same result).
    """
    small = downscale(x, factor)  # x itself for factor 1
    corruption = corrupt if isinstance(corrupt, Corruption) or corrupt is None else parse_corruption(corrupt)
    if corruption is not None and not corruption.is_clean:
        small = corrupt_tensor(small, corruption, seed, offset, workers)
    return small, upscale(small, tuple(x.shape[-2:])) if factor > 1 else small


def model_scale(model: nn.Module) -> int:
    """1 if the model takes the degraded full-size frame, 2 if it takes the half-size frame."""
    return int(getattr(model, "input_scale", 1))


def model_input(model: nn.Module, small: torch.Tensor, degraded: torch.Tensor) -> torch.Tensor:
    """What ``model`` consumes: the half-size frame or the degraded full-size frame."""
    return small if model_scale(model) > 1 else degraded


def model_task(model) -> str | None:
    """The task a model (or an engine running one) is bound to: ``2x`` for a model that takes the half-size
    frame, ``same-size`` for the enhance architectures (their ``task`` attribute), None for full-resolution
    restorers that run in either mode (the seed models, the unsharp mask, no model)."""
    if model is None:
        return None
    if model_scale(model) > 1:
        return TASK_2X
    return getattr(model, "task", None)


def check_mode(model, degrade: int, upscale: bool = False) -> None:
    """The one check of a model against a frame mode, used by every path (run, start, the panel, bench,
    compare, eval, export): a 2x model runs with ``degrade=2`` or ``upscale``, a same-size model (``enhance``)
    with ``degrade=1`` and no ``upscale``, a full-resolution restorer in either.

    Args:
        model: a model, an engine (its ``input_scale``, ``task`` and ``model_name``), None for no model, or
            an ``input_scale`` as an int.

    Raises:
        UserError: ``degrade`` is not 1 or 2, or the model does not do the mode's task (one line, in the
            user's words).
    """
    if degrade not in (1, 2):
        raise UserError(f"--degrade must be 1 or 2, got {degrade}")
    task = (TASK_2X if model > 1 else None) if isinstance(model, int) else model_task(model)
    name = getattr(model, "model_name", "this model")
    want = mode_task(degrade, upscale)
    if task is None or task == want:
        return
    if task == TASK_2X:
        raise UserError(f"{name} is a 2x model (it takes the half-size frame); use --degrade 2 or --upscale, "
                        f"or a same-size model for --degrade 1, e.g. --model {ENHANCE_MODEL}")
    fix = "drop --upscale and use --degrade 1" if upscale else "use --degrade 1"
    raise UserError(f"{name} sharpens at the frame's own size; {fix}, or a 2x model such as {DEFAULT_MODEL}")


def fits(model, degrade: int, upscale: bool = False) -> bool:
    """Whether :func:`check_mode` lets ``model`` run in the mode (for lists: ``--models all``, the panel)."""
    try:
        check_mode(model, degrade, upscale)
    except UserError:
        return False
    return True
