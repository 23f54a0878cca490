"""Per-frame work around the network: BGR uint8 in, BGR uint8 out, buffers reused.

Pure array code (numpy, plus OpenCV's resize for fitting; no capture, no devices), so it
runs the same under the daemon, ``bench`` and the tests. Frames stay uint8 until the
engine. The modes of :class:`Sharpener`, fixed when it is built:

* ``degrade=2`` (default): simulate the bad link. The frame is box-downscaled by 2
  (exactly :func:`vcam_sharpen.core.degrade.downscale` for factor 2, kept in uint8) and
  restored to full size by the engine; without an engine (``--model none``) the output
  is the bilinear upscale of the small frame, i.e. :func:`vcam_sharpen.core.degrade.degrade`
  rounded to uint8 (each of the two steps rounds once: within one grey level).
* ``degrade=1``: no simulation; the model sharpens the frame as it is.
* ``upscale=True``: the input frame *is* the small (half-size) capture; the output is
  twice its size.

Odd sizes with ``degrade=2``: the last row/column is cropped before the downscale and
replicated into the output, so the output always has the input's size. With ``size``
set, the result is finally fitted to that output size (aspect kept, black bars): the one
place a frame is fitted.
"""

from __future__ import annotations

import time
from typing import Protocol

import cv2
import numpy as np

from ..core.degrade import check_mode
from .layout import packed
from .live import LIVE
from .temporal import TemporalDenoiser
from .reuse import ReuseSlot


class FrameEngine(Protocol):
    """What :class:`Sharpener` needs from an engine (see :mod:`vcam_sharpen.runtime.engines`)."""

    input_scale: int

    def restore_half(self, small: np.ndarray) -> np.ndarray:
        """``(h, w, 3)`` BGR uint8 half-size frame -> ``(2h, 2w, 3)`` BGR uint8 restored frame."""

    def restore_planar(self, planes: np.ndarray) -> np.ndarray:
        """As :meth:`restore_half` for a planar ``(3, h, w)`` frame (optional: used when present)."""

    def restore_full(self, frame: np.ndarray) -> np.ndarray:
        """``(H, W, 3)`` BGR uint8 frame -> same-size BGR uint8 sharpened frame."""


