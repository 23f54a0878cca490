"""Inference engines: one interface over ONNX Runtime (the CPU default) and torch (CPU or CUDA).

An engine runs the fused frame graphs of :mod:`vcam_sharpen.runtime.graphs`: uint8 BGR in,
uint8 BGR out, with colour/dtype conversion, the bilinear 2x upscale and the clamp
inside, so the per-frame Python work is one call:

* :meth:`Engine.restore_half`: ``(h, w, 3)`` half-size frame -> ``(2h, 2w, 3)`` restored frame
  (``--degrade 2`` and ``--upscale``).
* :meth:`Engine.restore_planar`: the same for a planar ``(3, h, w)`` half-size frame.
* :meth:`Engine.restore_full`: ``(H, W, 3)`` frame -> same-size sharpened frame (``--degrade 1``).

Half-resolution models (:class:`~vcam_sharpen.core.models.HalfResNet`, e.g. ``student``) run as
a :class:`~vcam_sharpen.runtime.graphs.PhaseGraph`: all arithmetic at half size, then one numpy
interleave into the full-size frame.

Nothing heavy happens at import time; ONNX graphs are exported on first use and cached
under ``$XDG_CACHE_HOME/vcam-sharpen/onnx`` keyed by a hash of the weights.
"""

from __future__ import annotations

import copy
import logging

import numpy as np
import torch
from torch import nn

from ..core.baselines import UnsharpMask, unsharp_mask
from ..core.degrade import check_mode, model_scale, model_task
from ..core.errors import UserError
from ..frames.layout import interleave_phases, split_phases
from ..frames.sharpen import BilinearUpscaler
from .export import cached_bytes, static_shape
from .graphs import PHASE_KINDS, TILE_KINDS, graph_module, phase_capable, tile_halo

log = logging.getLogger(__name__)

ENGINES = ("auto", "onnxruntime", "torch")
DEVICES = ("auto", "cpu", "cuda")
DEFAULT_THREADS = 2


def cuda_available_torch() -> bool:
    return torch.cuda.is_available()


def ort_providers() -> list[str]:
    try:
        import onnxruntime as ort  # lazy and optional: the torch engine runs without it
    except ImportError:
        return []
    return list(ort.get_available_providers())


def pick_engine(engine: str = "auto", device: str = "auto") -> tuple[str, str]:
    """Pick ``(engine, device)``: CUDA when present (never required), ONNX Runtime on CPU.

    Raises:
        UserError: an unknown name, or CUDA asked for but not available.
    """
    if engine not in ENGINES:
        raise UserError(f"unknown engine {engine!r}; choose from {', '.join(ENGINES)}")
    if device not in DEVICES:
        raise UserError(f"unknown device {device!r}; choose from {', '.join(DEVICES)}")
    has_ort = bool(ort_providers())
    ort_cuda = "CUDAExecutionProvider" in ort_providers()
    torch_cuda = cuda_available_torch()
    if engine == "onnxruntime" and not has_ort:
        raise UserError("onnxruntime is not installed; pip install onnxruntime, or use --engine torch")
    if device == "cuda":
        if engine == "onnxruntime" and not ort_cuda:
            raise UserError("--device cuda: onnxruntime has no CUDAExecutionProvider here "
                            "(install onnxruntime-gpu), or use --engine torch / --device cpu")
        if engine == "torch" and not torch_cuda:
            raise UserError("--device cuda: no CUDA device available to torch; use --device cpu")
        if engine == "auto" and not (torch_cuda or ort_cuda):
            raise UserError("--device cuda: no CUDA device available (torch.cuda.is_available() is False "
                            "and onnxruntime has no CUDAExecutionProvider); use --device cpu")
    if device == "auto":
        if engine == "torch":
            device = "cuda" if torch_cuda else "cpu"
        elif engine == "onnxruntime":
            device = "cuda" if ort_cuda else "cpu"
        else:
            device = "cuda" if (torch_cuda or ort_cuda) else "cpu"
    if engine == "auto":
        if device == "cuda":
            engine = "onnxruntime" if ort_cuda else "torch"
        else:
            engine = "onnxruntime" if has_ort else "torch"
    return engine, device


