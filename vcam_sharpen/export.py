"""ONNX export: the plain model, or a whole-frame graph with the pre/post-processing fused in.

Graph kinds:

* ``model``: the network as trained: ``input`` ``(N, 3, H, W)`` float32 RGB in [0, 1] ->
  ``output`` of the same shape (unclamped; a 2x model takes ``(N, 3, h, w)`` and returns
  ``(N, 3, 2h, 2w)``). Batch, height and width are dynamic.
* ``frame2x``: what the daemon runs for ``--degrade 2`` / ``--upscale``: ``frame``
  ``(1, h, w, 3)`` uint8 BGR (the half-size frame) -> ``restored`` ``(1, 2h, 2w, 3)``
  uint8 BGR. Colour order, dtype conversion, the bilinear 2x upscale (ONNX ``Resize``,
  linear, ``half_pixel`` coordinates == ``align_corners=False``; skipped for 2x models)
  and the clamp/round to uint8 are inside the graph.
* ``planar2x``: as ``frame2x`` but the input is planar, ``(1, 3, h, w)`` uint8 BGR (what
  :func:`vcam_sharpen.processing.box_downscale` produces most cheaply).
* ``frame``: the same for ``--degrade 1``: ``(1, H, W, 3)`` uint8 BGR -> same-size uint8 BGR.

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

import torch
import torch.nn.functional as F
from torch import nn

from .errors import UserError
from .restore import model_scale

OPSET = 17
KINDS = ("model", "frame2x", "planar2x", "frame")
# Bump when the exported graphs change, so cached files are rebuilt.
GRAPH_VERSION = 1


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


def graph_module(model: nn.Module, kind: str) -> nn.Module:
    """The module exported for ``kind`` (see the module docstring)."""
    if kind == "model":
        return model
    if kind in ("frame2x", "planar2x", "frame"):
        return FrameGraph(model, upscale=kind != "frame", planar=kind == "planar2x")
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
        planar = kind == "planar2x"
        example = torch.randint(0, 256, (1, 3, 16, 16) if planar else (1, 16, 16, 3), dtype=torch.uint8)
        names, outs = ["frame"], ["restored"]
        axes = {"frame": {2: "height", 3: "width"} if planar else {1: "height", 2: "width"},
                "restored": {1: "out_height", 2: "out_width"}}
    buf = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, (example,), buf, dynamo=False, opset_version=opset, input_names=names,
                          output_names=outs, dynamic_axes=axes, do_constant_folding=True)
    proto = onnx.load_from_string(buf.getvalue())
    _fix_resize(proto)
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


def cached_bytes(model: nn.Module, kind: str) -> bytes:
    """The ONNX graph for ``model``/``kind``, from the cache or exported now (and cached if possible)."""
    name = getattr(model, "model_name", type(model).__name__)
    path = cache_dir() / f"{name}-{weights_hash(model)}-{kind}.onnx"
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
        shape = (1, 3, 67, 91) if kind == "planar2x" else (1, 67, 91, 3)
        x = torch.randint(0, 256, shape, generator=g, dtype=torch.uint8)
    with torch.no_grad():
        ref = module(x).numpy()
    sess = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    got = sess.run(None, {sess.get_inputs()[0].name: x.numpy()})[0]
    return float(abs(got.astype("float64") - ref.astype("float64")).max())
