"""The figures of docs/temporal.md that are not one eval command.

    python scripts/temporal_figures.py noise             # the noise estimates on clean, noisy and compressed frames
    python scripts/temporal_figures.py cost [FRAMES ROUNDS THREADS]  # the stage's ms per frame, 640x360, 1280x720
    python scripts/temporal_figures.py versus CHECKOUT [FRAMES ROUNDS THREADS]  # ms per 640x360 frame, this stage
                                                         # and another checkout's, alternately, several conditions
    python scripts/temporal_figures.py crop OUT.png      # before/after crop, face clip, noise:5, frame 30
    python scripts/temporal_figures.py tables DIR        # markdown tables + target checks from eval JSON files

``tables`` reads ``DIR/CLIP-off.json`` (--temporal off rows), ``DIR/CLIP-auto.json`` (auto and the peers) and
``DIR/CLIP-on.json`` (--temporal on rows), written by the eval commands in docs/temporal.md.
"""

from __future__ import annotations

import importlib
import json
import sys
import types
import time
from pathlib import Path

import cv2
import numpy as np

from vcam_sharpen.core.corrupt import parse_corruption
from vcam_sharpen.frames.sharpen import BoxDownscaler
from vcam_sharpen.frames.noise import estimate_noise, grid_noise, luma_grid
from vcam_sharpen.frames.temporal import TemporalDenoiser
from vcam_sharpen.quality.sequence import corrupt_planes, read_consecutive, sharpener_outputs

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
FACE = DATA / "video" / "face_1280x720.mp4"
CLIPS = ["face_1280x720", "liveportrait_d10", "liveportrait_d12", "liveportrait_d13", "liveportrait_d3"]
CONDS = ["noise:5", "camera", "clean"]


def noise() -> None:
    """Spatial (estimate_noise) and frame-to-frame (grid_noise, two independently corrupted copies of the frame)
    luma / chroma estimates: clean, Gaussian noise 2 and 5, and noise 5 then JPEG quality 50 (4:2:0)."""
    pics = {"face_1280x720 frame 0": read_consecutive(FACE, 2)[0],
            "liveportrait_d10 frame 0": read_consecutive(DATA / "people/clips/liveportrait_d10.mp4", 2)[0],
            "hr/bsds500train_100080": cv2.imread(str(DATA / "hr/bsds500train_100080.png"))[:480],
            "hr/strecha_fountain-P11_0000": cv2.imread(str(DATA / "hr/strecha_fountain-P11_0000.png"))}
    rng = np.random.default_rng(0)
    jpeg = parse_corruption("jpeg:50")
    for name, img in pics.items():
        small = BoxDownscaler().planar(img).copy()
        cells = []
        for s, codec in ((0, False), (2, False), (5, False), (5, True)):
            pair = []
            for _ in range(2):
                x = np.clip(small + rng.normal(0, s, small.shape), 0, 255).round().astype(np.uint8) if s else small
                if codec:
                    x = corrupt_planes(x, jpeg, rng)
                pair.append(x)
            subs = [p[:, ::4, ::4].astype(np.float32) for p in pair]
            t = grid_noise((subs[0], subs[1]), [luma_grid(subs[0]), luma_grid(subs[1])])
            cells.append("%.2f / %.2f" % estimate_noise(pair[0]) + (" ; %.2f / %.2f" % t["sigma"] if t else " ; -"))
        print(f"| {name} | " + " | ".join(cells) + " |")


