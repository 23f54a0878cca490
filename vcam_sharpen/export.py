"""ONNX export: the plain model, or a whole-frame graph with the pre/post-processing fused in.

Graph kinds:

* ``model``: the network as trained: ``input`` ``(N, 3, H, W)`` float32 RGB in [0, 1] ->
  ``output`` of the same shape (unclamped; a 2x model takes ``(N, 3, h, w)`` and returns
  ``(N, 3, 2h, 2w)``). Batch, height and width are dynamic.
* ``frame2x``: the whole ``--degrade 2`` / ``--upscale`` restoration in one graph: ``frame``
  ``(1, h, w, 3)`` uint8 BGR (the half-size frame) -> ``restored`` ``(1, 2h, 2w, 3)``
  uint8 BGR. Colour order, dtype conversion, the bilinear 2x upscale (ONNX ``Resize``,
  linear, ``half_pixel`` coordinates == ``align_corners=False``; skipped for 2x models)
  and the clamp/round to uint8 are inside the graph.
* ``planar2x``: as ``frame2x`` but the input is planar, ``(1, 3, h, w)`` uint8 BGR (what
  :meth:`vcam_sharpen.processing.BoxDownscaler.planar` produces most cheaply); the
  engines run this for full-resolution models.
* ``frame``: the same for ``--degrade 1``: ``(1, H, W, 3)`` uint8 BGR -> same-size uint8 BGR.

The engines also build ``phase2x`` / ``phaseplanar2x`` graphs for half-resolution models
(:class:`PhaseGraph`), which return phase planes for a numpy interleave.

Exports use the TorchScript-based exporter (``dynamo=False``; opset 17), which needs
nothing beyond torch and onnx.
"""

from __future__ import annotations

import copy
import hashlib
import io
import os
import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .errors import UserError
from .restore import model_scale

OPSET = 17
KINDS = ("model", "frame2x", "planar2x", "frame")
# Internal graphs of the engines (not offered by ``vcam-sharpen export``): see PhaseGraph.
PHASE_KINDS = ("phase2x", "phaseplanar2x")
# Bump when the exported graphs change, so cached files are rebuilt.
GRAPH_VERSION = 3


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
            raise UserError("this model takes the half-size frame; it cannot sharpen a frame at its own size")
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


# Bilinear 2x upscale (align_corners=False) in phase form: output row 2i+p blends small rows
# i-1, i, i+1 with these weights (edge rows replicated), the same along columns.
_PHASE_TAPS = ((0.25, 0.75, 0.0), (0.0, 0.75, 0.25))
PHASE_PLANES = 16  # 12 used (4 phases x BGR), padded to a multiple of the SIMD block


