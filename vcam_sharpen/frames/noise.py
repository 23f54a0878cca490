"""Noise estimates for the temporal stage (frames/temporal.py): one from a single frame, one from two.

* :func:`estimate_noise` (spatial): Immerkaer's (1996) Laplacian-difference estimator restricted to
  low-gradient pixels (Tai & Yang 2008), so texture and edges do not count as noise. Above ~320x360 pixels it
  reads a spread subset of thin row strips (the estimate is a mean over many pixels; a quarter of them gives the
  same figure to ~1%), which makes it ~4x cheaper on a 1280x720 frame.
* :func:`grid_noise` (temporal): the mean absolute frame-to-frame change of the stillest blocks. A codec
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
_PERCENTILE = 10          # grid_noise reads the 10th percentile of the block means: still blocks
# Mean |a - b| of two independent N(0, s^2): 2 s / sqrt(pi) = 0.8 sqrt(2) s. Luma (B + 2G + R) / 4 keeps
# sqrt(6) / 4 of a per-channel sigma; the chroma term |dB - dY| + |dR - dY| has mean 1.5 sqrt(2) s.
LUMA_GAIN = 0.8 * math.sqrt(2.0) * math.sqrt(6.0) / 4.0
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
        below their median, so edges and texture are not taken for noise. Frames above 320x360 pixels
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


def _low(values: np.ndarray) -> float:
    """The ``_PERCENTILE``-th percentile of block means of ``|N(0, s)|``, corrected to their mean: it sits
    z_p sqrt(pi/2 - 1) / sqrt(n) below it (n samples a block, CV sqrt(pi/2 - 1) each; normal approximation)."""
    bias = 1.0 - 1.2816 * math.sqrt(math.pi / 2.0 - 1.0) / _BLOCK  # 1.2816: the 10th percentile's z; sqrt(n) = _BLOCK
    kth = int(values.size * _PERCENTILE / 100)
    return float(np.partition(values, kth)[kth]) / bias


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

        * ``sigma``: ``(luma, chroma)`` noise sigma of the frame-to-frame change, per channel, in grey levels:
          the mean absolute luma (chroma) change over the blocks, its 10th percentile (the still blocks: on a
          still part the change is noise and codec errors alone, on a moving one it is larger), corrected for
          the percentile's bias and scaled as a per-channel sigma;
        * with ``e``: ``m``, the mean absolute luma change ``|y - e|`` of noise alone, read the same way;
        * with ``e`` and three frames: ``v`` and ``v_e``, this frame's noise variance and the estimate's error
          variance (luma). With ``S(a, b)`` the mean squared difference, three frames with
          independent noise give ``v = (S(y, y1) + S(y, y2) - S(y1, y2)) / 2`` (each pair's change holds both
          frames' variances), and ``v_e = S(y, e) - v``; both >= 0. ``S`` here is the blocks' variance about their
          own mean, over the still blocks: the quarter whose mean changed least over the four pairs (a moving
          block's mean moves; and for Gaussian noise a sample's mean is independent of its variance, so choosing
          blocks by their means does not bias the variances, as choosing by the variances would).

    The caller leaves out frames where the picture moved as a whole (:func:`global_shift`): in a pan no block
    is still.
    """
    y, y1 = ys[0], ys[1]
    h, w = (y.shape[0] // _BLOCK) * _BLOCK, (y.shape[1] // _BLOCK) * _BLOCK
    inside = _inside(y, h, w) if h and w else None
    if inside is None:
        return None
    sub, prev = subs
    d01 = cv2.subtract(y, y1)
    ch = cv2.add(cv2.absdiff(cv2.subtract(sub[0], prev[0]), d01), cv2.absdiff(cv2.subtract(sub[2], prev[2]), d01))
    # (The chroma term's CV is lower than |N|'s, so its correction is slightly generous: the chroma floor is a guard.)
    out: dict = {"sigma": (_low(_blocks(np.abs(d01), h, w)[inside]) / LUMA_GAIN,
                           _low(_blocks(ch, h, w)[inside]) / CHROMA_GAIN)}
    if e is None:
        return out
    de = cv2.subtract(y, e)
    out["m"] = _low(_blocks(np.abs(de), h, w)[inside])
    if len(ys) < 3:
        return out
    pairs = (d01, cv2.subtract(y, ys[2]), cv2.subtract(y1, ys[2]), de)
    means = [_blocks(d, h, w)[inside] for d in pairs]
    spread = [_blocks(cv2.multiply(d, d), h, w)[inside] - m * m for d, m in zip(pairs, means)]
    moved = np.abs(means[0]) + np.abs(means[1]) + np.abs(means[2]) + np.abs(means[3])
    still = np.argpartition(moved, moved.size // 4)[:moved.size // 4]
    s01, s02, s12, s0e = (float(v[still].mean()) for v in spread)
    out["v"] = max((s01 + s02 - s12) / 2.0, 0.0)
    out["v_e"] = max(s0e - out["v"], 0.0)
    return out
