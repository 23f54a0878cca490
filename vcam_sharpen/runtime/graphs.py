"""The graphs the engines run and ``export`` writes: the network with the frame's pre/post-processing fused in.

Graph kinds (:func:`graph_module`):

* ``model``: the network as trained: ``(N, 3, H, W)`` float32 RGB in [0, 1] -> the same
  shape (unclamped; a 2x model takes ``(N, 3, h, w)`` and returns ``(N, 3, 2h, 2w)``).
* ``frame2x``: the whole ``--degrade 2`` / ``--upscale`` restoration in one graph:
  ``(1, h, w, 3)`` uint8 BGR half-size frame -> ``(1, 2h, 2w, 3)`` uint8 BGR. Colour order,
  dtype conversion, the bilinear 2x upscale (skipped for 2x models) and the clamp/round to
  uint8 are inside the graph.
* ``planar2x``: as ``frame2x`` for a planar ``(1, 3, h, w)`` input (what
  :meth:`vcam_sharpen.frames.sharpen.BoxDownscaler.planar` makes most cheaply).
* ``frame``: the same for ``--degrade 1``: ``(1, H, W, 3)`` uint8 BGR -> same-size uint8 BGR.
* ``phase2x`` / ``phaseplanar2x`` (engines only): a half-resolution model as a
  :class:`PhaseGraph`, returning phase planes for
  :func:`vcam_sharpen.frames.layout.interleave_phases`.
* ``phase1x`` (engines only): a same-size :class:`~vcam_sharpen.core.models.EnhanceNet` as a
  :class:`PhaseGraph` on the frame's phase planes (:func:`vcam_sharpen.frames.layout.split_phases`).
* ``tiles2x`` / ``tiles1x`` (engines only): the same on a batch of tiles cut with a halo
  (:class:`TileGraph`), for static-region reuse (:mod:`vcam_sharpen.frames.reuse`).
"""

from __future__ import annotations

import copy

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..core.degrade import model_scale
from ..core.models import GATE_STRIDE, HalfResNet
from ..frames.layout import interleave_phases, split_phases

KINDS = ("model", "frame2x", "planar2x", "frame")
# Internal graphs of the engines (not offered by ``vcam-sharpen export``): see PhaseGraph.
PHASE_KINDS = ("phase2x", "phaseplanar2x", "phase1x")
TILE_KINDS = ("tiles2x", "tiles1x")
# Bilinear 2x upscale (align_corners=False) in phase form: output row 2i+p blends small rows
# i-1, i, i+1 with these weights (edge rows replicated), the same along columns.
_PHASE_TAPS = ((0.25, 0.75, 0.0), (0.0, 0.75, 0.25))
PHASE_PLANES = 16  # 12 used (4 phases x BGR), padded to a multiple of the SIMD block


def fold_io(model: nn.Module) -> nn.Module | None:
    """A copy of ``model`` that takes BGR in [0, 255] and returns ``BGR * 255 + 0.5``, or None.

    Possible when the model is an ``nn.Sequential`` whose first and last layers are
    3-channel convolutions: the channel flips, the 1/255 input scale and the x255 output
    scale (plus the 0.5 of round-half-up) fold into their weights, removing four
    full-frame passes from the graph. Resize is per channel and linear, so it commutes.
    """
    if not isinstance(model, nn.Sequential) or len(model) == 0:
        return None
    first, last = model[0], model[-1]
    if not (isinstance(first, nn.Conv2d) and isinstance(last, nn.Conv2d)):
        return None
    if first.in_channels != 3 or first.groups != 1 or last.out_channels != 3 or last.groups != 1:
        return None
    folded = copy.deepcopy(model).float().cpu()
    with torch.no_grad():
        f, la = folded[0], folded[-1]
        f.weight.copy_(f.weight.flip(1) / 255.0)
        la.weight.copy_(la.weight.flip(0) * 255.0)
        if la.bias is None:
            la.bias = nn.Parameter(torch.zeros(3))
        la.bias.copy_(la.bias.flip(0) * 255.0 + 0.5)
    for p in folded.parameters():
        p.requires_grad_(False)
    return folded


