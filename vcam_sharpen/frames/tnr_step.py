"""The temporal stage's per-pixel update (frames/temporal.py), in two interchangeable implementations.

Both take the frame's BGR uint8 planes ``(3, h, w)`` and the float32 running estimate ``state`` (same shape,
updated in place) and write the rounded estimate into ``out`` and the motion test's index into ``idx``
(``(h, w)`` uint8, in steps of 1/32 of a normalised change), with ``sy`` and ``sc`` the mean absolute luma
change ``|dY|`` and chroma change ``|dB - dY| + |dR - dY|`` that noise alone makes (grey levels), and
``weight = (kmin, z0, z1)`` the weight curve (:func:`weight_lut`). The motion test runs in uint16 at
:data:`FINE` sub-steps per index step (``ay = 32 * FINE / sy``, ``ac = 32 * FINE / sc``):

    d = x - E;  mY = box5(sat16(|dY| ay));  mC = box5(sat16((|dB - dY| + |dR - dY|) ac))
    idx = sat8(max(mY, mC) / FINE);  k = K(idx / 32);  E += k d;  out = sat8(E)

* :func:`step_fused` (Numba): two passes over the pixels, nothing but two uint16 maps stored between them,
  the weight computed (a table lookup does not vectorise and cost 40 % of the kernel).
  The stage is memory-bound: OpenCV's ~18 full-frame passes move ~40 MB per 640x360 frame through the
  cache, this moves ~10 MB: ~0.5 ms a 640x360 frame in the stage's loop instead of ~0.85-1.0 (docs/temporal.md,
  "Cost").
* :func:`step_opencv`: the same in OpenCV calls, one pass each, the weight from a 256-entry table; the
  reference the tests hold the fused one to, and the path taken where Numba is not installed.

The box filter's border is OpenCV's default (reflect-101) in both (frames under 5x5 pixels take the OpenCV
path); their roundings differ (half up here, half to even there), so ``idx`` may differ by one or two on a
few percent of the pixels and ``out`` by one grey level.
"""

from __future__ import annotations

import cv2
import numpy as np

STEPS = 32  # index steps per unit of normalised change
FINE = 8    # motion-test sub-steps per index step (uint16: normalised changes up to 256 fit)
_KERNEL = None  # the compiled fused kernel (Numba compiles on first use, cached on disk), or False: no Numba


def weight_lut(kmin: float, z0: float = 1.0, z1: float = 2.2) -> np.ndarray:
    """``(256,)`` float32 LUT: normalised change ``z = index / 32`` -> weight of the new frame.

    ``kmin`` up to ``z0`` (noise only), 1 from ``z1`` on (a real change), a smooth step between.
    """
    z = np.arange(256, dtype=np.float32) / STEPS
    t = np.clip((z - z0) / (z1 - z0), 0.0, 1.0)
    return (kmin + (1.0 - kmin) * t * t * (3.0 - 2.0 * t)).astype(np.float32)


def fused_available() -> bool:
    """Whether :func:`step_fused` can run (Numba imports); the kernel itself compiles on its first call."""
    return _kernel() is not False


def _kernel():
    global _KERNEL
    if _KERNEL is None:
        try:
            import numba
        except ImportError:  # the OpenCV path then
            _KERNEL = False
        else:
            _KERNEL = numba.njit(cache=True, nogil=True)(_step_py)
    return _KERNEL


def warm_fused() -> bool:
    """Compile the fused kernel now (~2 s the first time on a machine, ~0.4 s from Numba's cache) by running it
    on a tiny frame with the real call's types; False where Numba is not installed."""
    if not fused_available():
        return False
    planes, state = np.zeros((3, 5, 5), np.uint8), np.zeros((3, 5, 5), np.float32)
    step_fused(planes, state, np.empty_like(planes), np.empty((5, 5), np.uint8), (0.2, 1.0, 2.2), 1.0, 1.0, {})
    return True


