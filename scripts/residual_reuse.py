"""Reusing a tile's output against reusing its correction: SSIM lost per share of tiles restored, and the cost.

Static-region reuse (``vcam_sharpen/frames/reuse.py``) keeps a skipped tile's last *output*. Another choice
keeps its last *correction* (the network's output less the bilinear upscale of the input it was restored
from) and adds it to the bilinear upscale of the new input: a change the tile test lets through then moves
the picture as bilinear moves it instead of not at all. Both are simulated here on the same tile decisions
(16x16 half-size tiles plus the model's halo; a tile is restored when the mean absolute difference of its
BGR sum from the input it was last restored from exceeds ``floor``; every tile at least once a second), from
whole-frame outputs of the model, so no tile graph is involved. Printed per clip and floor: the share of
tiles restored and each choice's mean SSIM against the clean frame less that of whole-frame inference.

Then the cost on this machine (one thread, median of 30): the whole-frame engine call, the tile batch at
the shares printed, and the correction's own pass over the frame (the input difference, upscaled and added
to the output), which the correction needs on every frame where any tile was skipped.

    python scripts/residual_reuse.py                            # the face clip, floors 1, 2, 4, 8
    python scripts/residual_reuse.py --frames 30 --floors 1,2,3,4 CLIP.mp4
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import cv2
import numpy as np

from vcam_sharpen.core import loader
from vcam_sharpen.frames.sharpen import BilinearUpscaler, BoxDownscaler
from vcam_sharpen.io.inputs import open_source
from vcam_sharpen.quality.metrics import ssim
from vcam_sharpen.runtime.engines import create_engine

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
TILE = 16


def rgb(frame: np.ndarray) -> np.ndarray:
    return frame[:, :, ::-1].astype(np.float32) / 255.0


def read(path: str, frames: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Clean 1280x720 frames (a 60 fps clip at every other frame, as the daemon publishes it at 30 fps) and
    their half-size planes."""
    src = open_source(path, size=(1280, 720), fps=30.0, paced=False)
    step, box, full, half, i = max(1, round(src.fps / 30)), BoxDownscaler(), [], [], 0
    while len(full) < frames:
        f = src.read()
        if f is None:
            break
        i += 1
        if (i - 1) % step:
            continue
        if f.shape[:2] != (720, 1280):
            f = cv2.resize(f, (1280, 720), interpolation=cv2.INTER_AREA)
        full.append(f)
        half.append(box.planar(f).copy())
    src.close()
    return full, half


def simulate(full, half, outs, bils, whole, halo: int, floor: float) -> tuple[float, float, float]:
    """(share restored, SSIM loss keeping outputs, SSIM loss keeping corrections) against whole frames, whose
    SSIM per frame is ``whole``."""
    h, w = half[0].shape[1:]
    rows, cols = -(-h // TILE), -(-w // TILE)
    ref = half[0].astype(np.int16).sum(0)
    kept_out, kept_fix = outs[0].astype(np.int16), outs[0].astype(np.int16) - bils[0]
    shares, loss_out, loss_fix, nxt = [], [], [], 0
    for k in range(1, len(full)):
        cur = half[k].astype(np.int16).sum(0)
        diff = np.abs(cur - ref).astype(np.float32)
        win = TILE + 2 * halo
        score = cv2.boxFilter(diff, -1, (win, win), anchor=(halo, halo), borderType=cv2.BORDER_CONSTANT)
        due = score[::TILE, ::TILE][:rows, :cols] > floor
        n = due.size
        refresh = max(1, round(n / 30))  # every tile at least once a second at 30 fps
        due.reshape(-1)[(nxt + np.arange(refresh)) % n] = True
        nxt = (nxt + refresh) % n
        shares.append(due.mean())
        big = np.repeat(np.repeat(due, 2 * TILE, 0), 2 * TILE, 1)[: 2 * h, : 2 * w, None]
        ref = np.where(np.repeat(np.repeat(due, TILE, 0), TILE, 1)[:h, :w], cur, ref)
        out = outs[k].astype(np.int16)
        kept_out = np.where(big, out, kept_out)
        kept_fix = np.where(big, out - bils[k], kept_fix)
        loss_out.append(ssim(rgb(full[k]), rgb(kept_out.clip(0, 255).astype(np.uint8))) - whole[k])
        loss_fix.append(ssim(rgb(full[k]), rgb((bils[k] + kept_fix).clip(0, 255).astype(np.uint8))) - whole[k])
    return float(np.mean(shares)), float(np.mean(loss_out)), float(np.mean(loss_fix))


def median_ms(fn, n: int = 30) -> float:
    fn()
    times = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return float(np.median(times)) * 1e3


def costs(engine, planes: np.ndarray, shares: list[float]) -> None:
    """Whole-frame call, tile batches at ``shares``, and the correction pass, in ms per 1280x720 frame."""
    _, h, w = planes.shape
    n_tiles = -(-h // TILE) * -(-w // TILE)
    s = TILE + 2 * engine.tile_halo()
    rng = np.random.default_rng(0)
    print(f"  whole frame: {median_ms(lambda: engine.restore_planar(planes)):.2f} ms")
    for share in shares:
        n = max(1, round(share * n_tiles))
        tiles = rng.integers(0, 256, (n, 3, s, s), np.uint8)
        inside = np.ones((n, 1, s, s), np.float32)
        print(f"  tiles at share {share:.2f}: {median_ms(lambda: engine.restore_tiles(tiles, inside)):.2f} ms")
    prev, out = planes.copy(), np.zeros((2 * h, 2 * w, 3), np.uint8)
    up = [np.empty((2 * h, 2 * w), np.int16) for _ in range(3)]
    delta = np.empty(planes.shape, np.int16)

    def correction() -> None:
        np.subtract(planes, prev, out=delta, dtype=np.int16)
        for c in range(3):
            cv2.resize(delta[c], (2 * w, 2 * h), dst=up[c], interpolation=cv2.INTER_LINEAR)
        cv2.add(out, cv2.merge(up), dst=out, dtype=cv2.CV_8U)

    print(f"  correction pass: {median_ms(correction):.2f} ms")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="student")
    ap.add_argument("--frames", type=int, default=30)
    ap.add_argument("--floors", default="1,2,4,8")
    ap.add_argument("clips", nargs="*")
    args = ap.parse_args()
    engine = create_engine(loader.load(args.model), threads=1)
    cv2.setNumThreads(1)
    for path in args.clips or [str(DATA / "video" / "face_1280x720.mp4")]:
        full, half = read(path, args.frames)
        outs = [engine.restore_planar(p).copy() for p in half]
        up = BilinearUpscaler()
        bils = [up.planar(p).copy() for p in half]
        whole = [ssim(rgb(f), rgb(o)) for f, o in zip(full, outs)]  # once: the same for every floor
        print(f"{Path(path).name}: {len(full)} frames, {args.model}")
        shares = []
        for floor in (float(f) for f in args.floors.split(",")):
            share, loss_out, loss_fix = simulate(full, half, outs, bils, whole, engine.tile_halo(), floor)
            shares.append(share)
            print(f"  floor {floor:4.1f}: tiles restored {share:4.0%}   SSIM keeping outputs {loss_out:+.4f}"
                  f"   keeping corrections {loss_fix:+.4f}")
        costs(engine, half[0], shares)


if __name__ == "__main__":
    main()
