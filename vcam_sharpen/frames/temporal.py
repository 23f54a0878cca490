"""Temporal noise reduction: a motion- and noise-adaptive recursive filter (camera-ISP style 3DNR).

Sensor noise is new in every frame; the picture is not. Where a pixel has not changed beyond what
the noise explains, the filter keeps a running average of it over frames; where it has changed
(motion, a cut), it takes the new frame. Per pixel, with the previous *estimate* as reference:

    d  = x - E                                   (frame minus the previous estimate, per channel)
    zy = box5(|dY|) / sy,  zc = box5(|dB - dY| + |dR - dY|) / sc    (luma and chroma apart)
    k  = K(max(zy, zc))                          (weight of the new frame, k0 .. 1)
    E  = E + k d,    out = round(E)

``dY = (dB + 2 dG + dR) / 4`` is the luma change and ``sy``, ``sc`` the expected mean absolute
luma / chroma change of noise alone, from the online noise estimate. ``K`` is 1 for large
normalised changes, so a moving edge is taken as it is (never smeared), and ``k0`` where the
change is noise (its thresholds widen up to 1.5x where the errors are spatially correlated, as a codec's are:
see ``_WIDEN_FROM``): ``kmin``, or more for a frame with less noise than the estimate (a scalar Kalman gain
from the still blocks). ``sy`` is never below this frame's own change against the estimate on its
still blocks. This follows the motion-adaptive recursive filters of camera ISPs' 3DNR and
FFmpeg's ``hqdn3d`` (a temporal weight looked up from the pixel difference) and ``atadenoise``
(thresholds relative to the signal), made causal and noise-adaptive; FastDVDnet (Tassano et al.
2020) observed that motion handling, not motion compensation, is what keeps such filters
artefact-free. See docs/temporal.md.

The noise estimate is the larger of two (frames/noise.py), luma and chroma apart, each smoothed over
time: :func:`estimate_noise`, Immerkaer's (1996) Laplacian-difference estimator restricted to
low-gradient pixels (Tai & Yang 2008), every ``every`` frames; and :func:`grid_noise`, every frame (one in
``every`` while auto hands frames through), the variance of the change between consecutive frames on still
blocks, which sees the noise a codec hid from the first (frames where the picture moved as a whole give no
sample).

Frames are BGR uint8: planar ``(3, h, w)`` (the half-size frame the Sharpener makes for
``degrade=2``) or interleaved ``(H, W, 3)`` (``degrade=1``, ``upscale``). State is float32 planes.
"""

from __future__ import annotations

import math
import time
from collections import deque

import cv2
import numpy as np

from .noise import estimate_noise, global_shift, grid_noise, luma_grid, shift_window
from .tnr_step import STEPS as _LUT_STEPS
from .tnr_step import buffer, fused_available, step_fused, step_opencv, warm_fused, weight_lut

MODES = ("off", "on", "auto")
__all__ = ["MODES", "TemporalDenoiser", "check_mode", "estimate_noise", "weight_lut"]
AUTO_ON, AUTO_OFF = 1.4, 1.0   # auto: on above this luma sigma (grey levels), off again below the second
_CUT = 8.0                # a frame whose ~8x8 block means change by this much (grey levels, mean) is a cut
_CUT_SHARE = 0.5         # ... and at least this share of those block means changed by as much
_MIN_SHIFT = 0.35         # a global shift of a third of a grid pixel (1.4 px) or more: a pan, no block is still
# Idle (auto handing frames through, one frame-to-frame sample in `every` frames), each update is the median of
# the last five samples: real motion the still-block choice lets through (a turning head, a slow tilt, frames a
# busy reader skipped) makes a lone high sample that one update, weighing as every/2 frames', would carry past
# the auto threshold; a camera's noise makes every sample high.
_MEDIAN_OF = 5
_T_ALPHA = 1.0 / 16.0     # weight of one frame-difference sample in the smoothed temporal estimate (~16 frames)
# Codec errors (blocks, ringing) are spatially correlated and hidden from the spatial estimator, so the
# frame-to-frame estimate exceeds it: 1.02-1.07x for white sensor noise, 1.6-5x under the `camera` preset on the
# clips. The motion test's 5x5 box averages correlated errors less than white noise, so on a still pixel they read
# as a larger normalised change: its thresholds widen by the excess of that ratio over _WIDEN_FROM (slope 1), at
# most _WIDEN_MAX times, in steps of 1/8 (so the OpenCV path's tables can be kept). docs/temporal.md has the sweep.
_WIDEN_FROM, _WIDEN_MAX = 1.1, 1.5


