"""Noise estimates for the temporal stage (frames/temporal.py): one from a single frame, one from two.

* :func:`estimate_noise` (spatial): Immerkaer's (1996) Laplacian-difference estimator restricted to
  low-gradient pixels (Tai & Yang 2008), so texture and edges do not count as noise. Above 320x180 pixels it
  reads 8-row strips spread over the frame, down to about that many pixels (the estimate is a mean over many
  pixels: a part of them gives the same figure to a few hundredths of a grey level), so it costs about what a
  320x180 frame costs (a quarter of a 640x360 frame, a fifteenth of a 1280x720 one).
* :func:`grid_noise` (temporal): the variance of the frame-to-frame change on the still blocks. A codec
  (JPEG, H.264) removes the high frequencies of the noise, so the spatial estimator reads a compressed noisy
  frame as nearly clean; but it redraws every frame with new errors, and what is left of the noise and the codec's
  errors changes from frame to frame. That change is what the temporal stage's motion test sees, so it is what
  its noise floor must follow.

Both return per-channel-equivalent sigmas in grey levels ``(luma, chroma)``: independent Gaussian noise of
sigma ``s`` in each channel reads ``(s, s)``.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

# Immerkaer's operator: the difference of two Laplacians; zero on planes and ramps, 36 sigma^2 on noise.
_N1 = np.array([1, -2, 1], np.float32)  # the 3x3 operator [[1, -2, 1], [-2, 4, -2], [1, -2, 1]] is its outer square
_EDGE_FRACTION = 0.5      # share of highest-gradient pixels left out of the noise estimate (Tai & Yang: 0.1)
_STRIP = 8                # rows per strip of the subset; its first and last row (the seams) are left out
_FULL_PIXELS = 320 * 180  # frames up to this many pixels are read whole; larger ones in strips down to ~this many
_BLOCK = 4                # grid samples per block side in grid_noise (16x16 frame pixels on a 4x grid)
# The luma (B + 2G + R) / 4 of independent per-channel noise of sigma s has sigma sqrt(6) / 4 s, and the
# difference of two frames sqrt(2) times that; the chroma term |dB - dY| + |dR - dY| has mean 1.5 sqrt(2) s.
LUMA_GAIN = math.sqrt(2.0) * math.sqrt(6.0) / 4.0
CHROMA_GAIN = 1.5 * math.sqrt(2.0)
_VIDEO_RANGE = (16.0, 235.0)  # blocks outside video range are clipped: noise there reads low, left out


def _strip_rows(h: int, w: int) -> np.ndarray | None:
    """Row indices of the strip subset for an ``h x w`` frame, or None to read it whole."""
    every = (h * w) // _FULL_PIXELS
    if every < 2 or h < 4 * _STRIP:
        return None
    starts = np.arange(0, h - _STRIP + 1, _STRIP * every)  # one strip of 8 rows in every `every`, spread evenly
    return (starts[:, None] + np.arange(_STRIP)).ravel()


def estimate_noise(planes: np.ndarray, step: int = 2) -> tuple[float, float]:
    """Noise standard deviation of a BGR frame in grey levels, ``(luma, chroma)``.

    Args:
        planes: ``(3, h, w)`` uint8 (or float32) BGR planes, h, w >= 3.
        step: the estimate averages over every ``step``-th pixel in both directions.

    Returns:
        Per-channel-equivalent sigmas: independent Gaussian noise of sigma s in each channel gives
        ``(s, s)``. Luma is ``B + 2G + R`` (scaled by 1/sqrt(6)), chroma ``B - R`` (by 1/sqrt(2)).
        Immerkaer's estimator (mean |I * N| sqrt(pi/2) / 6) over the pixels whose luma gradient is
        below their median, so edges and texture are not taken for noise. Frames above 320x180 pixels
        are read in strips of 8 rows spread over the frame (the rows at the strips' seams left out).
    """
    rows = _strip_rows(planes.shape[1], planes.shape[2])
    # Strips stacked into one image: the 3x3 operators mix rows across a seam only in a strip's first and last
    # row, which the row selection below leaves out.
    f = np.asarray(planes if rows is None else planes[:, rows], np.float32)
    y = cv2.scaleAdd(f[1], 2.0, cv2.add(f[0], f[2]))
    c = cv2.subtract(f[0], f[2])
    if rows is None:
        ry = slice(1, -1, step)
    else:  # inside each strip, rows 1 .. STRIP-2, every step-th
        ry = np.flatnonzero(np.isin(np.arange(len(rows)) % _STRIP, np.arange(1, _STRIP - 1, step)))
    gx, gy = cv2.Sobel(y, cv2.CV_32F, 1, 0, ksize=3), cv2.Sobel(y, cv2.CV_32F, 0, 1, ksize=3)
    grad = np.ascontiguousarray(cv2.add(np.abs(gx, out=gx), np.abs(gy, out=gy))[ry][:, 1:-1:step])
    coarse = np.ascontiguousarray(grad[::2, ::2]).ravel()  # the threshold from a quarter of the grid is as good
    keep = (grad <= np.partition(coarse, int(coarse.size * (1.0 - _EDGE_FRACTION)))[
        int(coarse.size * (1.0 - _EDGE_FRACTION))]).astype(np.uint8)
    scale = math.sqrt(math.pi / 2.0) / 6.0
    out = []
    for plane, norm in ((y, math.sqrt(6.0)), (c, math.sqrt(2.0))):
        lap = cv2.sepFilter2D(plane, cv2.CV_32F, _N1, _N1)  # Immerkaer's operator is [1 -2 1] x [1 -2 1]
        lap = np.ascontiguousarray(np.abs(lap, out=lap)[ry][:, 1:-1:step])
        out.append(cv2.mean(lap, mask=keep)[0] * scale / norm if keep.any() else 0.0)
    return out[0], out[1]


def luma_grid(sub: np.ndarray) -> np.ndarray:
    """``(3, h, w)`` float32 BGR -> ``(h, w)`` float32 luma ``(B + 2G + R) / 4``."""
    return cv2.addWeighted(cv2.addWeighted(sub[0], 0.25, sub[2], 0.25, 0.0), 1.0, sub[1], 0.5, 0.0)


def shift_window(shape: tuple[int, int]) -> np.ndarray:
    """The phase-correlation window :func:`global_shift` wants for grids of ``shape`` (its central crop)."""
    return cv2.createHanningWindow(_crop(shape)[::-1], cv2.CV_32F)


def _crop(shape: tuple[int, int]) -> tuple[int, int]:
    # At most 64x128 (a power-of-two DFT; a global shift shows in any large part); multiples of 8 (sizes the
    # DFT pads read a spurious shift of about a pixel).
    return min(64, shape[0] // 8 * 8), min(128, shape[1] // 8 * 8)


def global_shift(y: np.ndarray, prev: np.ndarray, window: np.ndarray) -> float:
    """Length of the global translation from ``prev`` to ``y`` (float32 grids, same shape, at least 8x8), in
    pixels of the grids, by phase correlation of their central crops with ``window`` (:func:`shift_window`)."""
    h, w = window.shape
    r, c = (y.shape[0] - h) // 2, (y.shape[1] - w) // 2
    (dx, dy), _ = cv2.phaseCorrelate(np.ascontiguousarray(prev[r:r + h, c:c + w]),
                                     np.ascontiguousarray(y[r:r + h, c:c + w]), window)
    return math.hypot(dx, dy)


def _blocks(img: np.ndarray, h: int, w: int) -> np.ndarray:
    """Means of the ``_BLOCK x _BLOCK`` blocks of ``img[:h, :w]``, raveled."""
    return cv2.resize(img[:h, :w], (w // _BLOCK, h // _BLOCK), interpolation=cv2.INTER_AREA).ravel()


def _variances(spread: np.ndarray) -> list[float]:
    """Noise variances from the blocks' variances about their own means (``(blocks, maps)``, ``_BLOCK**2``
    samples a block): each map's median block (robust to the few moving blocks the choice lets through) made
    unbiased: a chi-square of n - 1 degrees of freedom has its median at ~(1 - 2 / (9 (n - 1)))^3 of its mean,
    and the variance about the block's mean keeps (n - 1) / n of the variance."""
    n = _BLOCK * _BLOCK
    mid = spread.shape[0] // 2
    med = np.partition(spread, mid, axis=0)[mid]
    return [float(v) / (1.0 - 2.0 / (9.0 * (n - 1))) ** 3 * n / (n - 1) for v in med]