class FrameGraph(nn.Module):
    """uint8 BGR ``(1, h, w, 3)`` -> uint8 BGR ``(1, H, W, 3)`` around a float RGB model.

    Args:
        model: maps ``(N, 3, H, W)`` float RGB in [0, 1] to the restored frame.
        upscale: the input is the half-size frame; the output is twice its size
            (bilinear upscale first for same-size models, nothing for 2x models).
        fold: fold colour order and scaling into the first/last convolution when the
            model allows it (:func:`fold_io`); results then round half up instead of
            half to even, a difference of at most one grey level.
    """

    def __init__(self, model: nn.Module, upscale: bool, fold: bool = True, planar: bool = False) -> None:
        super().__init__()
        scale = model_scale(model)
        if not upscale and scale > 1:
            raise ValueError("a 2x model takes the half-size frame; a same-size frame graph cannot hold it")
        folded = fold_io(model) if fold else None
        self.folded = folded is not None
        self.model = folded if self.folded else model
        self.resize = upscale and scale == 1
        self.input_scale = scale
        self.planar = planar

    def forward(self, frame: torch.Tensor) -> torch.Tensor:
        x = frame if self.planar else frame.permute(0, 3, 1, 2)
        if self.folded:
            x = x.float()
        else:  # BGR -> RGB on the small uint8 planes, the cheapest place for it
            x = x.flip(1).float() * (1.0 / 255.0)
        if self.resize:
            x = F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)
        y = self.model(x)
        if self.folded:  # y = 255 * BGR + 0.5: truncation rounds half up
            y = y.clamp(0.0, 255.99).to(torch.uint8)
        else:
            y = (y * 255.0).clamp(0.0, 255.0).round().to(torch.uint8).flip(1)
        return y.permute(0, 2, 3, 1)


def phase_capable(model: nn.Module, check: bool = False) -> bool:
    """Whether ``model`` can run as a :class:`PhaseGraph`: a :class:`~vcam_sharpen.core.models.HalfResNet`
    with a 2x pixel shuffle (the 2x students, and the same-size ``EnhanceNet``).

    With ``check``, also compare the phase graph with the model itself on a small random
    frame (within one grey level), so a future change to ``HalfResNet`` that the rewrite
    does not know about falls back to the generic graphs instead of giving wrong pictures.
    """
    if not (isinstance(model, HalfResNet) and model.scale == 2):
        return False
    if not check:
        return True
    try:
        g = torch.Generator().manual_seed(0)
        model = copy.deepcopy(model).float().cpu().eval()
        with torch.no_grad():
            if model_scale(model) == 1:
                frame = torch.randint(0, 256, (1, 18, 22, 3), generator=g, dtype=torch.uint8)
                planes = torch.from_numpy(split_phases(frame[0].numpy()))[None]
                phases = PhaseGraph(model)(planes)[0].numpy()
                ref = FrameGraph(model, upscale=False)(frame)[0].numpy()
            else:
                x = torch.randint(0, 256, (1, 3, 9, 11), generator=g, dtype=torch.uint8)
                phases = PhaseGraph(model)(x)[0].numpy()
                ref = FrameGraph(model, upscale=True, planar=True)(x)[0].numpy()
    except Exception:  # noqa: BLE001 - any surprise means: use the generic graphs
        return False
    return bool(np.abs(interleave_phases(phases).astype(int) - ref).max() <= 1)


def _pad_widths(convs: list[nn.Conv2d], block: int) -> list[nn.Conv2d]:
    """The same conv chain with every hidden width rounded up to a multiple of ``block``.

    The extra channels have zero weights and bias, so they stay 0 through ReLU and add
    nothing: the outputs are unchanged. ONNX Runtime's channel-blocked kernels then keep
    the whole chain in their layout instead of reordering after every layer (15 channels:
    three reorders, ~20% of the time).
    """
    out = []
    prev_pad = 0
    for i, conv in enumerate(convs):
        c_in = conv.in_channels + prev_pad
        c_out = conv.out_channels
        pad_out = (-c_out) % block if i < len(convs) - 1 else 0
        if prev_pad == 0 and pad_out == 0:
            out.append(conv)
            continue
        if conv.groups > 1:  # depthwise: one filter per channel, padded channels get zero filters
            pad_out = prev_pad
            new = nn.Conv2d(c_in, c_in, conv.kernel_size, padding=conv.padding, groups=c_in)
        else:
            new = nn.Conv2d(c_in, c_out + pad_out, conv.kernel_size, padding=conv.padding)
        with torch.no_grad():
            new.weight.zero_()
            new.bias.zero_()
            new.weight[:c_out, : conv.weight.shape[1]] = conv.weight
            new.bias[:c_out] = conv.bias
        out.append(new)
        prev_pad = pad_out
    return out


