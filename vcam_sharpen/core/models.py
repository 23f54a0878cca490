"""Model registry: every sharpening network is built by name with :func:`create_model`.

All models map a degraded frame to a restored frame of the same size:
input and output are ``(N, 3, H, W)`` float32 RGB in [0, 1] (outputs are not
clamped inside the network; callers clamp before display or scoring).
"""

from __future__ import annotations

import inspect
import re
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


# Bounds for model arguments wherever they come from (a command line, a checkpoint file): a
# crafted value must be a one-line error here, not a crash or a gigabyte allocation later.
ARG_LIMITS = {"channels": (1, 512), "width": (1, 512), "layers": (2, 32), "blocks": (0, 64),
              "expand": (0, 1024), "ensemble": (1, 2), "scale": (2, 2), "gate": (0, 1)}


def check_args(name: str, args: dict) -> dict:
    """``args`` for model ``name`` checked against its builder: known names, the defaults' types,
    :data:`ARG_LIMITS`. Returns the full argument dict; raises ValueError with one line."""
    spec = get_spec(name)
    params = {k: p.default for k, p in inspect.signature(spec.builder).parameters.items()}
    defaults = {**{k: v for k, v in params.items() if v is not inspect.Parameter.empty}, **spec.defaults}
    if not isinstance(args, dict) or not all(isinstance(k, str) for k in args):
        raise ValueError(f"model arguments must be a mapping of names to values, got {type(args).__name__}")
    for key, value in args.items():
        if key not in params:
            raise ValueError(f"{name} has no argument {key!r}: use {', '.join(params) or 'none'}")
        want = type(defaults.get(key, value))
        if isinstance(value, bool) or not isinstance(value, want if want is not float else (int, float)):
            raise ValueError(f"{name} argument {key}={value!r}: must be {want.__name__}")
        lo, hi = ARG_LIMITS.get(key, (None, None))
        if lo is not None and not lo <= value <= hi:
            raise ValueError(f"{name} argument {key}={value!r} is out of range: use {lo} to {hi}")
    return {**spec.defaults, **args}


