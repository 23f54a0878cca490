"""Static-region reuse: run the network only on the tiles whose input changed, reuse its output elsewhere.

In a call most of the frame is a wall or a shelf. :class:`StaticReuse` keeps the last output as the
phase planes of the engine's phase graph and, per frame:

1. **Change test** (:class:`ChangeTest`): the colour sum of the half-size input is compared with the
   input each tile was last restored from, over the tile plus the network's halo (a change near a
   tile's border alters its neighbour's output too). Two scores: the mean absolute difference,
   which follows the difference of the outputs closely, and the largest difference averaged over
   4x4 pixels, for a small change the mean dilutes. A tile changed when either exceeds its
   threshold, ``max(floor, K x noise)``, with each score's noise level followed from the quietest
   tenth of the tiles. A temporal denoise stage, where it runs, can pass its own noise sigma or
   motion map instead (:meth:`StaticReuse.hint`).
2. **Refresh**: a round-robin slice of the tiles is added every frame, so every tile is restored
   at least once per ``refresh_s`` (1 s) whatever the test says: slow drifts (auto exposure,
   daylight) never leave a stale patch.
3. **One engine call**: the chosen tiles are cut with the halo the network's receptive field
   needs (:meth:`TileEngine.tile_halo`) and restored as one batch
   (:class:`~vcam_sharpen.runtime.graphs.TileGraph`), exactly as the whole-frame graph would
   restore them, borders included; their results are written into the kept phase planes.
   When more than ``full_share`` of the tiles are due (a pan, a cut) the whole frame runs in the
   usual single call instead: full motion costs the change test (well under a millisecond at 720p)
   and nothing else.

Nothing here knows the engine beyond :class:`TileEngine`. Where reuse cannot apply, the caller
runs whole frames as before: an engine without :meth:`TileEngine.tile_halo` or whose halo is None
(models that are not phase graphs: teacher, seed models, unsharp; and ``enhance``'s global gate,
which reads the whole frame), or a frame smaller than one tile plus its halo.
"""

from __future__ import annotations

import time
from typing import Callable, Protocol

import cv2
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .layout import interleave_phases, split_phases

TILE = 16  # half-size pixels: 32-pixel tiles of a 2x output
FLOOR = 1.0  # mean absolute difference (3 channels summed) below which a tile never counts as changed
BOX_FLOOR = 12.0  # the same for the largest 4x4-averaged difference: 4 grey levels in every channel
K_NOISE = np.array([1.6, 2.5])  # a change must stand this far above the noise level of each score
NOISE_MAX = np.array([6.0, 13.0])  # the scores of noise sigma 6: above is motion (a pan must not raise them)
SIGMA_SCORES = np.array([0.98, 2.2])  # the scores of per-pixel noise sigma (mean |N(0, 1.5 sigma^2)|; 4x4 max)
FULL_SHARE = 0.5  # above this share of due tiles one whole-frame call is cheaper (tiles cost ~1.7x per area)
PLANES = 16  # output phase planes of the phase graphs (12 used)


class TileEngine(Protocol):
    """What :class:`StaticReuse` needs from an engine (:class:`vcam_sharpen.runtime.engines.Engine`)."""

    input_scale: int

    def tile_halo(self) -> int | None:
        """Half-size pixels of context each side of a tile; None: tiles cannot reproduce the frame."""

    def restore_phases(self, planes: np.ndarray) -> np.ndarray:
        """``(1, C, h, w)`` uint8 -> ``(16, h, w)`` uint8 output phase planes of the whole frame."""

    def restore_tiles(self, tiles: np.ndarray, inside: np.ndarray) -> np.ndarray:
        """``(N, C, t + 2 halo, t + 2 halo)`` uint8 tiles and float32 ``(N, 1, ...)`` inside-the-frame mask
        -> ``(N, 16, t, t)`` uint8 phase planes."""


def tile_halo(engine) -> int | None:
    """The engine's halo, or None when static-region reuse cannot run on it."""
    halo = getattr(engine, "tile_halo", None)
    return halo() if callable(halo) else None