def check_mode(value) -> str:
    """The ``temporal`` setting checked: one of off, on, auto; raises ValueError with one line."""
    if not isinstance(value, str) or value not in MODES:
        raise ValueError(f"temporal must be one of {', '.join(MODES)}")
    return value


class TemporalDenoiser:
    """Causal temporal denoiser for a stream of BGR uint8 frames (see the module docstring).

    Args:
        mode: ``"on"``, ``"off"`` or ``"auto"`` (on only while the luma noise estimate is above
            1.4 grey levels, off again below 1.0: hysteresis).
        strength: 0..1; 0 is the identity, 1 averages static pixels over ~9 frames (kmin 0.2).
        every: frames between two spatial noise estimates (8: ~4 a second at 30 fps; the frame-to-frame
            estimate runs on every frame).
        fused: the per-pixel update compiled by Numba (True) or in OpenCV calls (False); None: Numba where it
            is installed. The two agree within a grey level (frames/tnr_step.py).

    Attributes:
        mode: changeable at any time (the ``temporal`` live setting).
        noise: smoothed ``(luma, chroma)`` sigma in grey levels, the larger of the spatial and the
            frame-to-frame estimate; None before the first estimate.
        active: whether the last frame was filtered.
        ms: milliseconds the last call took.

    :meth:`planar` and :meth:`hwc` return a reused buffer (or the input itself when inactive).
    State is dropped on :meth:`reset`, on a size change and on a cut (the means of ~8x8 blocks move by
    8 grey levels on average, and half of them by that much); the caller resets on a source switch and on
    resume after a pause.
    """

    def __init__(self, mode: str = "auto", strength: float = 1.0, every: int = 8, fused: bool | None = None) -> None:
        self.mode = check_mode(mode)
        self.fused = fused  # the update compiled by Numba (frames/tnr_step.py); None: where Numba is installed
        self._scratch: dict = {}  # buffers kept from frame to frame (this class's and the update's)
        if not 0.0 <= strength <= 1.0:
            raise ValueError(f"strength {strength:g} is out of range: use 0 to 1")
        self.strength = float(strength)
        self.every = max(1, int(every))
        # The method's constants (docs/temporal.md): weight of the new frame where only noise changed it, the
        # normalised change where the weight starts to rise and where it reaches 1 (the motion test's box is
        # 5x5: frames/tnr_step.py).
        self.kmin, self.z0, self.z1 = 1.0 - 0.8 * self.strength, 1.0, 2.2
        self.cut, self.chroma_floor = _CUT, 0.5  # the cut threshold; chroma noise never below half the luma's
        self.ms = 0.0
        self.reset()

    def reset(self) -> None:
        """Forget everything: the running estimate, the noise estimates and the auto decision."""
        self.noise: tuple[float, float] | None = None
        self._spatial: tuple[float, float] | None = None    # estimate_noise, smoothed
        self._temporal: tuple[float, float] | None = None   # grid_noise sigma, smoothed
        self._prev_sub: np.ndarray | None = None
        self._ys: list[np.ndarray] = []  # luma grids of the last three frames, newest first (since a cut)
        self._window: np.ndarray | None = None
        self._window_for: tuple | None = None
        self._stats: dict | None = None  # grid_noise of the last frame (None: unknown, a cut or a pan)
        self._samples: deque[tuple[float, float]] = deque(maxlen=_MEDIAN_OF)  # the last grid_noise sigmas
        self.active = False
        self._moved = False  # whether the "idx" buffer holds the last frame's motion test
        self._auto_on = False
        self._count = 0
        self._shape: tuple | None = None
        self._prev_y: np.ndarray | None = None
        self._drop()

    def _drop(self, frames: bool = False) -> None:
        """Forget the running estimate (the next frame passes through and starts a new one); with ``frames``
        also the last frames' grids (while the stage is off they would grow old: no change is measured across)."""
        self._state: np.ndarray | None = None
        self._e: np.ndarray | None = None  # luma_grid of the state's 4x grid, written with it
        if frames:
            self._prev_y = self._prev_sub = None
            self._ys = []

    def _observe(self, planes: np.ndarray) -> bool:
        """Update the noise estimates from a frame; True when it is a cut (its coarse picture changed)."""
        if self._count % self.every == 0 or self._spatial is None:
            est = estimate_noise(planes)
            if self._spatial is None:
                self._spatial = est
            else:  # smoothed over time: a single odd frame (a cut, a flash) moves it little
                self._spatial = tuple(math.sqrt(0.7 * a * a + 0.3 * b * b) for a, b in zip(self._spatial, est))
        phase, self._count = self._count % self.every, self._count + 1
        # Handing frames through (auto, noise low): the grids only on two consecutive frames in every `every`,
        # for one frame-to-frame sample (a codec can hide noise from the spatial estimate); nothing else needs them.
        idle = self.mode == "auto" and not self.active
        if idle and phase > 1:
            self._drop(frames=True)
            self._stats = None
            return False
        # A cut: the coarse picture (means of ~8x8 blocks, from a 4x-subsampled luma grid) changed.
        sub = planes[:, ::4, ::4].astype(np.float32)
        y = luma_grid(sub)
        prev, self._prev_y = self._prev_y, y
        prev_sub, self._prev_sub = self._prev_sub, sub
        cut, self._stats = False, None
        if prev is not None and prev.shape == y.shape:
            coarse = cv2.resize(y - prev, (max(1, y.shape[1] // 2), max(1, y.shape[0] // 2)),
                                interpolation=cv2.INTER_AREA)
            np.abs(coarse, out=coarse)
            # A cut changes most of the picture; a turning head, however much it changes, only a part of it.
            cut = float(np.mean(coarse)) > self.cut and float(np.mean(coarse > self.cut)) >= _CUT_SHARE
            if not cut and min(y.shape) >= 8:
                if self._window_for != y.shape:
                    self._window, self._window_for = shift_window(y.shape), y.shape
                if global_shift(y, prev, self._window) < _MIN_SHIFT:  # else a pan: no sample
                    e = None if self._state is None else self._e  # the estimate's grid, taken as it was written
                    self._stats = grid_noise((sub, prev_sub), [y, *self._ys[:2]], e)
                est = None if self._stats is None else self._stats["sigma"]
                if est is not None:
                    self._samples.append(est)
                    if idle:  # see _MEDIAN_OF (of two, the lower)
                        est = tuple(sorted(c)[(len(c) - 1) // 2] for c in zip(*self._samples))
                    # smoothed over ~16 frames (variances averaged); idle, one sample in `every` frames weighs as
                    # every/2 frames' (~2x slower: single samples are noisy, and a wrong step up would turn the
                    # stage or the noisy model on for a clean camera)
                    a = 1.0 - (1.0 - _T_ALPHA) ** (max(1, self.every // 2) if idle else 1)
                    t = self._temporal or est
                    self._temporal = tuple(math.sqrt((1 - a) * p * p + a * q * q) for p, q in zip(t, est))
        # The noise the stage works with: the larger of the two. The spatial one alone misses what a codec
        # hid from it; the temporal one alone misses nothing it needs, but is unknown until two still frames.
        s, t = self._spatial, self._temporal
        self.noise = s if t is None else (max(s[0], t[0]), max(s[1], t[1]))
        self._ys = [y] if cut else [y, *self._ys[:2]]
        return cut

    def warm(self) -> None:
        """Pick the update (:attr:`fused`: Numba where installed) and compile it now rather than on the first
        filtered frame (the daemon's warm-up: auto may turn the stage on at any frame, and a first compile takes
        ~2 s)."""
        if self.fused is None:
            self.fused = fused_available()
        if self.fused:
            warm_fused()

    def state(self) -> dict:
        """What ``status`` shows: the mode, whether the last frame was filtered, the noise estimate (grey levels)."""
        noise = None if self.noise is None else [round(self.noise[0], 2), round(self.noise[1], 2)]
        return {"temporal": self.mode, "temporal_active": bool(self.active), "noise": noise}

    def wanted(self) -> bool:
        """Whether the stage filters now (its mode, strength and, for auto, the noise estimate)."""
        if self.mode == "off" or self.strength <= 0.0:
            return False
        if self.mode == "on":
            return True
        luma = self.noise[0] if self.noise is not None else 0.0
        self._auto_on = luma > (AUTO_OFF if self._auto_on else AUTO_ON)
        return self._auto_on

    def planar(self, planes: np.ndarray) -> np.ndarray:
        """``(3, h, w)`` BGR uint8 -> ``(3, h, w)`` BGR uint8 denoised (a reused buffer, or ``planes``)."""
        t0 = time.perf_counter()
        if planes.dtype != np.uint8 or planes.ndim != 3 or planes.shape[0] != 3:
            raise ValueError(f"expected (3, h, w) uint8 planes, got {planes.dtype} {planes.shape}")
        if self.mode == "off" or self.strength <= 0.0:
            self._drop(frames=True)
            self.active, self.ms = False, 0.0  # not run: nothing to count
            return planes
        if self._shape != planes.shape:
            self.reset()  # size change: nothing carries over
            self._shape = planes.shape
        if self._observe(planes):
            self._drop()  # a cut: start again from this frame
        self.active = self.wanted()
        self._moved = False
        if not self.active:
            self._drop()
            out = planes
        else:
            out = self._step(planes)
        self.ms = (time.perf_counter() - t0) * 1e3
        return out

    def moved(self) -> np.ndarray | None:
        """Where the last frame changed beyond its noise: ``(h, w)`` bool, True where the 5x5-averaged change
        is past the middle of the weight's rise (the stage took mostly the new frame there). None when the last
        frame was not filtered against an estimate (off, idle, a first frame, a cut). Static-region reuse adds
        these pixels to its own change test: the stage sees changes smaller than the noise that a tile's
        mean difference cannot."""
        if not self._moved:
            return None
        # the middle of the weight's rise, widened as the last frame's was (the estimates change only in planar)
        z = (self.z0 + self.z1) / 2.0 * self.widening()
        return self._scratch["idx"] > int(z * _LUT_STEPS)

    def hwc(self, frame: np.ndarray) -> np.ndarray:
        """``(H, W, 3)`` BGR uint8 -> ``(H, W, 3)`` BGR uint8 denoised (a reused buffer, or ``frame``)."""
        if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
            raise ValueError(f"expected an (H, W, 3) uint8 frame, got {frame.dtype} {frame.shape}")
        if self.mode == "off" or self.strength <= 0.0:
            self._drop(frames=True)
            self.active, self.ms = False, 0.0
            return frame
        t0 = time.perf_counter()
        planes = buffer(self._scratch, "in_planes", (3, *frame.shape[:2]), np.uint8)
        cv2.split(frame, list(planes))  # into the planes (a strided numpy copy is ~7x slower)
        out = self.planar(planes)
        if out is planes:
            self.ms = (time.perf_counter() - t0) * 1e3
            return frame
        hwc = buffer(self._scratch, "out_hwc", frame.shape, np.uint8)
        cv2.merge(list(out), hwc)
        self.ms = (time.perf_counter() - t0) * 1e3
        return hwc

    def widening(self) -> float:
        """The factor of the motion test's thresholds for the noise now (1 for white noise; see _WIDEN_FROM): the
        frame-to-frame luma estimate over the spatial one, less _WIDEN_FROM, plus 1, within 1.._WIDEN_MAX."""
        s, t = self._spatial, self._temporal
        if s is None or t is None:
            return 1.0
        g = min(max(1.0 + t[0] / max(s[0], 1e-3) - _WIDEN_FROM, 1.0), _WIDEN_MAX)
        return round(g * 8.0) / 8.0

    def _step(self, planes: np.ndarray) -> np.ndarray:
        """One recursive update into the float32 state; returns the rounded estimate."""
        _, h, w = planes.shape
        out = buffer(self._scratch, "out", planes.shape, np.uint8)
        if self._state is None:
            self._state = planes.astype(np.float32)
            np.copyto(out, planes)
            self._e = luma_grid(np.ascontiguousarray(self._state[:, ::4, ::4]))
            return out
        state = self._state
        luma, chroma = self.noise
        resid = 1.0 + self.kmin / (2.0 - self.kmin)  # the estimate's own noise adds to the difference
        sy = max(0.8 * math.sqrt(6.0) / 4.0 * luma * math.sqrt(resid), 0.25)
        k0, st = self.kmin, self._stats
        if st is not None and "m" in st:  # this frame's change against the estimate on its still blocks is a floor
            sy = max(sy, st["m"])
        if st is not None and "v" in st:
            # A scalar Kalman gain for the still pixels: this frame's noise variance against the estimate's
            # error variance; a frame with less noise than the estimate (a clean frame between codec-ridden
            # ones) gets more weight. Never below kmin (robustness to slow changes; the strength setting).
            k0 = min(max(st["v_e"] / max(st["v"] + st["v_e"], 1e-6), self.kmin), 1.0)
        k0 = round(k0 * 64) / 64  # in steps of 1/64, so that the OpenCV path's tables can be kept
        # Codecs (4:2:0, JPEG) take most chroma noise but leave chroma errors that change from frame to
        # frame: the chroma test's noise floor is never below half the luma noise.
        sc = max(1.5 * max(chroma, self.chroma_floor * luma) * math.sqrt(resid), 0.25)
        g = self.widening()
        z0, z1 = self.z0 * g, self.z1 * g
        if self.fused is None:
            self.warm()
        idx = buffer(self._scratch, "idx", (h, w), np.uint8)
        (step_fused if self.fused else step_opencv)(planes, state, out, idx, (k0, z0, z1), sy, sc, self._scratch)
        self._moved = True
        # The next frame's statistics want the estimate's luma on the 4x grid: taken now, while it is in cache.
        self._e = luma_grid(np.ascontiguousarray(state[:, ::4, ::4]))
        return out