def step_fused(planes: np.ndarray, state: np.ndarray, out: np.ndarray, idx: np.ndarray, weight: tuple,
               sy: float, sc: float, scratch: dict) -> None:
    """The update in one compiled kernel (see the module docstring); ``scratch`` keeps its two uint16 maps."""
    _, h, w = planes.shape
    if h < 5 or w < 5:  # smaller than the box: OpenCV's border rule for those is its own
        return step_opencv(planes, state, out, idx, weight, sy, sc, scratch)
    my, mc = (buffer(scratch, n, (h, w), np.uint16) for n in ("my", "mc"))
    sums = buffer(scratch, "row_sums", (3, w + 4), np.int32)  # pass 2's rows: no allocation per frame
    kr = buffer(scratch, "row_weights", (w,), np.float32)
    # C-contiguous arrays and these scalar types only: another layout or type would compile another kernel
    kmin, z0, z1 = (np.float32(v) for v in weight)
    _kernel()(np.ascontiguousarray(planes), state, out, idx, kmin, z0, z1, np.float32(STEPS * FINE / sy),
              np.float32(STEPS * FINE / sc), my, mc, sums, kr)


def _step_py(planes, state, out, idx, kmin, z0, z1, ay, ac, my, mc, sums, kr):  # compiled by Numba: plain loops
    _, h, w = planes.shape
    p0, p1, p2, s0, s1, s2 = planes[0], planes[1], planes[2], state[0], state[1], state[2]
    # Pass 1: the motion test's two maps, in FINE sub-steps, saturated to uint16 (as cv2.multiply does).
    for r in range(h):
        a0, a1, a2, b0, b1, b2, oy, oc = p0[r], p1[r], p2[r], s0[r], s1[r], s2[r], my[r], mc[r]
        for c in range(w):
            d0 = np.float32(a0[c]) - b0[c]
            d1 = np.float32(a1[c]) - b1[c]
            d2 = np.float32(a2[c]) - b2[c]
            dy = np.float32(0.25) * (d0 + d2) + np.float32(0.5) * d1
            oy[c] = np.uint16(min(abs(dy) * ay + np.float32(0.5), np.float32(65535.0)))
            oc[c] = np.uint16(min((abs(d0 - dy) + abs(d2 - dy)) * ac + np.float32(0.5), np.float32(65535.0)))
    # Pass 2, a row at a time, each step its own simple loop (so that LLVM vectorises all but the LUT's):
    # the 5x5 box sums (the column sums into a row padded by 2 on each side with reflect-101, then 5-wide
    # sums), the index, the weights, then the update and the rounding plane by plane. ``sums`` holds the two
    # padded column-sum rows and the box maxima, ``kr`` the row's weights.
    vy, vc, top = sums[0], sums[1], sums[2]
    inv, invf = np.float32(1.0 / 25.0), np.float32(1.0 / FINE)  # module constants: Numba compiles them in
    one, zero, span = np.float32(1.0), np.float32(0.0), z1 - z0
    half = np.float32(FINE // 2) + np.float32(0.5)
    for r in range(h):
        # rows r-2 .. r+2, reflect-101 at the edges (h >= 5: only the first two can fall above, the last two below)
        r0, r1, r3, r4 = abs(r - 2), abs(r - 1), min(r + 1, 2 * h - 3 - r), min(r + 2, 2 * h - 4 - r)
        y0, y1, y2, y3, y4 = my[r0], my[r1], my[r], my[r3], my[r4]
        c0, c1, c2, c3, c4 = mc[r0], mc[r1], mc[r], mc[r3], mc[r4]
        for c in range(w):
            vy[c + 2] = np.int32(y0[c]) + np.int32(y1[c]) + np.int32(y2[c]) + np.int32(y3[c]) + np.int32(y4[c])
            vc[c + 2] = np.int32(c0[c]) + np.int32(c1[c]) + np.int32(c2[c]) + np.int32(c3[c]) + np.int32(c4[c])
        vy[1], vy[0], vy[w + 2], vy[w + 3] = vy[3], vy[4], vy[w], vy[w - 1]
        vc[1], vc[0], vc[w + 2], vc[w + 3] = vc[3], vc[4], vc[w], vc[w - 1]
        for c in range(w):
            top[c] = max(vy[c] + vy[c + 1] + vy[c + 2] + vy[c + 3] + vy[c + 4],
                         vc[c] + vc[c + 1] + vc[c + 2] + vc[c + 3] + vc[c + 4])
        ix = idx[r]
        for c in range(w):
            # the box's mean rounded, then to LUT steps rounded (the 0.5s keep float32 off the integers)
            b = np.float32(np.int32((np.float32(top[c]) + np.float32(12.5)) * inv))
            i = min(np.int32((b + half) * invf), 255)
            ix[c] = i
            t = min(max((np.float32(i) / np.float32(STEPS) - z0) / span, zero), one)  # weight_lut's curve
            kr[c] = kmin + (one - kmin) * t * t * (np.float32(3.0) - np.float32(2.0) * t)
        for p in range(3):
            a, e, o = planes[p, r], state[p, r], out[p, r]
            for c in range(w):
                e[c] += kr[c] * (np.float32(a[c]) - e[c])
            for c in range(w):
                o[c] = np.uint8(min(np.int32(e[c] + np.float32(0.5)), 255))


def step_opencv(planes: np.ndarray, state: np.ndarray, out: np.ndarray, idx: np.ndarray, weight: tuple,
                sy: float, sc: float, scratch: dict) -> None:
    """The update in OpenCV calls (see the module docstring); ``scratch`` keeps the buffers and the weight
    tables between frames."""
    luts = scratch.setdefault("luts", {})
    lut = luts.get(weight)
    if lut is None:
        lut = luts[weight] = weight_lut(*weight)
    _, h, w = planes.shape
    f32 = np.float32
    d = buffer(scratch, "d", (3, h, w), f32)
    dy, t, zc = (buffer(scratch, n, (h, w), f32) for n in ("dy", "t", "zc"))
    m16, zc16 = (buffer(scratch, n, (h, w), np.uint16) for n in ("m16", "zc16"))
    ay, ac = STEPS * FINE / sy, STEPS * FINE / sc
    cv2.subtract(planes.reshape(3 * h, w), state.reshape(3 * h, w), dst=d.reshape(3 * h, w), dtype=cv2.CV_32F)
    cv2.addWeighted(d[0], 0.25, d[2], 0.25, 0.0, dst=dy)
    cv2.scaleAdd(d[1], 0.5, dy, dst=dy)
    # The motion test in uint16 at FINE steps per LUT step: OpenCV's box filter sums uint16 in int32 (float32
    # in float64, ~4x slower), and the rounding (1/16 of a LUT step at most) hardly ever moves the index.
    cv2.absdiff(dy, 0.0, dst=t)
    cv2.multiply(t, ay, dst=m16, dtype=cv2.CV_16U)
    box = (5, 5)
    cv2.blur(m16, box, dst=m16)
    cv2.absdiff(d[0], dy, dst=t)
    cv2.absdiff(d[2], dy, dst=zc)
    cv2.addWeighted(t, ac, zc, ac, 0.0, dst=zc16, dtype=cv2.CV_16U)
    cv2.blur(zc16, box, dst=zc16)
    cv2.max(m16, zc16, dst=m16)
    cv2.convertScaleAbs(m16, dst=idx, alpha=1.0 / FINE)
    k = t  # free again: the weights
    cv2.LUT(idx, lut, dst=k)
    for c in range(3):
        cv2.accumulateProduct(d[c], k, state[c])  # E += k d in one pass
    cv2.convertScaleAbs(state.reshape(3 * h, w), dst=out.reshape(3 * h, w))


def buffer(scratch: dict, name: str, shape: tuple, dtype) -> np.ndarray:
    """``scratch[name]``, made again when its shape or dtype differ: buffers kept from frame to frame."""
    buf = scratch.get(name)
    if buf is None or buf.shape != shape or buf.dtype != dtype:
        buf = scratch[name] = np.empty(shape, dtype)
    return buf
