"""Static-region reuse against whole-frame inference on real clips: the share of tiles restored and SSIM.

Every frame of each clip (at --size, every --step-th frame) goes through two Sharpeners built as the
daemon builds them (same model, --degrade 2), one with ``skip_static`` on and one off; printed per clip:
the share of tiles restored, SSIM of each output against the clean frame, and SSIM between the two
outputs (on every --every-th frame). ``--noise SIGMA`` adds Gaussian sensor noise (fixed seed) first.

    python scripts/reuse_quality.py --frames 120
"""

from __future__ import annotations

import argparse
import glob
from pathlib import Path

import cv2
import numpy as np

from vcam_sharpen.core import loader
from vcam_sharpen.frames import reuse
from vcam_sharpen.frames.sharpen import Sharpener
from vcam_sharpen.io.inputs import open_source
from vcam_sharpen.quality.metrics import ssim
from vcam_sharpen.runtime.noiseaware import create_any

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def clips() -> list[str]:
    return [str(DATA / "video" / "face_1280x720.mp4"), *sorted(glob.glob(str(DATA / "people" / "clips" / "*.mp4")))]


def rgb(frame: np.ndarray) -> np.ndarray:
    return frame[:, :, ::-1].astype(np.float32) / 255.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="student")
    ap.add_argument("--frames", type=int, default=120)
    ap.add_argument("--every", type=int, default=4, help="SSIM on every n-th frame")
    ap.add_argument("--noise", type=float, default=0.0)
    ap.add_argument("--degrade", type=int, default=2)
    ap.add_argument("--floor", type=float, default=None, help="change-score floor (default: reuse.FLOOR)")
    ap.add_argument("--step", type=int, default=None, help="use every n-th frame (default: fps / 30)")
    ap.add_argument("clips", nargs="*")
    args = ap.parse_args()
    rows = []
    for path in args.clips or clips():
        src = open_source(path, size=(1280, 720), fps=30.0, paced=False)
        step = args.step or max(1, round(src.fps / 30))  # a 60 fps clip published at 30 fps: every other frame
        # an engine each: the noise-aware pair keeps its choice in its engine
        on, off = (Sharpener(create_any(loader.load(args.model), threads=1), degrade=args.degrade) for _ in range(2))
        off.skip_static = False
        if args.floor is not None:
            reuse.FLOOR = args.floor  # read when the sharpener builds its reuse
        rng = np.random.default_rng(0)
        s_on, s_off, s_pair, done, seen = [], [], [], 0, 0
        for i in range(args.frames * step):
            frame = src.read()
            if frame is None:
                break
            if i % step:
                continue
            if frame.shape[:2] != (720, 1280):
                frame = cv2.resize(frame, (1280, 720), interpolation=cv2.INTER_AREA)
            noisy = frame
            if args.noise:
                noisy = np.clip(frame + rng.normal(0, args.noise, frame.shape), 0, 255).astype(np.uint8)
            a, b = on.process(noisy), off.process(noisy)
            n = i // step
            if n >= 1:  # the first frame is whole for both
                d, s = on.tile_counts
                done, seen = d, s
            if n % args.every == 0:
                s_on.append(ssim(rgb(frame), rgb(a)))
                s_off.append(ssim(rgb(frame), rgb(b)))
                s_pair.append(ssim(rgb(a), rgb(b)))
        src.close()
        share = done / seen if seen else float("nan")
        row = (Path(path).name, share, np.mean(s_on), np.mean(s_off), np.mean(s_on) - np.mean(s_off),
               np.mean(s_pair), np.min(s_pair))
        rows.append(row)
        print("%-22s tiles %.3f  ssim on %.4f off %.4f (on-off %+.4f)  on vs off mean %.4f min %.4f" % row,
              flush=True)


if __name__ == "__main__":
    main()