def cost(frames: int = 60, rounds: int = 5, threads: int = 0) -> None:
    """Best-of-``rounds`` mean ms (wall and process CPU) per frame of the stage in mode on, noise:5 frames;
    ``threads`` > 0 sets OpenCV's thread count (0: its default)."""
    if threads > 0:
        cv2.setNumThreads(threads)
    full = read_consecutive(FACE, frames)
    rng = np.random.default_rng(0)
    box = BoxDownscaler()
    smalls = [np.clip(box.planar(f) + rng.normal(0, 5, (3, 360, 640)), 0, 255).astype(np.uint8) for f in full]
    fulls = [np.clip(f + rng.normal(0, 5, f.shape), 0, 255).astype(np.uint8) for f in full]
    for name, seq, call in (("640x360 planar (--degrade 2)", smalls, "planar"),
                            ("1280x720 (--degrade 1)", fulls, "hwc")):
        best = (1e9, 1e9)
        for _ in range(rounds):
            td = TemporalDenoiser("on")
            td.warm()  # the update compiled (or loaded from Numba's cache) before the clock starts
            fn = getattr(td, call)
            w, c = time.perf_counter(), time.process_time()
            for f in seq:
                fn(f)
            best = min(best, ((time.perf_counter() - w) / len(seq) * 1e3, (time.process_time() - c) / len(seq) * 1e3))
        print(f"{name}: {best[0]:.2f} ms wall, {best[1]:.2f} ms CPU per frame (OpenCV threads: "
              f"{cv2.getNumThreads()}, load {open('/proc/loadavg').read().split()[0]})")


def _other_stage(checkout: str):
    """TemporalDenoiser of another checkout's frames/temporal.py (its package's __init__ is not run)."""
    pkg = types.ModuleType("other_frames")
    pkg.__path__ = [str(Path(checkout) / "vcam_sharpen" / "frames")]
    sys.modules["other_frames"] = pkg
    return importlib.import_module("other_frames.temporal").TemporalDenoiser


def versus(checkout: str, frames: int = 40, rounds: int = 5, threads: int = 0) -> None:
    """Mean ms per 640x360 planar frame of this stage and ``checkout``'s, the two run alternately (a round of
    each, ``rounds`` times: load weighs on both alike), best and median round; noise:5 and clean frames of the
    face clip, mode on and auto. ``checkout``: a path to another work tree (e.g. ``git worktree add`` of an
    earlier commit)."""
    if threads > 0:
        cv2.setNumThreads(threads)
    stages = {"this": TemporalDenoiser, checkout: _other_stage(checkout)}
    full = read_consecutive(FACE, frames)
    box = BoxDownscaler()
    clean = [box.planar(f).copy() for f in full]
    rng = np.random.default_rng(0)
    noisy = [np.clip(c + rng.normal(0, 5, c.shape), 0, 255).astype(np.uint8) for c in clean]
    for cond, seq in (("noise:5", noisy), ("clean", clean)):
        for mode in ("on", "auto"):
            times: dict = {name: [] for name in stages}
            for _ in range(rounds):
                for name, cls in stages.items():
                    td = cls(mode)
                    getattr(td, "warm", lambda: None)()  # compiled before the clock starts (an older stage has none)
                    w = time.perf_counter()
                    for f in seq:
                        td.planar(f)
                    times[name].append((time.perf_counter() - w) / len(seq) * 1e3)
            cells = [f"{name}: best {min(t):.2f}, median {sorted(t)[len(t) // 2]:.2f}" for name, t in times.items()]
            print(f"{cond:8s} {mode:4s} ms/frame  " + " | ".join(cells) + f"  (OpenCV threads {cv2.getNumThreads()}, "
                  f"load {open('/proc/loadavg').read().split()[0]})")