class Engine:
    """Common interface; see the module docstring. Subclasses implement :meth:`_run`."""

    name = "?"

    def __init__(self, model: nn.Module, device: str, threads: int | None) -> None:
        self.model = model
        self.device = device
        self.threads = threads
        self.input_scale = model_scale(model)
        self.task = model_task(model)  # what core.degrade.check_mode reads
        self.model_name = getattr(model, "model_name", type(model).__name__)
        # HalfResNets (2x students, the same-size enhance model) run as a half-resolution phase
        # graph plus a numpy interleave.
        self.phases = phase_capable(model, check=True)
        self._outs: dict[tuple, list] = {}
        self._planes: np.ndarray | None = None  # the same-size frame's phase planes (reused)

    def describe(self) -> str:
        threads = f", {self.threads} thread{'s' if self.threads != 1 else ''}" if self.threads else ""
        return f"{self.model_name} on {self.name}/{self.device}{threads}"

    def restore_half(self, small: np.ndarray) -> np.ndarray:
        """``(h, w, 3)`` uint8 BGR half-size frame -> ``(2h, 2w, 3)`` uint8 BGR restored frame.

        The result may be a buffer the engine reuses two calls later.
        """
        if self.phases:
            return self._interleave(self._run("phase2x", _frame(small))[0])
        return self._run("frame2x", _frame(small))[0]

    def _interleave(self, phases: np.ndarray) -> np.ndarray:
        _, h, w = phases.shape
        bufs = self._outs.get((h, w))
        if bufs is None:  # two buffers, alternated: the previous result stays valid
            self._outs.clear()
            bufs = self._outs[(h, w)] = [np.empty((2 * h, 2 * w, 3), np.uint8) for _ in range(2)]
        out = bufs.pop(0)
        bufs.append(out)
        return interleave_phases(phases, out)

    def restore_planar(self, planes: np.ndarray) -> np.ndarray:
        """As :meth:`restore_half` for a planar ``(3, h, w)`` uint8 BGR half-size frame."""
        planes = np.asarray(planes)
        if planes.dtype != np.uint8 or planes.ndim != 3 or planes.shape[0] != 3:
            raise ValueError(f"expected a (3, h, w) uint8 BGR frame, got {planes.dtype} {planes.shape}")
        if self.phases:
            return self._interleave(self._run("phaseplanar2x", np.ascontiguousarray(planes)[None])[0])
        return self._run("planar2x", np.ascontiguousarray(planes)[None])[0]

    def restore_full(self, frame: np.ndarray) -> np.ndarray:
        """``(H, W, 3)`` uint8 BGR frame -> same-size uint8 BGR sharpened frame (same-size models only)."""
        check_mode(self, degrade=1)  # before any graph is built for a mode the model cannot run
        if not self.phases:
            return self._run("frame", _frame(frame))[0]
        frame = _frame(frame)[0]
        fh, fw = frame.shape[:2]
        even = frame
        if fh % 2 or fw % 2:  # odd sizes: edge-pad to even as the model does, crop after
            even = np.pad(frame, ((0, fh % 2), (0, fw % 2), (0, 0)), mode="edge")
        h, w = even.shape[0] // 2, even.shape[1] // 2
        if self._planes is None or self._planes.shape != (12, h, w):
            self._planes = np.empty((12, h, w), np.uint8)
        out = self._interleave(self._run("phase1x", split_phases(even, self._planes)[None])[0])
        return out if even is frame else out[:fh, :fw]

    def tile_halo(self) -> int | None:
        """The halo :meth:`restore_tiles` needs (:func:`~vcam_sharpen.runtime.graphs.tile_halo`), or None
        when this model cannot be run by tiles (static-region reuse then runs whole frames)."""
        return tile_halo(self.model) if self.phases else None

    def restore_phases(self, planes: np.ndarray) -> np.ndarray:
        """The whole frame as output phase planes, not interleaved: ``(1, C, h, w)`` uint8 -> ``(16, h, w)``
        uint8 (C = 3 half-size BGR planes for a 2x model, or the frame's 12 phase planes from
        :func:`~vcam_sharpen.frames.layout.split_phases` for a same-size one). A new array per call."""
        return self._run("phase1x" if self.input_scale == 1 else "phaseplanar2x", planes)[0]

    def restore_tiles(self, tiles: np.ndarray, inside: np.ndarray) -> np.ndarray:
        """A batch of tiles in one call (:class:`~vcam_sharpen.runtime.graphs.TileGraph`): ``(N, C, s, s)``
        uint8 tiles cut with :meth:`tile_halo` pixels around them and their ``(N, 1, s, s)`` float32
        inside-the-frame mask -> ``(N, 16, s - 2 halo, s - 2 halo)`` uint8 phase planes."""
        return self._run("tiles1x" if self.input_scale == 1 else "tiles2x", tiles, inside)

    def _run(self, kind: str, *inputs: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError


def _frame(img: np.ndarray) -> np.ndarray:
    img = np.asarray(img)
    if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) uint8 BGR frame, got {img.dtype} {img.shape}")
    return np.ascontiguousarray(img)[None]


