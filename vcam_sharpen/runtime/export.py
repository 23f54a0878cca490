"""ONNX export of the graphs in :mod:`vcam_sharpen.runtime.graphs`, the on-disk cache the engines
read them from, and ``vcam-sharpen export``'s file writer.

Exports use the TorchScript-based exporter (``dynamo=False``; opset 17), which needs
nothing beyond torch and onnx. A few rewrites of the exported proto make ONNX Runtime's
job easier (fixed pads, one ``QuantizeLinear`` tail, the standard ``half_pixel`` resize).
"""

from __future__ import annotations

import hashlib
import io
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..core.degrade import model_scale
from ..core.errors import UserError
from ..core.files import atomic_write
from ..core.files import kind as kind_of
from ..core.paths import cache_home
from .graphs import PHASE_KINDS, TILE_KINDS, graph_module

OPSET = 17
# Bump when the exported graphs change, so cached files are rebuilt.
GRAPH_VERSION = 4


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
    from onnx import TensorProto, helper, numpy_helper  # lazy: onnx takes ~0.5 s to import; only exports need it

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


def static_shape(data: bytes, shape: tuple[int | None, ...], *more: tuple[int | None, ...]) -> bytes:
    """The graph ``data`` with its first input fixed to ``shape`` (the next ones to ``more``); outputs
    are inferred again.

    A ``None`` dimension stays free (named ``batch``): the tile graphs keep a free batch, so one
    session serves any number of tiles (ONNX Runtime runs it as fast as a fixed one).

    With every size known, ONNX Runtime's shape inference proves the bilinear and the
    correction terms of a :class:`PhaseGraph` equal in shape and fuses their sum into the
    last convolution (~15 % of the student's inference time at 720p).
    """
    import onnx  # lazy: see _quantize_tail

    proto = onnx.load_from_string(data)
    for value, fixed in zip(proto.graph.input, (shape, *more)):
        dims = value.type.tensor_type.shape.dim
        if len(dims) != len(fixed):
            raise ValueError(f"graph input has {len(dims)} dimensions, shape {fixed} has {len(fixed)}")
        for d, n in zip(dims, fixed):
            if n is None:
                d.dim_param = "batch"
            else:
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
    from onnx import numpy_helper  # lazy: see _quantize_tail

    for node in onnx_model.graph.node:
        if node.op_type == "Pad" and any(a.name == "mode" and a.s == b"edge" for a in node.attribute):
            name = node.name + "_pads" if node.name else "edge_pads"
            pads = numpy_helper.from_array(np.array([0, 0, 1, 1, 0, 0, 1, 1], np.int64), name)
            onnx_model.graph.initializer.append(pads)
            node.input[1] = name


def export_bytes(model: nn.Module, kind: str = "model", opset: int = OPSET) -> bytes:
    """Serialized ONNX graph of ``kind`` for ``model`` (eval mode, CPU, float32), dynamic H and W."""
    import onnx  # lazy: see _quantize_tail

    model = model.eval().float().cpu()
    module = graph_module(model, kind).eval()
    scale = model_scale(model)
    if kind == "model":
        example = torch.rand(1, 3, 16, 16)
        names, outs = ["input"], ["output"]
        axes = {"input": {0: "batch", 2: "height", 3: "width"},
                "output": {0: "batch", 2: f"height*{scale}" if scale > 1 else "height",
                           3: f"width*{scale}" if scale > 1 else "width"}}
    elif kind in TILE_KINDS:  # (N, C, s, s) tiles and their (N, 1, s, s) inside-the-frame mask
        example = (torch.randint(0, 256, (2, 12 if kind == "tiles1x" else 3, 20, 20), dtype=torch.uint8),
                   torch.ones(2, 1, 20, 20))
        names, outs = ["tiles", "inside"], ["restored"]
        free = {0: "batch", 2: "height", 3: "width"}
        axes = {"tiles": free, "inside": free, "restored": {0: "batch", 2: "out_height", 3: "out_width"}}
    else:
        planar = kind in ("planar2x", "phaseplanar2x", "phase1x")
        shape = (1, 12 if kind == "phase1x" else 3, 16, 16) if planar else (1, 16, 16, 3)
        example = torch.randint(0, 256, shape, dtype=torch.uint8)
        names, outs = ["frame"], ["restored"]
        axes = {"frame": {2: "height", 3: "width"} if planar else {1: "height", 2: "width"},
                "restored": {2: "height", 3: "width"} if kind in PHASE_KINDS else {1: "out_height", 2: "out_width"}}
    buf = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, example if isinstance(example, tuple) else (example,), buf, dynamo=False, opset_version=opset, input_names=names,
                          output_names=outs, dynamic_axes=axes, do_constant_folding=True)
    proto = onnx.load_from_string(buf.getvalue())
    _fix_resize(proto)
    if kind in PHASE_KINDS or kind in TILE_KINDS:
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
    return cache_home() / "onnx"


def cached_bytes(model: nn.Module, kind: str, refresh: bool = False) -> bytes:
    """The ONNX graph for ``model``/``kind``, from the cache or exported now (and cached if possible).

    ``refresh=True`` ignores (and replaces) a cached file, e.g. one that failed to load.
    """
    name = getattr(model, "model_name", type(model).__name__)
    path = cache_dir() / f"{name}-{weights_hash(model)}-{kind}.onnx"
    if not refresh and kind_of(path) is None:  # a cached graph is a regular file; anything else is ignored
        try:
            return path.read_bytes()
        except OSError:
            pass
    data = export_bytes(model, kind)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, data)
    except OSError:
        pass  # read-only home: keep it in memory
    return data


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
        atomic_write(out, data)
    except OSError as e:
        raise UserError(f"cannot write {out} ({e.strerror}); pass another --out") from None
    return {"path": str(out), "kind": kind, "bytes": len(data), "opset": OPSET,
            "max_abs_diff": parity(model, data, kind)}


def parity(model: nn.Module, data: bytes, kind: str = "model", seed: int = 0) -> float:
    """Max abs difference between ONNX Runtime on ``data`` and torch on one random input."""
    import onnxruntime as ort  # lazy and optional (see runtime.engines.ort_providers)

    g = torch.Generator().manual_seed(seed)
    module = graph_module(model.eval(), kind).eval()
    if kind == "model":
        x = torch.rand(1, 3, 67, 91, generator=g)
    else:
        shape = {"planar2x": (1, 3, 67, 91), "phaseplanar2x": (1, 3, 67, 91),
                 "phase1x": (1, 12, 67, 91)}.get(kind, (1, 67, 91, 3))
        x = torch.randint(0, 256, shape, generator=g, dtype=torch.uint8)
    with torch.no_grad():
        ref = module(x).numpy()
    sess = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    got = sess.run(None, {sess.get_inputs()[0].name: x.numpy()})[0]
    return float(abs(got.astype("float64") - ref.astype("float64")).max())