def crop(path: str) -> None:
    frames = read_consecutive(FACE, 31)
    cond = parse_corruption("noise:5")
    x, y, w, h = 520, 120, 240, 200
    panels = []
    for label, spec, mode, reuse in (("bilinear, single frame", None, "off", False),
                                     ("student, single frame", "student", "off", False),
                                     ("default: temporal + noise-aware", "noise-aware", "auto", True),
                                     ("student-wide + temporal", "student-wide", "on", False)):
        out = list(sharpener_outputs(frames, spec, mode, cond, 0, skip_static=reuse))[-1]
        panels.append((label, out[y:y + h, x:x + w]))
    panels.append(("clean frame", frames[-1][y:y + h, x:x + w]))
    tiles = []
    for label, img in panels:
        head = np.full((22, w, 3), 255, np.uint8)
        cv2.putText(head, label, (4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (0, 0, 0), 1, cv2.LINE_AA)
        tiles.append(np.vstack([head, img]))
    cv2.imwrite(path, np.hstack(tiles), [cv2.IMWRITE_PNG_COMPRESSION, 9])


def tables(folder: str) -> None:
    def load(n, kind):
        p = Path(folder) / f"{n}-{kind}.json"
        return json.loads(p.read_text()) if p.is_file() and p.stat().st_size else []

    order = ["bilinear (single frame)", "student (single frame)", "student-clean (single frame)", "auto",
             "atadenoise", "fftdnoiz", "bilinear + temporal on", "student + temporal on",
             "student-clean + temporal on", "student-wide + temporal on"]
    checks = []
    for n in CLIPS:
        rows: dict = {}
        for kind, suffix in (("off", " (single frame)"), ("auto", ""), ("on", " + temporal on")):
            for r in load(n, kind):
                rows.setdefault(r["label"] + suffix, {})[r["condition"]] = r
        if not rows:
            continue
        print(f"\n**{n}.mp4**, 60 consecutive frames: SSIM / PSNR dB / flicker (grey levels)\n")
        print("| row | model | " + " | ".join(CONDS) + " | CPU ms/frame |")
        print("|---|---|" + "---:|" * len(CONDS) + "---:|")
        for key in order:
            if key not in rows:
                continue
            any_row = next(iter(rows[key].values()))
            cells = [f"{r['ssim']:.4f} / {r['psnr']:.2f} / {r['flicker']:.2f}" if (r := rows[key].get(c)) else "-"
                     for c in CONDS]
            ms = ", ".join(f"{rows[key][c]['ms']:.1f}" for c in CONDS if c in rows[key] and "ms" in rows[key][c])
            ms = ms or ", ".join(f"{rows[key][c]['temporal_ms']:.1f} (stage)" for c in CONDS
                                 if c in rows[key] and "temporal_ms" in rows[key][c])
            print(f"| {key} | {any_row.get('model') or any_row['label']} | " + " | ".join(cells) + f" | {ms or '-'} |")

        def g(key, cond, field):
            return rows.get(key, {}).get(cond, {}).get(field)

        try:
            line = [n]
            for c, ds, dp in (("noise:5", 0.05, 2.0), ("camera", 0.02, 1.0)):
                s = g("auto", c, "ssim") - g("bilinear (single frame)", c, "ssim")
                p = g("auto", c, "psnr") - g("bilinear (single frame)", c, "psnr")
                line.append(f"{c} {s:+.4f} SSIM {p:+.2f} dB ({'met' if s >= ds and p >= dp else 'not met'})")
            d = g("auto", "clean", "ssim") - g("student-clean (single frame)", "clean", "ssim")
            line.append(f"clean vs student-clean {d:+.4f} ({'met' if d >= -0.002 else 'not met'})")
            f1, f2 = g("auto", "noise:5", "flicker"), g("student (single frame)", "noise:5", "flicker")
            line.append(f"flicker {f1:.2f} vs student's {f2:.2f} ({'met' if f1 <= f2 / 2 else 'not met'})")
            a_s, a_p = g("auto", "noise:5", "ssim"), g("auto", "noise:5", "psnr")
            line.append(f"vs atadenoise {a_s - g('atadenoise', 'noise:5', 'ssim'):+.4f} SSIM "
                        f"{a_p - g('atadenoise', 'noise:5', 'psnr'):+.2f} dB")
            line.append(f"vs fftdnoiz {a_p - g('fftdnoiz', 'noise:5', 'psnr'):+.2f} dB")
            checks.append(" | ".join(line))
        except TypeError:  # a file not written yet
            pass
    print("\nTargets (the auto row against single-frame bilinear, noise:5 for the peers):\n")
    print("\n".join(f"- {c}" for c in checks))


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd in ("cost", "versus"):
        args = args[:1] * (cmd == "versus") + [int(a) for a in args[cmd == "versus":]]
    {"noise": noise, "cost": cost, "versus": versus, "crop": crop, "tables": tables}[cmd](*args)
