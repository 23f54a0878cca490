"""Training on short sequences: what the daemon's temporal stage hands the model (``--sequence K``).

In the daemon the 2x model does not see a raw camera frame: it sees the temporal stage's output
(:class:`~vcam_sharpen.frames.temporal.TemporalDenoiser`), where static areas have been averaged over
frames (little noise left), moving areas much less (most of the noise left) and a freshly uncovered
or cut frame not at all. A model trained on single corrupted frames expects the raw noise everywhere
and, on the filtered frame, smooths detail for noise that is no longer there; one trained on clean
frames sharpens the residual noise. So each training sample becomes a K-frame clip ending on it:

1. **Motion** (full size, from the clean crop, :func:`motion_frames`): a global similarity warp that
   is the identity on the last frame and drifts back in time at a constant velocity, drawn per clip
   (``STILL`` of the clips hold still, the rest drift up to ``SHIFT`` px and zoom up to ``ZOOM`` per
   frame, with up to ``JITTER`` px of hand shake), and in ``LOCAL`` of the clips a moving patch: a
   rectangle of the picture itself (a quarter to half of the side) that slides into its true place
   at up to ``PATCH_SPEED`` px per frame (a head turning in front of a still background). The last
   frame is exactly the clean crop, so the target is unchanged. Borders are reflected.
2. **Corruption** per frame on the half-size frame (the exact 2x box average, in uint8), as
   :func:`~vcam_sharpen.core.degrade.degrade_pair` does: the chain (e.g. one draw of ``camera-train``:
   clean, noise, codec or both, with its level) is drawn once per clip, a camera's setting does not
   change from frame to frame, and its noise and codec are applied to each frame with that frame's
   own generator, so the noise is new in every frame.
3. **The daemon's temporal stage** (mode ``on``, its default strength and estimate interval) over the
   K half-size frames in order; the model input is its output for the last frame.

Everything is uint8 NumPy and OpenCV on small crops (~1-3 ms a sample, a codec term most of it), on
``workers`` threads when asked. Sample ``i`` of a batch draws from ``numpy.random.default_rng([seed,
offset + i, 1])`` (motion and chain) and ``[seed, offset + i, 2 + t]`` (frame ``t``'s corruption), so
its clip depends only on the seed and its run-wide index: same seed, same data, on any number of
processes or threads. The temporal stage treats B and R alike, so RGB crops need no reordering.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Callable

import cv2
import numpy as np
import torch

from vcam_sharpen.core.corrupt import PRESETS, Corruption
from vcam_sharpen.frames.temporal import TemporalDenoiser

STILL = 0.5        # share of clips without global motion (a camera on a stand)
SHIFT = 0.5        # largest global drift, full-size px per frame (each axis)
ZOOM = 0.006       # largest relative zoom per frame
JITTER = 0.15      # largest hand-shake offset, full-size px (each axis, each frame)
LOCAL = 0.6        # share of clips with a moving patch
PATCH_SPEED = 3.0  # largest speed of the moving patch, full-size px per frame (each axis)
_POOLS: dict[int, ThreadPoolExecutor] = {}  # made on first use, never at import time


def fixed_chain(corruption: Corruption, rng: np.random.Generator) -> Corruption:
    """``corruption`` with each random preset (``camera-train``, ``camera``, ...) replaced by one draw of
    its chain, so every frame of a clip gets the same kind and level of noise and codec."""
    terms: list = []
    for name, args in corruption.terms:
        terms.extend(PRESETS[name](rng).terms if name in PRESETS else [(name, args)])
    return Corruption(tuple(terms))


def motion_frames(img: np.ndarray, count: int, rng: np.random.Generator) -> list[np.ndarray]:
    """``count`` full-size frames that move into ``img``: ``(H, W, 3)`` uint8 in, ``(H, W, 3)`` uint8
    frames out, the last one ``img`` itself (see the module docstring for the motion drawn)."""
    h, w = img.shape[:2]
    still, u = rng.random() < STILL, rng.uniform(-1.0, 1.0, 6)
    vel = np.zeros(2) if still else u[:2] * SHIFT
    zoom = 0.0 if still else u[2] * ZOOM
    local = rng.random() < LOCAL
    side = rng.uniform(0.25, 0.5, 2) * (w, h)
    top_left = rng.uniform(0.0, 1.0, 2) * ((w, h) - side)
    pvel = u[3:5] * PATCH_SPEED
    jitter = rng.uniform(-JITTER, JITTER, (count, 2)) * (0.0 if still else 1.0)
    cx, cy = (w - 1) / 2.0, (h - 1) / 2.0
    frames = []
    for t in range(count):
        back = count - 1 - t  # frames before the last
        if back == 0:
            frames.append(img)
            break
        s = 1.0 + zoom * back
        dx, dy = vel * back + jitter[t]
        m = np.array([[s, 0.0, cx - s * cx + dx], [0.0, s, cy - s * cy + dy]], np.float32)
        frame = cv2.warpAffine(img, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
        if local:  # the patch's content, displaced by where it was ``back`` frames before the last
            x0, y0 = (top_left + pvel * back).round().astype(int)
            sx, sy = int(side[0]), int(side[1])
            x0, y0 = min(max(x0, 0), w - sx), min(max(y0, 0), h - sy)
            px, py = int(top_left[0]), int(top_left[1])
            frame = frame.copy() if frame is img else frame
            frame[y0:y0 + sy, x0:x0 + sx] = img[py:py + sy, px:px + sx]
        frames.append(frame)
    return frames


def half_size(frame: np.ndarray, factor: int) -> np.ndarray:
    """The exact ``factor`` x box downscale in uint8 (bilinear 2x down is the 2x2 box average)."""
    h, w = frame.shape[:2]
    return cv2.resize(frame, (w // factor, h // factor), interpolation=cv2.INTER_AREA)


def clip_input(img: np.ndarray, count: int, factor: int, corruption: Corruption | None, seed: int,
               index: int) -> np.ndarray:
    """The model input for one clean crop: the temporal stage's output for the last of ``count``
    corrupted half-size frames. ``(H, W, 3)`` uint8 RGB in, ``(H // factor, W // factor, 3)`` uint8 out."""
    rng = np.random.default_rng([seed, index, 1])
    chain = fixed_chain(corruption, rng) if corruption is not None else None
    frames = motion_frames(img, count, rng)
    temporal = TemporalDenoiser("on")
    out = None
    for t, frame in enumerate(frames):
        small = half_size(frame, factor)
        if chain is not None and not chain.is_clean:
            small = chain.apply(small, np.random.default_rng([seed, index, 2 + t]))
        out = temporal.planar(np.ascontiguousarray(small.transpose(2, 0, 1)))
    return out.transpose(1, 2, 0).copy()


def sequence_pair(x: torch.Tensor, factor: int = 2, corrupt: Corruption | None = None, seed: int = 0,
                  offset: int = 0, workers: int = 0, count: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    """``(small, degraded)`` as :func:`~vcam_sharpen.core.degrade.degrade_pair` gives them, for the clips that
    end on each image of the clean ``(N, 3, H, W)`` batch in [0, 1] (:func:`clip_input`, image ``i`` with index
    ``offset + i``): ``small`` is the temporal stage's output, ``(N, 3, H // factor, W // factor)`` in [0, 1],
    ``degraded`` its bilinear upscale to ``(H, W)``. ``workers`` > 1 makes the clips on that many threads."""
    if count < 1 or factor < 2:
        raise ValueError(f"a sequence needs count >= 1 and factor >= 2, got {count}, {factor}")
    u8 = (x.detach().float().clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()

    def one(i: int) -> np.ndarray:
        return clip_input(np.ascontiguousarray(u8[i]), count, factor, corrupt, seed, offset + i)

    n = len(u8)
    if workers > 1 and n > 1:
        if workers not in _POOLS:
            _POOLS[workers] = ThreadPoolExecutor(workers, thread_name_prefix="sequence")
        outs = list(_POOLS[workers].map(one, range(n)))
    else:
        outs = [one(i) for i in range(n)]
    small = torch.from_numpy(np.stack(outs)).permute(0, 3, 1, 2).to(device=x.device, dtype=x.dtype) / 255.0
    size = tuple(x.shape[-2:])
    return small, torch.nn.functional.interpolate(small, size=size, mode="bilinear", align_corners=False)


def pair_function(count: int, single: Callable) -> Callable:
    """:func:`sequence_pair` for ``count``-frame clips, or ``single`` (``degrade_pair``) for ``count`` 0."""
    return partial(sequence_pair, count=count) if count else single


def describe(count: int) -> str:
    """One line for the recipe's banner."""
    return f", each input the temporal stage's output at the end of a {count}-frame clip"