def prefers_blocked_layout(model: nn.Module) -> bool:
    """Whether ONNX Runtime's NCHWc (channel-blocked) convolutions suit ``model``.

    They pad channels to blocks of 16 (AVX-512) and reorder tensors in and out. That
    pays off for the half-resolution models, whose phase graph keeps every tensor
    block-aligned (``student``: ~1.5x faster), and for wide layers (``seed-teacher``:
    ~1.6x), but costs the full-resolution ``seed-student`` (3 -> 16 -> 3 channels:
    ~1.3x slower). Rule: phase-graph models, or a MAC-weighted conv output width of
    32 channels or more -> blocked.
    """
    if phase_capable(model):
        return True
    total = weighted = 0
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            macs = m.in_channels // m.groups * m.kernel_size[0] * m.kernel_size[1] * m.out_channels
            total += macs
            weighted += macs * m.out_channels
    return total > 0 and weighted / total >= 32


class OrtEngine(Engine):
    """ONNX Runtime: graph optimization ALL, sequential execution, ``threads`` intra-op threads (default 2).

    Args:
        spin: let idle worker threads busy-wait (lower latency, but a core burnt between frames).
        layout: ``"auto"`` (see :func:`prefers_blocked_layout`), ``"nchwc"`` or ``"plain"``.
    """

    name = "onnxruntime"

    def __init__(self, model: nn.Module, device: str = "cpu", threads: int | None = None,
                 spin: bool = False, layout: str = "auto") -> None:
        super().__init__(model, device, threads or DEFAULT_THREADS)
        import onnxruntime as ort  # lazy: see ort_providers

        self._ort = ort
        self.spin = spin
        if layout not in ("auto", "nchwc", "plain"):
            raise ValueError(f"layout must be auto, nchwc or plain, got {layout!r}")
        self.blocked = prefers_blocked_layout(model) if layout == "auto" else layout == "nchwc"
        self._sessions: dict[tuple, tuple] = {}

    def _session(self, kind: str, shapes: tuple[tuple, ...] | None) -> tuple:
        """``(session, input names)``, cached: the per-frame call does no lookups beyond this one.
        ``shapes``: one per input, fixed in the graph (None: the exported free sizes)."""
        key = (kind, shapes)
        entry = self._sessions.get(key)
        if entry is None:
            ort = self._ort
            so = ort.SessionOptions()
            so.intra_op_num_threads = self.threads
            so.inter_op_num_threads = 1
            so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
            # Busy-waiting worker threads cut latency a little but burn a core between
            # frames at a 30 fps camera; off unless asked for.
            so.add_session_config_entry("session.intra_op.allow_spinning", "1" if self.spin else "0")
            so.log_severity_level = 3
            providers = ["CUDAExecutionProvider", "CPUExecutionProvider"] if self.device == "cuda" \
                else ["CPUExecutionProvider"]
            disabled = [] if self.blocked or self.device == "cuda" else ["NchwcTransformer"]

            def create(refresh: bool = False):
                data = cached_bytes(self.model, kind, refresh=refresh)
                if shapes is not None:
                    data = static_shape(data, *shapes)
                return ort.InferenceSession(data, so, providers=providers, disabled_optimizers=disabled)

            try:
                sess = create()
            except Exception as e:  # noqa: BLE001 - a damaged cache file: export again, once
                log.warning("cached ONNX graph unusable (%s); exporting again", str(e).splitlines()[0][:120])
                sess = create(refresh=True)
            if len(self._sessions) >= 6:  # sizes seen once (tests, a resized source) are not kept forever
                self._sessions.pop(next(iter(self._sessions)))
            entry = self._sessions[key] = (sess, [i.name for i in sess.get_inputs()])
        return entry

    def _run(self, kind: str, *inputs: np.ndarray) -> np.ndarray:
        if kind in TILE_KINDS:  # a free batch: one session for any number of tiles
            shapes = tuple((None, *x.shape[1:]) for x in inputs)
        else:
            shapes = (inputs[0].shape,) if kind in PHASE_KINDS else None
        sess, names = self._session(kind, shapes)
        return sess.run(None, dict(zip(names, inputs)))[0]