class ChangeTest:
    """Per-tile change scores of a colour-sum image against its reference (see the module docstring).

    Two scores per tile, both over the tile plus the network's halo (a change there alters the
    tile's output too): the mean absolute difference, which follows the output's difference closely
    (texture that shifts, a face that turns), and the largest 4x4-averaged difference, which catches
    a small change the mean dilutes (an eye that blinks). Noise raises the mean by a near-constant
    amount and barely touches the 4x4 averages; each threshold rises above its followed noise level.

    Args:
        shape: ``(rows, cols)`` of tiles; the images are ``(rows * tile, cols * tile)`` int16, zero
            outside the frame.
        tile, halo: tile size and the network's halo, in pixels.
        floor: the mean-difference floor (:data:`FLOOR`).
    """

    def __init__(self, shape: tuple[int, int], tile: int, halo: int, floor: float = FLOOR,
                 frame: tuple[int, int] | None = None) -> None:
        if tile % 2:
            raise ValueError(f"the tile size must be even, got {tile}")
        self.rows, self.cols = shape
        self.tile, self.floor = tile, floor
        # Computed at quarter size (2x2 means): the halo rounds up to whole pixels there, and one
        # filter by the tile plus its halo, sampled once per tile, gives each tile's mean or maximum.
        q = -(-halo // 2)
        self._size = tile // 2 + 2 * q
        self._kernel = np.ones((self._size, self._size), np.uint8)
        self._anchor = (q, q)
        # the share of each window inside the frame (``frame``: its (h, w)), so border tiles' means are fair
        inside = np.zeros((self.rows * tile // 2, self.cols * tile // 2), np.float32)
        fh, fw = frame if frame is not None else (self.rows * tile, self.cols * tile)
        inside[: fh // 2, : fw // 2] = 1.0
        self._inside = np.maximum(self._window_mean(inside), 1e-3)
        self.noise: np.ndarray | None = None  # the followed noise levels of the two scores
        self.sigma: float | None = None  # a noise sigma from a temporal stage, when one runs

    def thresholds(self) -> np.ndarray:
        """``[mean, box]`` thresholds: each floor, or K times the noise level when that is higher."""
        noise = SIGMA_SCORES * self.sigma if self.sigma is not None else \
            (self.noise if self.noise is not None else np.zeros(2))
        return np.maximum([self.floor, BOX_FLOOR], K_NOISE * noise)

    def _window_mean(self, img: np.ndarray) -> np.ndarray:
        """The mean of a quarter-size image over each tile's window (tile plus halo), one value per tile."""
        q = self.tile // 2
        return cv2.boxFilter(img, -1, (self._size, self._size), anchor=self._anchor,
                             borderType=cv2.BORDER_CONSTANT)[::q, ::q]

    def scores(self, cur: np.ndarray, ref: np.ndarray) -> np.ndarray:
        """``(2, rows, cols)`` float32: each tile's mean absolute difference and largest 4x4-averaged one."""
        h, w = cur.shape
        q = self.tile // 2
        # one pass to quarter size: signed 2x2 means (a pixel's own noise halves; texture that moves stays)
        diff = cv2.resize(cv2.subtract(cur, ref, dtype=cv2.CV_32F), (w // 2, h // 2), interpolation=cv2.INTER_AREA)
        box = cv2.boxFilter(diff, -1, (2, 2), borderType=cv2.BORDER_REPLICATE)  # 4x4 means
        np.abs(diff, out=diff)
        np.abs(box, out=box)
        mean = self._window_mean(diff) / self._inside
        return np.stack([mean, cv2.dilate(box, self._kernel, anchor=self._anchor)[::q, ::q]])

    def changed(self, scores: np.ndarray) -> np.ndarray:
        """Tiles with a score above its threshold; follows the noise (down at once, up slowly)."""
        level = np.minimum(np.percentile(scores.reshape(2, -1), 10, axis=1), NOISE_MAX)
        if self.noise is None:
            self.noise = level
        else:  # a cut or a pan raises the quiet tenth for a moment: never jump the threshold with it
            self.noise = np.where(level < self.noise, level, self.noise + 0.05 * (level - self.noise))
        return (scores > self.thresholds()[:, None, None]).any(axis=0)


class StaticReuse:
    """Restores frames through ``engine`` tile by tile where they changed (see the module docstring).

    Args:
        engine: a :class:`TileEngine` whose :meth:`~TileEngine.tile_halo` is not None.
        tile: tile size in half-size pixels (the output tile is twice that for a 2x model).
        refresh_s: every tile is restored at least this often.
        full_share: run the whole frame when more than this share of the tiles is due.
        clock: seconds, for the refresh (tests pass a fake one).
        floor: the change score below which a tile never counts as changed (:data:`FLOOR`).

    Attributes:
        share: the last frame's share of tiles restored (1.0 for a whole-frame call, 0.0 when none).
        tiles_done, tiles_seen: running totals of tiles restored and tiles passed through.
    """

    def __init__(self, engine: TileEngine, tile: int = TILE, refresh_s: float = 1.0, full_share: float = FULL_SHARE,
                 clock: Callable[[], float] = time.monotonic, floor: float = FLOOR) -> None:
        halo = tile_halo(engine)
        if halo is None:
            raise ValueError("this engine's model cannot be restored by tiles")
        self.engine, self.tile, self.halo = engine, tile, halo
        self.refresh_s, self.full_share, self.clock, self.floor = refresh_s, full_share, clock, floor
        self.share = 1.0
        self.tiles_done = self.tiles_seen = 0
        self._shape: tuple[int, int, int] | None = None
        self._hint_changed: np.ndarray | None = None
        self._test_sigma: float | None = None
        self._split: np.ndarray | None = None  # same-size frames' phase planes

    def supports(self, planes_shape: tuple[int, ...]) -> bool:
        """Whether a ``(C, h, w)`` input can go by tiles (at least one tile plus its halo each way)."""
        return min(planes_shape[1:]) >= self.tile + 2 * self.halo

    def hint(self, sigma: float | None = None, changed: np.ndarray | None = None) -> None:
        """What a temporal stage knows about the next frame: the noise ``sigma`` (grey levels per pixel,
        replaces the followed noise level) and/or its motion map, a ``(h, w)`` bool array at the input's
        size (True: moved) whose tiles are restored on top of those the change test finds for that frame
        (the map comes from the stage's 5x5 test against its running estimate, not against the input a tile
        was last restored from, so it adds to the test rather than replacing it)."""
        if sigma is not None:
            self._test_sigma = float(sigma)
            if self._shape is not None:
                self._test.sigma = float(sigma)
        self._hint_changed = changed

    def _setup(self, planes: np.ndarray) -> None:
        c, h, w = planes.shape
        t, hl = self.tile, self.halo
        rows, cols = -(-h // t), -(-w // t)
        self._shape, self._grid = (c, h, w), (rows, cols)
        self._test = ChangeTest((rows, cols), t, hl, self.floor, frame=(h, w))
        self._test.sigma = self._test_sigma
        self._pad = np.empty((c, rows * t + 2 * hl, cols * t + 2 * hl), np.uint8)  # edge-padded input
        inside = np.zeros((1, rows * t + 2 * hl, cols * t + 2 * hl), np.float32)
        inside[:, hl:hl + h, hl:hl + w] = 1.0
        s = t + 2 * hl
        # (rows, cols, C, s, s) views of every tile with its halo: one fancy index gathers a batch
        self._tiles = sliding_window_view(self._pad, (s, s), axis=(1, 2))[:, ::t, ::t].transpose(1, 2, 0, 3, 4)
        self._inside = sliding_window_view(inside, (s, s), axis=(1, 2))[:, ::t, ::t].transpose(1, 2, 0, 3, 4)
        self._phases = np.zeros((PLANES, rows * t, cols * t), np.uint8)
        self._cur = np.zeros((rows * t, cols * t), np.int16)
        self._ref = np.zeros((rows * t, cols * t), np.int16)
        self._outs = [np.empty((2 * h, 2 * w, 3), np.uint8) for _ in range(2)]
        self._last: np.ndarray | None = None
        self._whole: np.ndarray | None = None  # the last whole-frame result, while no tile has followed it
        self._moving = 0  # whole frames in a row since the test last found most tiles changed
        self._next_refresh, self._last_t, self._credit = 0, None, 0.0

    def _colour_sum(self, planes: np.ndarray) -> None:
        """The input's channel sum into ``_cur`` (same-size models: the two diagonal phases' colours)."""
        h, w = self._shape[1:]
        cur = self._cur[:h, :w]
        chans = range(3) if planes.shape[0] == 3 else (0, 1, 2, 9, 10, 11)
        np.copyto(cur, planes[chans[0]])
        for c in chans[1:]:
            np.add(cur, planes[c], out=cur, casting="unsafe")

    def _refresh(self, due: np.ndarray) -> None:
        """Add the round-robin slice of tiles due for their refresh (by the time since the last frame)."""
        now = self.clock()
        n = due.size
        dt = self.refresh_s if self._last_t is None else min(max(now - self._last_t, 0.0), self.refresh_s)
        self._last_t = now
        self._credit = min(n, self._credit + n * dt / self.refresh_s)  # tiles owed, fractions carried over
        k = int(self._credit + 1e-9)
        self._credit -= k
        idx = (self._next_refresh + np.arange(k)) % n
        due.reshape(-1)[idx] = True
        self._next_refresh = (self._next_refresh + k) % n

    def restore(self, planes: np.ndarray) -> np.ndarray:
        """``(C, h, w)`` uint8 input (3 half-size BGR planes, or the 12 phase planes of a same-size frame)
        -> ``(2h, 2w, 3)`` uint8 BGR restored frame.

        The result is one of two buffers used in turn: it stays valid until the second following call.
        """
        if self._shape != planes.shape:
            self._setup(planes)
            first = True
        else:
            first = False
        self._colour_sum(planes)
        if first or self._moving % 2:
            # First frame: nothing to compare with. In sustained motion (a pan) every other frame runs
            # whole without the test: it would find the same, and full motion then costs half of it.
            due = np.ones(self._grid, bool)
        else:
            due = self._test.changed(self._test.scores(self._cur, self._ref))
            if self._hint_changed is not None:  # the stage's motion map adds what the tile means cannot see
                due |= self._hinted(self._hint_changed)
        self._hint_changed = None
        self._refresh(due)
        n = int(due.sum())
        self.tiles_seen += due.size
        _, h, w = self._shape
        whole = first or n > self.full_share * due.size
        self._moving = self._moving + 1 if whole and not first else 0
        if whole:
            # The engine's own result is the kept picture: copied into the tile store only if tiles
            # follow, so sustained motion costs no copy.
            self._whole = self.engine.restore_phases(np.ascontiguousarray(planes)[None])
            self._cur, self._ref = self._ref, self._cur  # the reference is now this input everywhere
            n = due.size
        elif n:
            if self._whole is not None:
                self._phases[:, :h, :w] = self._whole
                self._whole = None
            ys, xs = np.nonzero(due)
            self._pad_input(planes)
            done = self.engine.restore_tiles(self._tiles[ys, xs], self._inside[ys, xs])
            t = self.tile
            rows, cols = self._grid
            self._phases.reshape(PLANES, rows, t, cols, t)[:, ys, :, xs, :] = done
            self._ref.reshape(rows, t, cols, t)[ys, :, xs, :] = self._cur.reshape(rows, t, cols, t)[ys, :, xs, :]
        self.tiles_done += n
        self.share = n / due.size
        if n == 0 and self._last is not None:
            return self._last  # nothing restored: the last picture is still exact, no copy
        out = self._outs[0] if self._last is not self._outs[0] else self._outs[1]
        kept = self._whole if self._whole is not None else self._phases[:, :h, :w]
        self._last = interleave_phases(kept, out)
        return self._last

    def _pad_input(self, planes: np.ndarray) -> None:
        """The input into the edge-padded buffer the tiles are cut from."""
        _, h, w = self._shape
        hl, pad = self.halo, self._pad
        pad[:, hl:hl + h, hl:hl + w] = planes
        pad[:, :hl, hl:hl + w] = pad[:, hl:hl + 1, hl:hl + w]
        pad[:, hl + h:, hl:hl + w] = pad[:, hl + h - 1:hl + h, hl:hl + w]
        pad[:, :, :hl] = pad[:, :, hl:hl + 1]
        pad[:, :, hl + w:] = pad[:, :, hl + w - 1:hl + w]

    def _hinted(self, changed: np.ndarray) -> np.ndarray:
        """Tiles a motion map marks (spread by the halo, like the own test's scores)."""
        rows, cols = self._grid
        t, h, w = self.tile, *self._shape[1:]
        grid = np.zeros((rows * t, cols * t), np.uint8)
        grid[:h, :w] = np.asarray(changed, bool)[:h, :w]
        spread = np.ones((t + 2 * self.halo, t + 2 * self.halo), np.uint8)
        return cv2.dilate(grid, spread, anchor=(self.halo, self.halo))[::t, ::t] > 0

    def restore_frame(self, frame: np.ndarray) -> np.ndarray:
        """A same-size model on an ``(H, W, 3)`` uint8 frame of even size: its phase planes
        (:func:`~vcam_sharpen.frames.layout.split_phases`) through :meth:`restore`."""
        shape = (12, frame.shape[0] // 2, frame.shape[1] // 2)
        if self._split is None or self._split.shape != shape:
            self._split = np.empty(shape, np.uint8)
        return self.restore(split_phases(frame, self._split))


class ReuseSlot:
    """The :class:`StaticReuse` of the engine in use, built again when the engine changes (a model switch).
    ``clock``: its refresh clock (eval passes one that advances a frame period per frame, so a score does not
    depend on how fast the machine ran it)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.engine = None
        self.reuse: StaticReuse | None = None
        self.clock = clock

    def get(self, engine, shape: tuple[int, int, int]) -> StaticReuse | None:
        """The reuse for ``engine`` and a ``(C, h, w)`` input, or None where it cannot apply (see the
        module docstring): the caller then runs the whole frame."""
        if engine is not self.engine:
            self.engine = engine
            self.reuse = StaticReuse(engine, floor=FLOOR, clock=self.clock) if tile_halo(engine) is not None else None
        reuse = self.reuse
        return reuse if reuse is not None and reuse.supports(shape) else None

    def hint(self, sigma: float | None = None, changed: np.ndarray | None = None) -> None:
        """Pass a temporal stage's noise sigma and/or motion map (at the model input's size: the half-size
        frame for ``--degrade 2``) to the reuse in use (:meth:`StaticReuse.hint`); nothing where none runs.
        Called by the stage that runs before the model, for the frame about to be restored."""
        if self.reuse is not None:
            self.reuse.hint(sigma=sigma, changed=changed)