class PhaseGraph(nn.Module):
    """A :class:`~vcam_sharpen.core.models.HalfResNet` computed entirely at half resolution.

    ``HalfResNet`` returns ``bilinear2x(x) + pixel_shuffle(convs(x))``. Both terms are
    four interleaved half-size "phase" images: the pixel shuffle's by construction,
    the bilinear upscale's as a fixed 3x3 filter of the edge-padded small frame per
    phase. So this graph adds them at half size and returns the twelve phase planes
    as uint8; :func:`interleave_phases` then writes the full-size BGR frame (twelve
    strided copies, ~1 ms at 720p). No full-size float tensor is ever built, and the
    colour order and the 1/255 and x255 scales fold into the first and last
    convolution. Exact up to float rounding, borders included.

    Input ``(1, 3, h, w)`` uint8 BGR planes (``(1, h, w, 3)`` with ``planar=False``);
    output ``(1, 16, h, w)`` uint8, plane ``(2 * py + px) * 3 + c`` holding BGR channel
    ``c`` of the output pixels ``(2i + py, 2j + px)`` (planes 12..15 are padding).

    A same-size :class:`~vcam_sharpen.core.models.EnhanceNet` reads the frame's own twelve
    phase planes in that order (``(1, 12, h, w)`` uint8, :func:`split_phases`): its pixel
    unshuffle becomes a reordering of the first convolution's input channels, and its
    residual the input planes themselves in place of the bilinear term.
    """

    def __init__(self, model: nn.Module, planar: bool = True) -> None:
        super().__init__()
        if not phase_capable(model):
            raise ValueError("PhaseGraph needs a 2x HalfResNet")
        model = copy.deepcopy(model).float().cpu().eval()
        if hasattr(model, "collapse"):
            model.collapse()
        convs = list(model.convs)
        if not all(isinstance(c, nn.Conv2d) for c in convs):
            raise ValueError("PhaseGraph needs plain convolutions")
        self.same_size = model_scale(model) == 1
        # pixel (un)shuffle (CRD) uses channel c * 4 + p for RGB channel c, phase p; the
        # planes here are phase-major BGR: plane p * 3 + c' is RGB channel 2 - c'
        order = [(2 - c) * 4 + p for p in range(4) for c in range(3)]
        with torch.no_grad():
            first, last = convs[0], convs[-1]
            if self.same_size:  # BGR phase planes 0..255 in
                first.weight.copy_(first.weight[:, order] / 255.0)
            else:  # BGR 0..255 in
                first.weight.copy_(first.weight.flip(1) / 255.0)
            # the 12 outputs are padded to 16 planes (one SIMD block, like the hidden widths).
            padded = nn.Conv2d(last.in_channels, PHASE_PLANES, last.kernel_size, padding=last.padding)
            padded.weight.zero_()
            padded.bias.zero_()
            padded.weight[:12] = last.weight[order] * 255.0
            padded.bias[:12] = last.bias[order] * 255.0
            convs[-1] = last = padded
            base = torch.zeros(PHASE_PLANES, 3, 3, 3)
            for py in range(2):
                for px in range(2):
                    taps = torch.outer(torch.tensor(_PHASE_TAPS[py]), torch.tensor(_PHASE_TAPS[px]))
                    for c in range(3):
                        base[(2 * py + px) * 3 + c, c] = taps
        self.convs = nn.ModuleList(_pad_widths(convs, PHASE_PLANES))
        self.gate = None
        if getattr(model, "gate", None) is not None:  # EnhanceNet's global gate, on the phase planes' order
            old, width = model.gate, self.convs[0].out_channels
            self.gate = nn.Linear(width, PHASE_PLANES)
            with torch.no_grad():
                self.gate.weight.zero_()
                self.gate.bias.zero_()
                self.gate.weight[:12, : old.in_features] = old.weight[order]
                self.gate.bias[:12] = old.bias[order]
        self.act = model.act
        self.register_buffer("base", base)
        self.planar = planar
        for p in self.parameters():
            p.requires_grad_(False)

    def forward(self, frame: torch.Tensor) -> torch.Tensor:
        x = (frame if self.planar or self.same_size else frame.permute(0, 3, 1, 2)).float()
        if self.same_size:  # the residual: the input planes, padded to the output's 16
            base = F.pad(x, (0, 0, 0, 0, 0, PHASE_PLANES - 12))
        else:
            base = F.conv2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), self.base)
        scale = None
        if self.gate is not None:  # first, from a strided conv: the model's grid (GATE_STRIDE), a 16th of the work
            first = self.convs[0]
            grid = self.act(F.conv2d(x, first.weight, first.bias, stride=GATE_STRIDE, padding=first.padding))
            scale = torch.sigmoid(self.gate(grid.mean((2, 3))))[:, :, None, None]
        y = x
        for i, conv in enumerate(self.convs):
            y = conv(y)
            if i < len(self.convs) - 1:
                y = self.act(y)
        if scale is not None:
            y = y * scale
        # round, clamp, cast: one QuantizeLinear in the exported graph (see _quantize_tail)
        return (base + y).round().clamp(0.0, 255.0).to(torch.uint8)