class TorchEngine(Engine):
    """Eager torch with the same fused frame modules as the ONNX graphs (CPU or CUDA).

    On CPU it is several times slower than ONNX Runtime for these tiny networks; it is
    there for CUDA and as a reference.
    """

    name = "torch"

    def __init__(self, model: nn.Module, device: str = "cpu", threads: int | None = None) -> None:
        super().__init__(model, device, threads)
        if threads:
            torch.set_num_threads(threads)  # process-wide: torch has one intra-op pool
        # a copy on the device: the caller's module stays where it was (it may be scored on the CPU)
        self.model = (copy.deepcopy(model) if device != "cpu" else model).eval().to(device)
        self._modules: dict[str, nn.Module] = {}

    def _module(self, kind: str) -> nn.Module:
        mod = self._modules.get(kind)
        if mod is None:
            mod = graph_module(self.model, kind).eval().to(self.device)
            if self.device == "cpu":  # oneDNN's convolutions are ~1.5x faster channels-last
                mod = mod.to(memory_format=torch.channels_last)
            self._modules[kind] = mod
        return mod

    @torch.inference_mode()
    def _run(self, kind: str, *inputs: np.ndarray) -> np.ndarray:
        ts = [torch.from_numpy(x).to(self.device, non_blocking=True) for x in inputs]
        return self._module(kind)(*ts).contiguous().cpu().numpy()


class UnsharpEngine:
    """The classical baseline behind the engine interface: the unsharp mask
    (:func:`vcam_sharpen.core.baselines.unsharp_mask`) on the bilinear upscale, in OpenCV."""

    name = "opencv"
    device = "cpu"
    threads = None
    model_name = "unsharp"
    input_scale = 1

    def __init__(self, model: UnsharpMask) -> None:
        self.model = model
        self._up = BilinearUpscaler()  # buffers reused from frame to frame

    def describe(self) -> str:
        return f"unsharp mask (sigma {self.model.sigma}, amount {self.model.amount}) on opencv"

    def restore_full(self, frame: np.ndarray) -> np.ndarray:
        out = unsharp_mask(frame.astype(np.float32) * (1.0 / 255.0), self.model.sigma, self.model.amount)
        return (out * 255.0 + 0.5).astype(np.uint8)  # per channel, so BGR needs no reordering

    def restore_half(self, small: np.ndarray) -> np.ndarray:
        return self.restore_full(self._up.hwc(small))


def create_engine(model: nn.Module | None, engine: str = "auto", device: str = "auto",
                  threads: int | None = None):
    """An inference engine for a loaded model (:func:`vcam_sharpen.core.loader.load`), or None for none.

    Args:
        model: the module to run; None (no network) gives None; the unsharp baseline runs in OpenCV.
        engine: ``auto`` (ONNX Runtime on CPU; CUDA when present), ``onnxruntime`` or ``torch``.
        device: ``auto``, ``cpu`` or ``cuda``; ``cuda`` without CUDA is a :class:`UserError`.
        threads: intra-op threads (ONNX Runtime default 2; torch default: its own).
    """
    if model is None:
        return None
    if isinstance(model, UnsharpMask):
        return UnsharpEngine(model)
    engine, device = pick_engine(engine, device)
    if threads is not None and threads < 1:
        raise UserError(f"--threads must be >= 1, got {threads}")
    module = model.eval()
    for p in module.parameters():
        p.requires_grad_(False)
    if engine == "onnxruntime":
        return OrtEngine(module, device, threads)
    return TorchEngine(module, device, threads)
