"""Model registry: every sharpening network is built by name with :func:`create_model`.

All models map a degraded frame to a restored frame of the same size:
input and output are ``(N, 3, H, W)`` float32 RGB in [0, 1] (outputs are not
clamped inside the network; callers clamp before display or scoring).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

_REGISTRY: dict[str, "ModelSpec"] = {}


@dataclass(frozen=True)
class ModelSpec:
    name: str
    builder: Callable[..., nn.Module]
    defaults: dict
    description: str


def register(name: str, description: str, **defaults):
    """Decorator: register ``builder(**kwargs) -> nn.Module`` under ``name``."""

    def wrap(builder):
        if name in _REGISTRY:
            raise ValueError(f"model {name!r} registered twice")
        _REGISTRY[name] = ModelSpec(name, builder, dict(defaults), description)
        return builder

    return wrap


def list_models() -> list[str]:
    return sorted(_REGISTRY)


def get_spec(name: str) -> ModelSpec:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown model {name!r}; choose from {', '.join(list_models())}") from None


def create_model(name: str, **kwargs) -> nn.Module:
    """Build a registered model; ``kwargs`` override its registered defaults."""
    spec = get_spec(name)
    model = spec.builder(**{**spec.defaults, **kwargs})
    model.model_name = name
    model.model_args = {**spec.defaults, **kwargs}
    return model


@register("seed-teacher", "the write-up's teacher: 3x3 convs 64-64-32, 1x1 to RGB")
def seed_teacher(width: int = 64) -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(3, width, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(width, width, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(width, width // 2, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(width // 2, 3, 1),
    )


@register("seed-student", "the write-up's student: one 3x3 conv to 16, 1x1 to RGB")
def seed_student(width: int = 16) -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, width, 3, padding=1), nn.ReLU(), nn.Conv2d(width, 3, 1))


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def count_macs(model: nn.Module, height: int = 720, width: int = 1280) -> int:
    """Multiply-accumulates of the conv and linear layers for one ``height x width`` output frame.

    Runs on the meta device, so no arithmetic is done and any size is cheap.
    """
    total = 0

    def hook(mod, inp, out):
        nonlocal total
        if isinstance(mod, nn.Conv2d):
            k = mod.kernel_size[0] * mod.kernel_size[1] * mod.in_channels // mod.groups
            total += out.numel() * k
        elif isinstance(mod, nn.Linear):
            total += out.numel() * mod.in_features

    meta = create_model(model.model_name, **model.model_args).to("meta") if hasattr(model, "model_name") else model
    handles = [m.register_forward_hook(hook) for m in meta.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    try:
        with torch.no_grad():
            meta(torch.empty(1, 3, height, width, device="meta"))
    finally:
        for h in handles:
            h.remove()
    return total