def _inside(y: np.ndarray, h: int, w: int) -> np.ndarray | None:
    """Indices of the blocks whose mean luma is in video range (clipped noise reads low), None if under 32."""
    level = _blocks(y, h, w)
    inside = np.flatnonzero((level >= _VIDEO_RANGE[0]) & (level <= _VIDEO_RANGE[1]))
    return inside if inside.size >= 32 else None


def grid_noise(subs: tuple[np.ndarray, np.ndarray], ys: list[np.ndarray], e: np.ndarray | None = None) -> dict | None:
    """Noise figures of a frame from the point-subsampled grids of it, the frames before it and the running estimate.

    Args:
        subs: ``(3, h, w)`` float32 BGR planes of this frame and the last on the same point-subsampled grid
            (every 4th pixel: the noise of the samples stays independent).
        ys: their :func:`luma_grid`, newest first: this frame, the last and, when known, the one before.
        e: :func:`luma_grid` of the running estimate (the temporal stage's state), or None.

    Returns:
        None with fewer than 32 of the 4x4-sample blocks in video range (clipped noise reads low), else a dict:

        * ``sigma``: ``(luma, chroma)`` noise sigma of the frame-to-frame change, per channel, in grey levels,
          over the still blocks (below);
        * with ``e``: ``m``, the mean absolute luma change ``|y - e|`` that noise alone makes (the Gaussian
          ``sqrt(2 / pi)`` times the root of its variance ``S(y, e)``);
        * with ``e`` and three frames: ``v`` and ``v_e``, this frame's noise variance and the estimate's error
          variance (luma). Three frames with independent noise give ``v = (S(y, y1) + S(y, y2) - S(y1, y2)) / 2``
          (each pair's change holds both frames' variances), and ``v_e = S(y, e) - v``; both >= 0.

        ``S(a, b)``: the variance of ``a - b`` on the still blocks: each block's variance about its own mean,
        their median made unbiased (:func:`_variance`). Still blocks: the quarter of the blocks in video range whose
        mean changed least, summed over the pairs at hand (a moving block's mean moves; a codec's errors and noise
        hardly move a mean of 16 samples; and for Gaussian noise a sample's mean is independent of its variance,
        so choosing blocks by their means does not bias the variances, as choosing by the changes would).

    The caller leaves out frames where the picture moved as a whole (:func:`global_shift`): in a pan no block
    is still.
    """
    y, y1 = ys[0], ys[1]
    h, w = (y.shape[0] // _BLOCK) * _BLOCK, (y.shape[1] // _BLOCK) * _BLOCK
    inside = _inside(y, h, w) if h and w else None
    if inside is None:
        return None
    sub, prev = subs
    pairs = [cv2.subtract(y, y1)]
    if e is not None:
        pairs.append(cv2.subtract(y, e))
        if len(ys) > 2:
            pairs += [cv2.subtract(y, ys[2]), cv2.subtract(y1, ys[2])]
    d01 = pairs[0]
    ch = cv2.add(cv2.absdiff(cv2.subtract(sub[0], prev[0]), d01), cv2.absdiff(cv2.subtract(sub[2], prev[2]), d01))
    stack = cv2.merge([*pairs, ch])[:h, :w]  # one block pass for every map: channels are the pairs, then chroma
    size = (w // _BLOCK, h // _BLOCK)
    means = cv2.resize(stack, size, interpolation=cv2.INTER_AREA).reshape(-1, len(pairs) + 1)[inside]
    squares = cv2.resize(cv2.multiply(stack, stack), size, interpolation=cv2.INTER_AREA).reshape(-1, len(pairs) + 1)
    moved = np.abs(means[:, :-1]).sum(axis=1)
    still = np.argpartition(moved, moved.size // 4)[:moved.size // 4]
    spread = squares[inside[still], :-1] - np.square(means[still, :-1])
    var = _variances(spread)
    out: dict = {"sigma": (math.sqrt(var[0]) / LUMA_GAIN, float(means[still, -1].mean()) / CHROMA_GAIN)}
    if e is not None:  # mean |y - e| of Gaussian noise of that variance: sqrt(2 / pi) sigma
        out["m"] = math.sqrt(2.0 / math.pi) * math.sqrt(var[1])
    if len(var) == 4:
        out["v"] = max((var[0] + var[2] - var[3]) / 2.0, 0.0)
        out["v_e"] = max(var[1] - out["v"], 0.0)
    return out