def to_bgr(frame: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Any camera frame as ``(H, W, 3)`` BGR uint8.

    Accepts ``(H, W)`` / ``(H, W, 1)`` grey, ``(H, W, 3)`` BGR and ``(H, W, 4)`` BGRA
    uint8 frames. A contiguous BGR frame is returned as is; otherwise the result is
    written into ``out`` when it has the right shape (no allocation), else a new array.
    """
    frame = np.asarray(frame)
    if frame.dtype != np.uint8:
        raise TypeError(f"frames must be uint8, got {frame.dtype}")
    if frame.ndim == 3 and frame.shape[2] == 3:
        if frame.flags.c_contiguous:
            return frame
        src = frame
    elif frame.ndim == 2 or (frame.ndim == 3 and frame.shape[2] == 1):
        src = frame.reshape(frame.shape[0], frame.shape[1], 1)
    elif frame.ndim == 3 and frame.shape[2] == 4:
        src = frame[:, :, :3]
    else:
        raise ValueError(f"expected an (H, W), (H, W, 1), (H, W, 3) or (H, W, 4) frame, got shape {frame.shape}")
    h, w = frame.shape[:2]
    if out is None or out.shape != (h, w, 3):
        out = np.empty((h, w, 3), np.uint8)
    for c in range(3):  # per channel: numpy's inner loop then runs along rows, not over 3 values
        out[:, :, c] = src[:, :, min(c, src.shape[2] - 1)]
    return out


class BoxDownscaler:
    """Exact 2x2 box average of ``(H, W, 3)`` uint8 frames into reused buffers.

    ``(a + b + c + d + 2) >> 2`` per channel: :func:`vcam_sharpen.core.degrade.downscale`
    (factor 2) rounded half up, within half a grey level of the float result. Odd
    sizes drop the last row/column. OpenCV's area resize computes exactly this for a
    2x reduction (its integer-scale path; the tests check it against the formula) in
    one pass; :meth:`planar` then splits it into ``(3, h, w)`` planes, the cheapest
    layout for numpy (and what the engines' ``planar2x`` graphs take): 0.2 ms at 720p
    against 0.56 for the NumPy sums it replaced. :meth:`hwc` returns the usual
    ``(h, w, 3)``.
    """

    def __init__(self) -> None:
        self._hwc: np.ndarray | None = None
        self._planes: np.ndarray | None = None

    def hwc(self, frame: np.ndarray) -> np.ndarray:
        """``(H, W, 3)`` uint8 -> ``(H // 2, W // 2, 3)`` uint8 (a reused buffer)."""
        return self._small(frame)

    def _small(self, frame: np.ndarray) -> np.ndarray:
        # one body for both layouts: subclasses (eval's corruption) override planar and hwc
        if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
            raise ValueError(f"expected an (H, W, 3) uint8 frame, got {frame.dtype} {frame.shape}")
        h, w = frame.shape[0] // 2, frame.shape[1] // 2
        if h < 1 or w < 1:
            raise ValueError(f"a {frame.shape[1]}x{frame.shape[0]} frame is too small to downscale by 2")
        if self._hwc is None or self._hwc.shape != (h, w, 3):
            self._hwc = np.empty((h, w, 3), np.uint8)
            self._planes = np.empty((3, h, w), np.uint8)
        # OpenCV writes into a dst of the right size and type (the buffers here): nothing to copy after it
        return cv2.resize(packed(frame[: 2 * h, : 2 * w]), (w, h), dst=self._hwc, interpolation=cv2.INTER_AREA)

    def planar(self, frame: np.ndarray) -> np.ndarray:
        """``(H, W, 3)`` uint8 -> ``(3, H // 2, W // 2)`` uint8 (a reused buffer)."""
        cv2.split(self._small(frame), list(self._planes))  # into the planes, as the temporal stage splits
        return self._planes


class BilinearUpscaler:
    """Exact 2x bilinear upscale (align_corners=False) of uint8 frames, into reused buffers.

    Per axis ``(x[i-1] + 3 x[i]) / 4`` and ``(3 x[i] + x[i+1]) / 4`` with edge replication
    (what ``F.interpolate(..., align_corners=False)`` does for 2x), rounded half up once at
    the end: equal to the rounded float result. OpenCV's ``INTER_LINEAR_EXACT`` computes
    exactly that for a 2x enlargement (the weights 1/4 and 3/4 are exact in its fixed point
    and it rounds once; the tests check it against the formula), several times faster than
    the NumPy passes it replaced. This is the picture without restoration (``--model none``,
    toggled off, the left half of split, the autoscaler's last resort).
    """

    def __init__(self) -> None:
        self._shape: tuple[int, int] | None = None

    def _alloc(self, h: int, w: int) -> None:
        self._shape = (h, w)
        self._small = np.empty((h, w, 3), np.uint8)  # planar input interleaved for OpenCV
        self._outs = [np.empty((2 * h, 2 * w, 3), np.uint8) for _ in range(2)]  # used in turn

    def planar(self, planes: np.ndarray) -> np.ndarray:
        """``(3, h, w)`` uint8 -> ``(2h, 2w, 3)`` uint8 (one of two buffers used in turn)."""
        _, h, w = planes.shape
        if self._shape != (h, w):
            self._alloc(h, w)
        return self._upscale(cv2.merge(list(planes), dst=self._small))

    def hwc(self, small: np.ndarray) -> np.ndarray:
        """``(h, w, 3)`` uint8 -> ``(2h, 2w, 3)`` uint8 (one of two buffers used in turn)."""
        h, w = small.shape[:2]
        if self._shape != (h, w):
            self._alloc(h, w)
        return self._upscale(packed(small))

    def _upscale(self, small: np.ndarray) -> np.ndarray:
        self._outs.reverse()
        out = self._outs[0]
        h, w = self._shape
        return cv2.resize(small, (2 * w, 2 * h), dst=out, interpolation=cv2.INTER_LINEAR_EXACT)


def bilinear_upscale(small: np.ndarray) -> np.ndarray:
    """2x bilinear upscale of an ``(h, w, 3)`` uint8 frame: a new ``(2h, 2w, 3)`` uint8 array."""
    return BilinearUpscaler().hwc(small).copy()


def _pad_into(out: np.ndarray, core: np.ndarray) -> np.ndarray:
    """Copy ``core`` into the top-left of ``out`` and replicate its last row/column into the rest."""
    ch, cw = core.shape[:2]
    if not np.shares_memory(core, out):
        out[:ch, :cw] = core
    if out.shape[0] > ch:
        out[ch:, :cw] = out[ch - 1: ch, :cw]
    if out.shape[1] > cw:
        out[:, cw:] = out[:, cw - 1: cw]
    return out


def fit(frame: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``(H, W, 3)`` BGR uint8 ``frame`` scaled into ``size=(w, h)``: aspect kept, black bars.

    A frame already of that size is returned as is (no copy).
    """
    w, h = size
    fh, fw = frame.shape[:2]
    if (fw, fh) == (w, h):
        return frame
    s = min(w / fw, h / fh)
    nw, nh = max(1, min(w, round(fw * s))), max(1, min(h, round(fh * s)))
    scaled = cv2.resize(frame, (nw, nh), interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
    if (nw, nh) == (w, h):
        return scaled
    out = np.zeros((h, w, 3), np.uint8)
    x0, y0 = (w - nw) // 2, (h - nh) // 2
    out[y0:y0 + nh, x0:x0 + nw] = scaled
    return out


class Sharpener:
    """BGR uint8 ``(H, W, 3)`` frame in -> BGR uint8 frame out (see the module docstring).

    Args:
        engine: an inference engine (:func:`vcam_sharpen.runtime.engines.create_engine`), or
            None for no model (the plain bilinear upscale / the frame itself).
        degrade: 2 simulates the bad link (box downscale by 2, then restore); 1 sharpens
            the frame as it is. Ignored when ``upscale`` is true.
        upscale: the input is the small capture; output twice its size.
        split: left half shows the degraded (or plain) frame, right half the restoration.
        size: output ``(width, height)`` every result is fitted to; None keeps the natural size.
        temporal: the temporal stage's mode, off|on|auto (:class:`~vcam_sharpen.frames.temporal.TemporalDenoiser`
            on the half-size frame, or on the frame itself for ``degrade=1``, before the model).

    Attributes:
        enabled: set False at run time to publish the degraded / plain frame and skip the model.
        strength: 0..1, changeable at run time: output = plain + strength x (restored - plain),
            where plain is the unsharpened picture (the bilinear upscale, or the frame itself for
            ``degrade=1``). 1 (default) is the model's output untouched (no extra work); 0 is exactly
            the plain picture.
        skip_static: changeable at run time: restore only the tiles whose input changed and reuse the
            last output elsewhere (:mod:`vcam_sharpen.frames.reuse`; engines whose model cannot run by
            tiles, and frames too small for one tile, run whole frames as with it off).
        timings: the last frame's milliseconds, ``{"prep": ..., "temporal": ..., "inference": ...}``;
            ``prep`` is everything but the network and the temporal stage (downscale, interleave, split, fit).
    """

    def __init__(self, engine: FrameEngine | None, degrade: int = 2, upscale: bool = False,
                 split: bool = False, size: tuple[int, int] | None = None, temporal: str = "off") -> None:
        check_mode(engine, degrade, upscale)
        self.engine = engine
        self.degrade = 1 if upscale else degrade
        self.upscale = upscale
        self.split = split
        self.size = (int(size[0]), int(size[1])) if size is not None else None
        self.enabled = True
        self.strength = 1.0
        self.temporal = TemporalDenoiser(temporal)  # its mode is the live setting ``temporal``
        self.skip_static = True
        self._reuse = ReuseSlot()               # static-region reuse of the engine in use
        self._turn = 0                          # which of each pair of output buffers this frame writes
        if hasattr(engine, "watch"):  # a noise-aware engine chooses its model from the stage's noise estimate
            engine.watch(self.temporal)
        self.timings: dict[str, float] = {"prep": 0.0, "temporal": 0.0, "inference": 0.0}
        # Decided once: which restoration runs, and in which layout the half-size frame is made
        # (planar planes are the cheapest for numpy and what the engines' planar graphs take).
        self._restore = self._same_size if self.degrade == 1 and not upscale else self._half_size
        self._planar = not upscale and (engine is None or hasattr(engine, "restore_planar"))
        self._bgr: np.ndarray | None = None     # grey/BGRA conversion buffer
        self._box = BoxDownscaler()             # half-size frame buffers
        self._up = BilinearUpscaler()           # plain upscale buffers
        self._out: np.ndarray | None = None     # output buffer (odd sizes, split)
        self._mix: np.ndarray | None = None     # strength blend buffer

    def reset(self) -> None:
        """Forget what earlier frames left (a resume after a pause, a source switch): the temporal stage's state
        and the engine's, where it has one (the noise-aware choice picks again from the next frame)."""
        self.temporal.reset()
        if hasattr(self.engine, "reset"):
            self.engine.reset()

    def apply_live(self, changes: dict) -> None:
        """Set live settings (values checked by :func:`check_live`); the next frame uses them."""
        for name, value in changes.items():
            setattr(*((self.temporal, "mode") if name == "temporal" else (self, LIVE[name])), value)

    def output_size(self, width: int, height: int) -> tuple[int, int]:
        """``(width, height)`` of the frames :meth:`process` returns for ``width x height`` input."""
        if self.size is not None:
            return self.size
        return (2 * width, 2 * height) if self.upscale else (width, height)

    def _buffer(self, name: str, shape: tuple[int, ...]) -> np.ndarray:
        """Two buffers per name, used in turn (see :meth:`process` on how long a result stays valid)."""
        bufs = getattr(self, name)
        if bufs is None or bufs[0].shape != shape:
            bufs = [np.empty(shape, np.uint8) for _ in range(2)]
            setattr(self, name, bufs)
        return bufs[self._turn]

    @property
    def tile_counts(self) -> tuple[int, int]:
        """``(tiles restored, tiles seen)`` by static-region reuse so far ((0, 0) while it never ran)."""
        r = self._reuse.reuse
        return (r.tiles_done, r.tiles_seen) if r is not None else (0, 0)

    def process(self, frame: np.ndarray) -> np.ndarray:
        """Process one frame.

        Who owns the result: the sharpener (or its engine). Every buffer it may return is one of
        two used in turn, so the result stays valid, unchanged, until the second following call
        returns (the pipeline publishes it meanwhile, without a copy); for ``degrade=1`` without a
        model it is the input frame itself. Copy it to keep it longer.
        """
        t0 = time.perf_counter()
        self._turn ^= 1
        if frame.ndim != 3 or frame.shape[2] != 3 or not frame.flags.c_contiguous:
            frame = to_bgr(frame, self._buffer("_bgr", (frame.shape[0], frame.shape[1], 3)))
        out, inference = self._restore(frame, self.engine if self.enabled else None)
        if self.size is not None:
            out = fit(out, self.size)
        ms = self.temporal.ms
        self.timings = {"prep": (time.perf_counter() - t0 - inference) * 1e3 - ms, "temporal": ms,
                        "inference": inference * 1e3}
        return out

    def _same_size(self, frame: np.ndarray, engine) -> tuple[np.ndarray, float]:
        """``degrade=1``: the frame as it is (after the temporal stage), or its sharpened version."""
        frame = self.temporal.hwc(frame)
        if engine is None:
            return frame, 0.0
        t = time.perf_counter()
        reuse = self._reuse.get(engine, (12, frame.shape[0] // 2, frame.shape[1] // 2)) \
            if self.skip_static and not (frame.shape[0] % 2 or frame.shape[1] % 2) else None
        restored = reuse.restore_frame(frame) if reuse is not None else engine.restore_full(frame)
        inference = time.perf_counter() - t
        restored = self._blend(frame, restored)
        if not self.split:
            return restored, inference
        h, w = frame.shape[:2]
        out = self._buffer("_out", (h, w, 3))
        half = w // 2
        out[:, :half] = frame[:, :half]
        out[:, half:] = restored[:, half:]
        return out, inference

    def _blend(self, plain: np.ndarray | None, restored: np.ndarray) -> np.ndarray:
        """``plain + strength x (restored - plain)`` in uint8 (one SIMD pass), only when strength < 1."""
        s = self.strength
        if s >= 1.0 or plain is None:
            return restored
        out = self._buffer("_mix", restored.shape)
        return cv2.addWeighted(restored, s, plain, 1.0 - s, 0.0, dst=out)

    def _half_size(self, frame: np.ndarray, engine) -> tuple[np.ndarray, float]:
        """``degrade=2`` and ``upscale``: restore the half-size frame to full size."""
        h, w = frame.shape[:2]
        if self.upscale:  # the capture itself is the small frame
            small, full_h, full_w = frame, 2 * h, 2 * w
        else:
            if h < 2 or w < 2:
                raise ValueError(f"a {w}x{h} frame is too small to degrade")
            small = self._box.planar(frame) if self._planar else self._box.hwc(frame)
            full_h, full_w = h, w
        small = self.temporal.planar(small) if self._planar else self.temporal.hwc(small)
        moved = self.temporal.moved() if self.skip_static and engine is not None else None
        if moved is not None:  # the stage's motion map, at the model input's size: reuse restores those tiles too
            self._reuse.hint(changed=moved)
        plain = None
        split = self.split  # read once: the panel may switch it while this frame is made
        if engine is None or split or self.strength < 1.0:
            plain = self._up.planar(small) if self._planar else self._up.hwc(small)
        inference = 0.0
        if engine is not None:
            t = time.perf_counter()
            planes = small if self._planar else small.transpose(2, 0, 1)
            pair = self._planar and hasattr(engine, "restore_reusing")  # noise-aware: reuse by the chosen model
            reuse = self._reuse.get(engine, planes.shape) if self.skip_static and not pair else None
            if pair:
                core = engine.restore_reusing(small, self._reuse if self.skip_static else None)
            elif reuse is not None:
                core = reuse.restore(planes)
            else:
                core = engine.restore_planar(small) if self._planar else engine.restore_half(small)
            inference = time.perf_counter() - t
            core = self._blend(plain, core)
        else:
            core = plain
        ch, cw = core.shape[:2]
        if engine is not None and split:
            out = self._buffer("_out", (full_h, full_w, 3))
            half = cw // 2
            out[:ch, :half] = plain[:, :half]
            out[:ch, half:cw] = core[:, half:]
            return _pad_into(out, out[:ch, :cw]), inference
        if (ch, cw) == (full_h, full_w):
            return core, inference
        return _pad_into(self._buffer("_out", (full_h, full_w, 3)), core), inference  # odd size
