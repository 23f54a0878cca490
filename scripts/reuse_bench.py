"""CPU at 30 fps with static-region reuse on and off, run alternately, per clip: the ratio on/off.

For each clip (default: the face clip and every ../shared/data/people/clips/*.mp4) and each round, runs
``vcam-sharpen bench --json --skip-static off`` then ``on`` (same model, size, degrade) and reads the
paced run's ``rows[0].paced.cpu_cores`` and ``tiles_processed``; prints the medians over the rounds and
their ratio. CPU figures are noisy on a shared machine: the load average is printed with them.

    python scripts/reuse_bench.py --rounds 3
    python scripts/reuse_bench.py --model student-wide /path/to/clip.mp4
    python scripts/reuse_bench.py --inprocess   # the same comparison timed in this process
    python scripts/reuse_bench.py --pan    # full motion: CPU per frame of a pan, on against off

``--pan`` instead times, in this process, a pan over the face clip's first frame (shifted 6 pixels a
frame, so every tile changes) through a Sharpener with reuse on and off, alternating in blocks.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from vcam_sharpen.core import loader
from vcam_sharpen.frames.sharpen import Sharpener
from vcam_sharpen.io.inputs import open_source
from vcam_sharpen.runtime.tuning import engine_for_rate

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def bench(clip: str, skip: str, args) -> dict:
    cmd = [sys.executable, "-m", "vcam_sharpen", "bench", "--json", "--models", args.model, "--source", clip,
           "--size", args.size, "--degrade", str(args.degrade), "--skip-static", skip, "--frames", "5",
           "--paced-frames", str(args.paced_frames), "--paced-fps", str(args.fps), "--max-seconds", "60"]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out)["rows"][0]["paced"]


def pan(args) -> None:
    w, h = (int(v) for v in args.size.split("x"))
    src = open_source(str(DATA / "video" / "face_1280x720.mp4"), size=(w, h), fps=30.0, paced=False)
    still = cv2.resize(src.read(), (w + 600, h))
    src.close()
    engine = engine_for_rate(loader.load(args.model), args.fps, (w, h), degrade=args.degrade)
    frames = [np.ascontiguousarray(still[:, 6 * i: 6 * i + w]) for i in range(100)]
    off, on, share = alternate(engine, frames, args)
    print(f"pan, {args.model} {args.size}: CPU ms/frame off {off:.2f} on {on:.2f} ratio {on / off:.3f} "
          f"(tiles restored {share * 100:.0f}%); load {os.getloadavg()}")


def alternate(engine, frames: list, args) -> tuple[float, float, float]:
    """Median process CPU ms per frame with reuse off and on (blocks over ``frames``, alternating),
    and the share of tiles restored with it on."""
    cpu = {"on": [], "off": []}
    sharps = {k: Sharpener(engine, degrade=args.degrade) for k in cpu}
    sharps["off"].skip_static = False
    for k in cpu:
        sharps[k].process(frames[0])
    reuse = sharps["on"]._reuse.reuse
    if reuse is not None:  # the refresh as at the output rate, however fast this loop runs
        ticks = iter(range(1, 1 << 30))
        reuse.clock = lambda: next(ticks) / args.fps
    for _ in range(args.rounds):
        for k in ("off", "on"):
            t = time.process_time()
            for f in frames:
                sharps[k].process(f)
            cpu[k].append((time.process_time() - t) / len(frames) * 1e3)
    done, seen = sharps["on"].tile_counts
    return statistics.median(cpu["off"]), statistics.median(cpu["on"]), done / max(seen, 1)


def inprocess(clips: list[str], args) -> None:
    """Consecutive frames of each clip (as the paced bench plays them) timed in this process."""
    w, h = (int(v) for v in args.size.split("x"))
    engine = engine_for_rate(loader.load(args.model), args.fps, (w, h), degrade=args.degrade)
    print(f"in-process, {engine.describe()}, {w}x{h}, --degrade {args.degrade}, {args.frames} consecutive "
          f"frames per clip, {args.rounds} alternating rounds; load {os.getloadavg()}")
    print(f"{'clip':24} {'off ms/fr':>9} {'on ms/fr':>9} {'ratio':>6} {'tiles on':>8} {'on cores@30':>11}")
    for clip in clips:
        src = open_source(clip, size=(w, h), fps=30.0, paced=False)
        frames = []
        while len(frames) < args.frames:
            f = src.read()
            if f is None:
                break
            frames.append(f if f.shape[:2] == (h, w) else cv2.resize(f, (w, h), interpolation=cv2.INTER_AREA))
            if args.still is not None:
                rng = np.random.default_rng(0)
                frames = [np.clip(frames[0] + rng.normal(0, args.still, frames[0].shape), 0, 255).astype(np.uint8)
                          for _ in range(args.frames)]
                break
        src.close()
        off, on, share = alternate(engine, frames, args)
        print(f"{Path(clip).name:24} {off:9.2f} {on:9.2f} {on / off:6.2f} {share * 100:7.0f}% "
              f"{on * args.fps / 1000:11.3f}", flush=True)
    print(f"load after: {os.getloadavg()}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("clips", nargs="*")
    ap.add_argument("--model", default="student")
    ap.add_argument("--size", default="1280x720")
    ap.add_argument("--degrade", type=int, default=2)
    ap.add_argument("--fps", type=float, default=30.0)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--paced-frames", type=int, default=150)
    ap.add_argument("--pan", action="store_true", help="time a pan (full motion) in-process instead")
    ap.add_argument("--inprocess", action="store_true",
                    help="time the clips' consecutive frames in this process (CPU ms per frame; steadier than "
                         "the paced bench on a busy machine)")
    ap.add_argument("--frames", type=int, default=60, help="frames per clip with --inprocess")
    ap.add_argument("--still", type=float, default=None, metavar="SIGMA",
                    help="with --inprocess: each clip's first frame held still, with fresh Gaussian noise of "
                         "SIGMA grey levels in every frame (a webcam on a quiet scene)")
    args = ap.parse_args()
    if args.pan:
        return pan(args)
    clips = args.clips or [str(DATA / "video" / "face_1280x720.mp4"),
                           *sorted(glob.glob(str(DATA / "people" / "clips" / "*.mp4")))]
    if args.inprocess:
        return inprocess(clips, args)
    print(f"model {args.model}, {args.size} at {args.fps:g} fps, --degrade {args.degrade}, "
          f"{args.rounds} alternating rounds of {args.paced_frames} paced frames; load {os.getloadavg()}")
    print(f"{'clip':24} {'off cores':>9} {'on cores':>9} {'ratio':>6} {'tiles on':>8} {'kept fps on':>11}")
    for clip in clips:
        off, on = [], []
        for _ in range(args.rounds):
            off.append(bench(clip, "off", args))
            on.append(bench(clip, "on", args))
        c_off = statistics.median(r["cpu_cores"] for r in off)
        c_on = statistics.median(r["cpu_cores"] for r in on)
        tiles = statistics.median(r.get("tiles_processed", 1.0) for r in on)
        fps = statistics.median(r["fps"] for r in on)
        print(f"{Path(clip).name:24} {c_off:9.3f} {c_on:9.3f} {c_on / c_off:6.2f} {tiles * 100:7.0f}% {fps:11.1f}",
              flush=True)
    print(f"load after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