def create_model(name: str, **kwargs) -> nn.Module:
    """Build a registered model; ``kwargs`` override its registered defaults.

    Raises:
        KeyError: unknown ``name``.
        ValueError: arguments the architecture does not take or that are out of range (one line).
    """
    spec = get_spec(name)
    args = check_args(name, kwargs)
    try:
        model = spec.builder(**args)
    except (TypeError, ValueError, RuntimeError) as e:
        raise ValueError(f"{name} cannot be built with {args}: {str(e).splitlines()[0] if str(e) else e!r}") from None
    model.model_name = name
    model.model_args = args
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

    Elementwise work (activations, the bilinear upscale, pixel shuffle) is not counted.

    Runs on the meta device, so no arithmetic is done and any size is cheap. A pair (one member at a time) counts
    the dearer member.
    """
    if hasattr(model, "members"):
        return max(count_macs(m, height, width) for m in model.members)
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
            scale = getattr(meta, "input_scale", 1)  # half-res models read the half-size frame
            meta(torch.empty(1, 3, height // scale, width // scale, device="meta"))
    finally:
        for h in handles:
            h.remove()
    return total


class ExpandedConv(nn.Module):
    """A kxk conv trained as ``kxk (C_in -> E) -> 1x1 (E -> C_out)`` plus an identity when shapes allow.

    The branches are linear, so :meth:`collapse` folds them into one plain kxk conv
    with identical outputs (SESR-style re-parameterization): more capacity while
    training, no extra cost at inference.
    """

    def __init__(self, c_in: int, c_out: int, k: int = 3, expand: int = 64) -> None:
        super().__init__()
        self.expand = nn.Conv2d(c_in, expand, k, padding=k // 2)
        self.project = nn.Conv2d(expand, c_out, 1)
        self.identity = c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.project(self.expand(x))
        return y + x if self.identity else y

    @torch.no_grad()
    def collapse(self) -> nn.Conv2d:
        w1, b1 = self.expand.weight, self.expand.bias  # (E, Ci, k, k)
        w2, b2 = self.project.weight[:, :, 0, 0], self.project.bias  # (Co, E)
        k = w1.shape[-1]
        conv = nn.Conv2d(w1.shape[1], w2.shape[0], k, padding=k // 2)
        weight = torch.einsum("oe,eikl->oikl", w2, w1)
        if self.identity:
            weight[:, :, k // 2, k // 2] += torch.eye(w2.shape[0])
        conv.weight.copy_(weight)
        conv.bias.copy_(w2 @ b1 + b2)
        return conv


# The gate's grid: every 4th half-resolution row and column (1/16 of the first layer's work at 720p).
GATE_STRIDE = 4
# Per-layer kernels of a HalfResNet, e.g. "3-3-1-1"; "d3" is a depthwise 3x3.
KERNELS = re.compile(r"d?\d+(-d?\d+)*")


class HalfResNet(nn.Module):
    """Restores a 2x-degraded frame from its half-size version.

    The degraded frame is a fixed function of the half-size frame (see
    :mod:`vcam_sharpen.core.degrade`), so the network reads the half-size frame, runs all
    its convolutions at half resolution (a quarter of the cost per layer) and adds a
    pixel-shuffled correction to the bilinear upscale.

    ``kernels`` gives each layer's kernel, e.g. ``"3-3-1-1"`` (default: all 3x3); ``d3`` is a
    depthwise 3x3 (one filter per channel, hidden layers only). 1x1 and depthwise layers
    add depth and receptive field for a fraction of a dense 3x3 layer's work.

    Input ``(N, 3, h, w)`` float RGB in [0, 1]; output ``(N, 3, 2h, 2w)``, unclamped.
    """

    input_scale = 2

    def __init__(self, channels: int = 16, layers: int = 2, expand: int = 0, scale: int = 2,
                 kernels: str = "", c_in: int = 3) -> None:
        super().__init__()
        if layers < 2:
            raise ValueError("HalfResNet needs at least 2 layers")
        dims = [c_in] + [channels] * (layers - 1) + [3 * scale * scale]
        text = str(kernels) or "-".join(["3"] * layers)
        # (size, depthwise) per layer
        kinds = [(int(t.lstrip("d")), t.startswith("d")) for t in text.split("-")] if KERNELS.fullmatch(text) else []
        if len(kinds) != layers or any(k % 2 == 0 or (d and dims[i] != dims[i + 1])
                                       for i, (k, d) in enumerate(kinds)):
            raise ValueError(f"kernels {kernels!r}: give {layers} odd sizes, e.g. 3-3-1 for 3 layers "
                             "(d3: a depthwise 3x3, hidden layers only)")
        self.scale = scale
        convs = []
        for i, (k, d) in enumerate(kinds):
            if d:  # one kxk filter per channel: k*k multiply-adds per pixel and channel
                convs.append(nn.Conv2d(dims[i], dims[i + 1], k, padding=k // 2, groups=dims[i]))
            elif expand:
                convs.append(ExpandedConv(dims[i], dims[i + 1], k, expand))
            else:
                convs.append(nn.Conv2d(dims[i], dims[i + 1], k, padding=k // 2))
        self.convs = nn.ModuleList(convs)
        self.act = nn.ReLU()
        self.shuffle = nn.PixelShuffle(scale)

    def body(self, y: torch.Tensor) -> torch.Tensor:
        """The conv chain, ReLU between layers; with a ``gate`` (:class:`EnhanceNet`), the last layer's output
        scaled per image and channel by the gate of the first layer's features averaged on a grid of every
        :data:`GATE_STRIDE`-th row and column (so an engine computes it first, from a strided conv)."""
        gate = getattr(self, "gate", None)
        scale = None
        for i, conv in enumerate(self.convs):
            y = conv(y)
            if i < len(self.convs) - 1:
                y = self.act(y)
            if i == 0 and gate is not None:
                scale = torch.sigmoid(gate(y[..., ::GATE_STRIDE, ::GATE_STRIDE].mean((2, 3))))[:, :, None, None]
        return y if scale is None else y * scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        base = torch.nn.functional.interpolate(x, scale_factor=self.scale, mode="bilinear", align_corners=False)
        return base + self.shuffle(self.body(x))

    def collapse(self) -> "HalfResNet":
        """Fold every :class:`ExpandedConv` into a plain conv in place; outputs are unchanged."""
        for i, conv in enumerate(self.convs):
            if isinstance(conv, ExpandedConv):
                self.convs[i] = conv.collapse()
        if hasattr(self, "model_args"):
            self.model_args = {**self.model_args, "expand": 0}
        return self


@register("student-wide", "opt-in student for a faster machine: half-res residual, three 3x3 convs of 15 channels "
          "(trained re-parameterized)", channels=15, layers=3, expand=0, kernels="")
@register("student-deep", "opt-in student for spare CPU: half-res residual, convs 3x3, 3x3, 1x1, 1x1 of 16 channels "
          "(trained re-parameterized)", channels=16, layers=4, expand=0, kernels="3-3-1-1")
@register("student", "default student: half-res residual, 2 convs of 16 channels (trained re-parameterized)",
          channels=16, layers=2, expand=0, kernels="")
def student(channels: int, layers: int, expand: int, kernels: str = "") -> nn.Module:
    return HalfResNet(channels, layers, expand, kernels=kernels)


class ResBlock(nn.Module):
    """``x + conv(relu(conv(x)))``: two 3x3 convs of ``channels`` (EDSR's block, no batch norm)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)
        self.act = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(self.act(self.conv1(x)))


class HalfResEDSR(nn.Module):
    """A deep residual restorer at half resolution (EDSR-baseline layout), for teachers.

    ``bilinear2x(x) + pixel_shuffle(tail(h + body(h)))`` with ``h = head(x)``: the same
    input and output as :class:`HalfResNet`, but ``blocks`` residual blocks, which train
    well at depths where a plain conv stack stalls.

    With ``ensemble=2`` the output is the mean of the network on the frame and on its
    mirror image (mirrored back): the geometric self-ensemble of EDSR+, restricted to
    the horizontal flip the network was trained with. Twice the cost, for an offline
    teacher; the weights are the same.

    Input ``(N, 3, h, w)`` float RGB in [0, 1]; output ``(N, 3, 2h, 2w)``, unclamped.
    """

    input_scale = 2

    def __init__(self, channels: int = 64, blocks: int = 16, scale: int = 2, ensemble: int = 1,
                 c_in: int = 3) -> None:
        super().__init__()
        if ensemble not in (1, 2):
            raise ValueError("ensemble must be 1 (one pass) or 2 (with the mirror image)")
        self.scale = scale
        self.ensemble = ensemble
        self.head = nn.Conv2d(c_in, channels, 3, padding=1)
        self.body = nn.Sequential(*[ResBlock(channels) for _ in range(blocks)],
                                  nn.Conv2d(channels, channels, 3, padding=1))
        self.tail = nn.Conv2d(channels, 3 * scale * scale, 3, padding=1)
        self.shuffle = nn.PixelShuffle(scale)

    def correction(self, x: torch.Tensor) -> torch.Tensor:
        h = self.head(x)
        return self.shuffle(self.tail(h + self.body(h)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        base = torch.nn.functional.interpolate(x, scale_factor=self.scale, mode="bilinear", align_corners=False)
        y = self.correction(x)
        if self.ensemble == 2:
            y = 0.5 * (y + self.correction(x.flip(-1)).flip(-1))
        return base + y


@register("teacher", "default teacher: half-res EDSR-style, 16 residual blocks of 64 channels, flip self-ensemble "
          "(blocks=0: a plain stack of `layers` convs)", channels=64, layers=8, expand=0, blocks=16, ensemble=2)
def teacher(channels: int, layers: int, expand: int, blocks: int, ensemble: int) -> nn.Module:
    return HalfResEDSR(channels, blocks, ensemble=ensemble) if blocks else HalfResNet(channels, layers, expand)


def _even(x: torch.Tensor) -> torch.Tensor:
    """``x`` with its last row/column replicated where H or W is odd (pixel unshuffle needs even sizes).

    Always a pad (of 0 or 1), never a Python branch, so a traced or exported graph handles both."""
    h, w = x.shape[-2:]
    return torch.nn.functional.pad(x, (0, w % 2, 0, h % 2), mode="replicate")


class EnhanceNet(HalfResNet):
    """Sharpens and cleans a frame at its own size, computing at half resolution.

    ``x + pixel_shuffle(convs(pixel_unshuffle(x)))``: the four 2x2 phases of the frame are
    12 half-size channels, so a 3x3 conv there sees a 6x6 window of the frame for a
    quarter of the per-pixel cost, and the residual keeps the picture as it is where the
    correction is 0. Odd sizes are edge-padded inside and cropped back.

    ``gate=1`` adds a global gate (squeeze-and-excitation style): the first layer's features,
    averaged over the frame (on a grid, :data:`GATE_STRIDE`), go through a linear layer and a sigmoid to one factor per
    output channel, which scales the correction. A tiny network cannot tell from a 6x6
    window whether a picture is soft (sharpen hard) or already sharp (leave it alone); the
    whole frame's statistics can, for the cost of one mean over the features.

    Input ``(N, 3, H, W)`` float RGB in [0, 1]; output the same shape, unclamped.
    """

    input_scale = 1
    task = "same-size"  # core.tags.TASK_SAME: never after a 2x upscale (core.degrade.check_mode)

    def __init__(self, channels: int = 16, layers: int = 3, expand: int = 0, kernels: str = "",
                 gate: int = 0) -> None:
        super().__init__(channels, layers, expand, 2, kernels, c_in=12)
        self.gate = nn.Linear(channels, 12) if gate else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        xe = _even(x)
        y = xe + self.shuffle(self.body(torch.nn.functional.pixel_unshuffle(xe, 2)))
        return y[..., :h, :w]


class EnhanceEDSR(HalfResEDSR):
    """The enhance teacher: :class:`EnhanceNet`'s input and output around an EDSR body on the 12
    phase channels (``ensemble=2``: mean with the mirror image's result, mirrored back)."""

    input_scale = 1
    task = "same-size"  # core.tags.TASK_SAME: never after a 2x upscale (core.degrade.check_mode)

    def __init__(self, channels: int = 32, blocks: int = 6, ensemble: int = 1) -> None:
        super().__init__(channels, blocks, 2, ensemble, c_in=12)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        xe = _even(x)
        y = self.correction(torch.nn.functional.pixel_unshuffle(xe, 2))
        if self.ensemble == 2:
            y = 0.5 * (y + self.correction(torch.nn.functional.pixel_unshuffle(xe.flip(-1), 2)).flip(-1))
        return (xe + y)[..., :h, :w]


@register("enhance", "same-size model for --degrade 1: phase channels at half res, convs 3x3, 1x1, 1x1 "
          "of 16 channels, a global gate on the correction, residual",
          channels=16, layers=3, expand=0, kernels="3-1-1", gate=1)
def enhance(channels: int, layers: int, expand: int, kernels: str = "", gate: int = 0) -> nn.Module:
    return EnhanceNet(channels, layers, expand, kernels, gate)


@register("enhance-teacher", "same-size enhance teacher: EDSR-style, 6 residual blocks of 32 channels on the "
          "phase channels", channels=32, blocks=6, ensemble=1)
def enhance_teacher(channels: int, blocks: int, ensemble: int) -> nn.Module:
    return EnhanceEDSR(channels, blocks, ensemble)