def tile_halo(model: nn.Module) -> int | None:
    """Half-size pixels of context one output phase pixel of ``model``'s :class:`PhaseGraph` reads on
    each side: the sum of ``(k - 1) / 2`` over its convolutions, at least the bilinear term's 1 (0 for a
    same-size model, whose residual is the pixel itself). ``student`` (3x3, 3x3): 2; ``student-wide``: 3.

    None when a tile cannot be computed from its neighbourhood alone: not a phase-graph model, or a
    global gate (``enhance``'s gate reads the mean of the whole frame).
    """
    if not phase_capable(model) or getattr(model, "gate", None) is not None:
        return None
    convs = [getattr(c, "expand", c) for c in model.convs]  # ExpandedConv: its kxk part sets the reach
    if not all(isinstance(c, nn.Conv2d) for c in convs):
        return None
    reach = sum((c.kernel_size[0] - 1) // 2 for c in convs)
    return max(reach, 0 if model_scale(model) == 1 else 1)


class TileGraph(nn.Module):
    """A :class:`PhaseGraph` on a batch of tiles, each cut from the frame with ``halo`` pixels around it.

    Inputs ``tiles (N, C, t + 2 halo, t + 2 halo)`` uint8 (C = 3 BGR half-size planes, or the 12 phase
    planes for a same-size model) cut from the frame edge-padded by ``halo`` (so the bilinear term sees
    the replicated border it sees in the whole frame), and ``inside (N, 1, t + 2 halo, t + 2 halo)``
    float32, 1 on pixels inside the frame and 0 outside. Output ``(N, 16, t, t)`` uint8 phase planes of
    the tiles' centres, as :class:`PhaseGraph` would give them for the whole frame.

    The convolutions run unpadded ("valid"), so no work is spent on the halo beyond what the centre
    needs; before every convolution wider than 1x1 its input is multiplied by ``inside``, which makes
    the zero padding the whole-frame graph applies at the frame's border exact for border tiles too.
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        halo = tile_halo(model)
        if halo is None:
            raise ValueError("TileGraph needs a phase-graph model without a global gate")
        phase = PhaseGraph(model)
        self.convs, self.act, self.same_size, self.halo = phase.convs, phase.act, phase.same_size, halo
        self.register_buffer("base", phase.base)
        for p in self.parameters():
            p.requires_grad_(False)

    def forward(self, tiles: torch.Tensor, inside: torch.Tensor) -> torch.Tensor:
        x, h = tiles.float(), self.halo

        def crop(t: torch.Tensor, m: int) -> torch.Tensor:  # constant slices: no shape ops in the graph
            return t[:, :, m:-m, m:-m] if m else t

        if self.same_size:
            base = F.pad(crop(x, h), (0, 0, 0, 0, 0, PHASE_PLANES - 12))
        else:
            base = F.conv2d(crop(x, h - 1), self.base)
        y, done = x, 0
        for i, conv in enumerate(self.convs):
            k = conv.kernel_size[0]
            if k > 1:
                y = y * crop(inside, done)
            y = F.conv2d(y, conv.weight, conv.bias, groups=conv.groups)
            done += (k - 1) // 2
            if i < len(self.convs) - 1:
                y = self.act(y)
        y = crop(y, h - done)
        return (base + y).round().clamp(0.0, 255.0).to(torch.uint8)


def graph_module(model: nn.Module, kind: str) -> nn.Module:
    """The module exported for ``kind`` (see the module docstring)."""
    if kind == "model":
        return model
    if kind in ("frame2x", "planar2x", "frame"):
        return FrameGraph(model, upscale=kind != "frame", planar=kind == "planar2x")
    if kind in PHASE_KINDS:
        if (kind == "phase1x") != (model_scale(model) == 1):
            raise ValueError(f"graph kind {kind} does not fit a model with input scale {model_scale(model)}")
        return PhaseGraph(model, planar=kind == "phaseplanar2x")
    if kind in TILE_KINDS:
        if (kind == "tiles1x") != (model_scale(model) == 1):
            raise ValueError(f"graph kind {kind} does not fit a model with input scale {model_scale(model)}")
        return TileGraph(model)
    raise ValueError(f"unknown graph kind {kind!r}; choose from {', '.join(KINDS)}")
