"""How much of each clip changes from one frame to the next: the ceiling on what static-region reuse can skip.

For each clip, the frames are scaled to 1280x720 and box-averaged to the half-size frame the 2x model reads
(as the daemon does with ``--degrade 2``); each 16x16 half-size tile (a 32-pixel tile of the output) gets the
mean absolute difference of its BGR sum from the same tile ``step`` frames earlier (``step`` 1: consecutive
frames; 2: every other frame of a 60 fps clip, as the rate-aware worker publishes it at 30 fps). Prints the
percentiles of that score and the share of tiles above 1, 2 and 4 (the reuse change test's default floor is
1.0: a third of a grey level per channel, the most a reused tile may differ by for the output to stay within
0.001 SSIM of full inference, docs/reuse.md).

    python scripts/tile_change.py                       # the face clip and every people clip
    python scripts/tile_change.py --frames 60 CLIP.mp4
"""

from __future__ import annotations

import argparse
import glob
from pathlib import Path

import cv2
import numpy as np

from vcam_sharpen.frames.sharpen import BoxDownscaler
from vcam_sharpen.quality.sequence import read_consecutive

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
TILE = 16


def half_frames(path: str, count: int) -> list[np.ndarray]:
    """The first ``count`` frames at 1280x720, through the daemon's 2x2 box downscale, float32 ``(360, 640, 3)``."""
    box = BoxDownscaler()
    return [box.hwc(cv2.resize(f, (1280, 720), interpolation=cv2.INTER_AREA)).astype(np.float32)
            for f in read_consecutive(Path(path), count)]


def scores(frames: list[np.ndarray], step: int) -> np.ndarray:
    h, w = (frames[0].shape[0] // TILE) * TILE, (frames[0].shape[1] // TILE) * TILE
    per = []
    for a, b in zip(frames[:-step], frames[step:]):
        d = np.abs(b - a).sum(2)[:h, :w]
        per.append(d.reshape(h // TILE, TILE, w // TILE, TILE).mean((1, 3)).ravel())
    return np.concatenate(per)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("clips", nargs="*")
    ap.add_argument("--frames", type=int, default=61)
    args = ap.parse_args()
    clips = args.clips or [str(DATA / "video" / "face_1280x720.mp4"),
                           *sorted(glob.glob(str(DATA / "people" / "clips" / "*.mp4")))]
    print("| clip | step | p25 | p50 | p75 | share > 1 | share > 2 | share > 4 |")
    print("|---|---|---|---|---|---|---|---|")
    for clip in clips:
        frames = half_frames(clip, args.frames)
        for step in (1, 2):
            s = scores(frames, step)
            p = np.percentile(s, [25, 50, 75])
            print(f"| {Path(clip).stem} | {step} | {p[0]:.2f} | {p[1]:.2f} | {p[2]:.2f} | {(s > 1).mean():.0%} "
                  f"| {(s > 2).mean():.0%} | {(s > 4).mean():.0%} |")


if __name__ == "__main__":
    main()
