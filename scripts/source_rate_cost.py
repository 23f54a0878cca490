"""CPU of the daemon on a 60 fps source against the same content at 30 fps (the rate-aware worker).

Writes the face clip's every other frame to a 30 fps file in a temporary folder (same frames, same
encoder settings for both), then runs ``vcam-sharpen run --source CLIP --output null --frames N``
on the 60 fps original and on the 30 fps copy, alternately, and prints each run's CPU cores (child
process CPU time / wall time) and its "published ... (processed)" line.

    python scripts/source_rate_cost.py --rounds 2 --frames 300
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import av

FACE = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "video" / "face_1280x720.mp4"


def reencode(src: Path, dst: Path, every: int, fps: int) -> None:
    with av.open(str(src)) as inp, av.open(str(dst), "w") as out:
        stream = out.add_stream("libx264", rate=Fraction(fps))
        stream.width, stream.height, stream.pix_fmt = 1280, 720, "yuv420p"
        stream.options = {"crf": "18", "preset": "veryfast"}
        n = 0
        for i, frame in enumerate(inp.decode(video=0)):
            if i % every == 0:
                f = frame.reformat(format="yuv420p")
                f.pts, f.time_base = n, Fraction(1, fps)
                n += 1
                for packet in stream.encode(f):
                    out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)


def run(clip: Path, args) -> tuple[float, str]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    r = subprocess.run([sys.executable, "-m", "vcam_sharpen", "run", "--source", str(clip), "--output", "null",
                        "--frames", str(args.frames), "--model", args.model, "--skip-static", args.skip_static,
                        "--no-pause-when-unused"],
                       capture_output=True, text=True, check=True)
    wall = time.monotonic() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    line = next((ln for ln in (r.stdout + r.stderr).splitlines() if "published" in ln), "").strip()
    return cpu / wall, line


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=300)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--model", default="student")
    ap.add_argument("--skip-static", default="on")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        c60, c30 = Path(tmp) / "face_60fps.mp4", Path(tmp) / "face_30fps.mp4"
        reencode(FACE, c60, 1, 60)
        reencode(FACE, c30, 2, 30)
        cores = {"60 fps": [], "30 fps": []}
        for _ in range(args.rounds):
            for label, clip in (("60 fps", c60), ("30 fps", c30)):
                c, line = run(clip, args)
                cores[label].append(c)
                print(f"{label}: {c:.3f} cores  {line}", flush=True)
    m60, m30 = statistics.median(cores["60 fps"]), statistics.median(cores["30 fps"])
    print(f"median: 60 fps {m60:.3f} cores, 30 fps {m30:.3f} cores, ratio {m60 / m30:.3f}; load {os.getloadavg()}")


if __name__ == "__main__":
    main()