def phase_capable(model: nn.Module, check: bool = False) -> bool:
    """Whether ``model`` can run as a :class:`PhaseGraph` (a 2x :class:`~vcam_sharpen.models.HalfResNet`).

    With ``check``, also compare the phase graph with the model itself on a small random
    frame (within one grey level), so a future change to ``HalfResNet`` that the rewrite
    does not know about falls back to the generic graphs instead of giving wrong pictures.
    """
    from .models import HalfResNet

    if not (isinstance(model, HalfResNet) and model.scale == 2):
        return False
    if not check:
        return True
    try:
        g = torch.Generator().manual_seed(0)
        x = torch.randint(0, 256, (1, 3, 9, 11), generator=g, dtype=torch.uint8)
        model = copy.deepcopy(model).float().cpu().eval()
        with torch.no_grad():
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
    """A 2x :class:`~vcam_sharpen.models.HalfResNet` computed entirely at half resolution.

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
        with torch.no_grad():
            first, last = convs[0], convs[-1]
            first.weight.copy_(first.weight.flip(1) / 255.0)  # BGR 0..255 in
            # pixel shuffle (CRD) reads channel c * 4 + p for RGB channel c, phase p; the
            # 12 outputs are padded to 16 planes (one SIMD block, like the hidden widths).
            order = [(2 - c) * 4 + p for p in range(4) for c in range(3)]
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
        self.act = model.act
        self.register_buffer("base", base)
        self.planar = planar
        for p in self.parameters():
            p.requires_grad_(False)

    def forward(self, frame: torch.Tensor) -> torch.Tensor:
        x = (frame if self.planar else frame.permute(0, 3, 1, 2)).float()
        base = F.conv2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), self.base)
        y = x
        for i, conv in enumerate(self.convs):
            y = conv(y)
            if i < len(self.convs) - 1:
                y = self.act(y)
        # round, clamp, cast: one QuantizeLinear in the exported graph (see _quantize_tail)
        return (base + y).round().clamp(0.0, 255.0).to(torch.uint8)


def interleave_phases(phases: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """``(12+, h, w)`` phase planes of a :class:`PhaseGraph` -> ``(2h, 2w, 3)`` uint8 BGR frame."""
    _, h, w = phases.shape
    if out is None:
        out = np.empty((2 * h, 2 * w, 3), np.uint8)
    view = out.reshape(h, 2, w, 2, 3)
    for py in range(2):
        for px in range(2):
            for c in range(3):
                view[:, py, :, px, c] = phases[(2 * py + px) * 3 + c]
    return out


def graph_module(model: nn.Module, kind: str) -> nn.Module:
    """The module exported for ``kind`` (see the module docstring)."""
    if kind == "model":
        return model
    if kind in ("frame2x", "planar2x", "frame"):
        return FrameGraph(model, upscale=kind != "frame", planar=kind == "planar2x")
    if kind in PHASE_KINDS:
        return PhaseGraph(model, planar=kind == "phaseplanar2x")
    raise ValueError(f"unknown graph kind {kind!r}; choose from {', '.join(KINDS)}")


def _fix_resize(onnx_model) -> None:
    """Use the standard ``half_pixel`` mode (== align_corners=False for any size > 1).

    The TorchScript exporter writes ``pytorch_half_pixel``, which differs only for an
    output of length 1; ``half_pixel`` is the mode every runtime implements fastest.
    """
    for node in onnx_model.graph.node:
        if node.op_type == "Resize":
            for attr in node.attribute:
                if attr.name == "coordinate_transformation_mode" and attr.s == b"pytorch_half_pixel":
                    attr.s = b"half_pixel"


def _quantize_tail(onnx_model) -> None:
    """Replace the final ``Round -> Clip(0, 255) -> Cast(uint8)`` by one ``QuantizeLinear``.

    QuantizeLinear with scale 1 and a uint8 zero point of 0 rounds half to even and
    saturates to [0, 255]: the same numbers in one pass over the frame instead of three.
    """
    from onnx import TensorProto, helper, numpy_helper

    graph = onnx_model.graph
    producer = {o: n for n in graph.node for o in n.output}
    out = graph.output[0].name
    cast = producer.get(out)
    clip = producer.get(cast.input[0]) if cast is not None and cast.op_type == "Cast" else None
    rnd = producer.get(clip.input[0]) if clip is not None and clip.op_type == "Clip" else None
    if rnd is None or rnd.op_type != "Round" or helper.get_attribute_value(cast.attribute[0]) != TensorProto.UINT8:
        return
    graph.initializer.extend([numpy_helper.from_array(np.array(1.0, np.float32), "quant_scale"),
                              numpy_helper.from_array(np.array(0, np.uint8), "quant_zero")])
    quant = helper.make_node("QuantizeLinear", [rnd.input[0], "quant_scale", "quant_zero"], [out], name="quantize")
    nodes = [n for n in graph.node if n not in (cast, clip, rnd)]
    del graph.node[:]
    graph.node.extend(nodes + [quant])


def static_shape(data: bytes, shape: tuple[int, ...]) -> bytes:
    """The graph ``data`` with its (single) input fixed to ``shape``; outputs are inferred again.

    With every size known, ONNX Runtime's shape inference proves the bilinear and the
    correction terms of a :class:`PhaseGraph` equal in shape and fuses their sum into the
    last convolution (~15 % of the student's inference time at 720p).
    """
    import onnx

    proto = onnx.load_from_string(data)
    (value,) = proto.graph.input
    dims = value.type.tensor_type.shape.dim
    if len(dims) != len(shape):
        raise ValueError(f"graph input has {len(dims)} dimensions, shape {shape} has {len(shape)}")
    for d, n in zip(dims, shape):
        d.dim_value = int(n)
    for out in proto.graph.output:
        for d in out.type.tensor_type.shape.dim:
            if d.dim_param:
                d.Clear()
    del proto.graph.value_info[:]
    return proto.SerializeToString()


def _prune(onnx_model):
    """Drop nodes whose outputs nothing uses (the dead pads computation)."""
    graph = onnx_model.graph
    needed = {o.name for o in graph.output}
    keep = []
    for node in reversed(list(graph.node)):
        if any(o in needed for o in node.output):
            keep.append(node)
            needed.update(i for i in node.input if i)
    del graph.node[:]
    graph.node.extend(reversed(keep))
    return onnx_model


def _constant_pads(onnx_model) -> None:
    """Give ``Pad`` nodes with ``mode=edge`` the constant pads ``F.pad(x, (1, 1, 1, 1))`` means.

    The TorchScript exporter computes them at run time from shapes, which hides the
    padded size from ONNX Runtime's shape inference and so keeps the following sum out
    of the channel-blocked layout (two extra full reorders).
    """
    from onnx import numpy_helper

    for node in onnx_model.graph.node:
        if node.op_type == "Pad" and any(a.name == "mode" and a.s == b"edge" for a in node.attribute):
            name = node.name + "_pads" if node.name else "edge_pads"
            pads = numpy_helper.from_array(np.array([0, 0, 1, 1, 0, 0, 1, 1], np.int64), name)
            onnx_model.graph.initializer.append(pads)
            node.input[1] = name


def export_bytes(model: nn.Module, kind: str = "model", opset: int = OPSET) -> bytes:
    """Serialized ONNX graph of ``kind`` for ``model`` (eval mode, CPU, float32), dynamic H and W."""
    import onnx

    model = model.eval().float().cpu()
    module = graph_module(model, kind).eval()
    scale = model_scale(model)
    if kind == "model":
        example = torch.rand(1, 3, 16, 16)
        names, outs = ["input"], ["output"]
        axes = {"input": {0: "batch", 2: "height", 3: "width"},
                "output": {0: "batch", 2: f"height*{scale}" if scale > 1 else "height",
                           3: f"width*{scale}" if scale > 1 else "width"}}
    else:
        planar = kind in ("planar2x", "phaseplanar2x")
        example = torch.randint(0, 256, (1, 3, 16, 16) if planar else (1, 16, 16, 3), dtype=torch.uint8)
        names, outs = ["frame"], ["restored"]
        axes = {"frame": {2: "height", 3: "width"} if planar else {1: "height", 2: "width"},
                "restored": {2: "height", 3: "width"} if kind in PHASE_KINDS else {1: "out_height", 2: "out_width"}}
    buf = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, (example,), buf, dynamo=False, opset_version=opset, input_names=names,
                          output_names=outs, dynamic_axes=axes, do_constant_folding=True)
    proto = onnx.load_from_string(buf.getvalue())
    _fix_resize(proto)
    if kind in PHASE_KINDS:
        _constant_pads(proto)
        proto = _prune(proto)
        _quantize_tail(proto)
    proto.producer_name = "vcam-sharpen"
    proto.doc_string = f"vcam-sharpen {getattr(model, 'model_name', type(model).__name__)} ({kind})"
    onnx.checker.check_model(proto)
    return proto.SerializeToString()


def weights_hash(model: nn.Module) -> str:
    """Hex digest of the model's name, arguments and parameter values (the ONNX cache key)."""
    h = hashlib.sha256()
    h.update(repr((getattr(model, "model_name", type(model).__name__), sorted(getattr(model, "model_args", {}).items()),
                   GRAPH_VERSION, OPSET, torch.__version__.split("+")[0])).encode())
    for name, t in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def cache_dir() -> Path:
    """``$XDG_CACHE_HOME/vcam-sharpen/onnx`` (``~/.cache/vcam-sharpen/onnx``)."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "vcam-sharpen" / "onnx"


def cached_bytes(model: nn.Module, kind: str, refresh: bool = False) -> bytes:
    """The ONNX graph for ``model``/``kind``, from the cache or exported now (and cached if possible).

    ``refresh=True`` ignores (and replaces) a cached file, e.g. one that failed to load.
    """
    name = getattr(model, "model_name", type(model).__name__)
    path = cache_dir() / f"{name}-{weights_hash(model)}-{kind}.onnx"
    if not refresh:
        try:
            return path.read_bytes()
        except OSError:
            pass
    data = export_bytes(model, kind)
    try:
        _write_atomic(path, data)
    except OSError:
        pass  # read-only home: keep it in memory
    return data


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def export_file(model: nn.Module, out: Path, kind: str = "model") -> dict:
    """Write the ONNX graph to ``out`` and check it against torch on a random input.

    Returns:
        ``{"path", "kind", "bytes", "opset", "max_abs_diff"}``; ``max_abs_diff`` is the
        largest difference from torch on a random 1x3x67x91 frame (grey levels for the
        uint8 frame graphs).
    """
    out = Path(out)
    data = export_bytes(model, kind)
    try:
        _write_atomic(out, data)
    except OSError as e:
        raise UserError(f"cannot write {out}: {e.strerror}") from None
    return {"path": str(out), "kind": kind, "bytes": len(data), "opset": OPSET,
            "max_abs_diff": parity(model, data, kind)}


def parity(model: nn.Module, data: bytes, kind: str = "model", seed: int = 0) -> float:
    """Max abs difference between ONNX Runtime on ``data`` and torch on one random input."""
    import onnxruntime as ort

    g = torch.Generator().manual_seed(seed)
    module = graph_module(model.eval(), kind).eval()
    if kind == "model":
        x = torch.rand(1, 3, 67, 91, generator=g)
    else:
        shape = (1, 3, 67, 91) if kind in ("planar2x", "phaseplanar2x") else (1, 67, 91, 3)
        x = torch.randint(0, 256, shape, generator=g, dtype=torch.uint8)
    with torch.no_grad():
        ref = module(x).numpy()
    sess = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    got = sess.run(None, {sess.get_inputs()[0].name: x.numpy()})[0]
    return float(abs(got.astype("float64") - ref.astype("float64")).max())
