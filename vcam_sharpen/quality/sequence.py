"""Scoring on consecutive video frames: the daemon's own per-frame path, state carried from frame to frame.

``vcam-sharpen eval --dataset CLIP.mp4 --consecutive N``. Each row runs a real
:class:`~vcam_sharpen.frames.sharpen.Sharpener` (``degrade=2``) over the first N frames in order, so the
temporal stage sees what it sees in the daemon. The 2x protocol as ``eval --corrupt`` has it for videos: the
frame is box-downscaled by 2 (in the Sharpener, in uint8), the half-size frame ``i`` is corrupted alone with
the generator ``[seed, i]`` (:class:`HalfSizeCorruption`), and the output is scored against the clean
full-size frame. Besides mean SSIM and PSNR each row has **flicker**: the mean absolute difference between
the output's frame-to-frame change and the clean frames' change, in grey levels (lower is steadier).

Peers (rows ``atadenoise`` and ``fftdnoiz``): FFmpeg's temporal denoisers through PyAV's filter graph on the
same corrupted half-size frames, then the exact bilinear upscale; their CPU milliseconds per frame are
reported (``ms``).
"""

from __future__ import annotations

import time
from fractions import Fraction
from pathlib import Path
from typing import Callable, Iterable

import av
import cv2
import numpy as np

from ..core import loader
from ..core.corrupt import Corruption
from ..core.errors import UserError
from ..frames.reuse import ReuseSlot
from ..frames.sharpen import BilinearUpscaler, BoxDownscaler, Sharpener
from ..frames.temporal import MODES
from ..io.sources import check_video_file
from ..runtime.noiseaware import create_any
from ..runtime.tuning import resolve
from .datasets import IMAGE_SUFFIXES
from .metrics import psnr

DAEMON_FPS = 30.0  # the daemon's default rate: the pace of the consecutive frames for static-region reuse

# FFmpeg peers: row name -> filter and arguments (documented in docs/temporal.md). atadenoise: thresholds
# tuned on noise sigma 5 (its defaults, 0.02/0.04, leave most of it), 9 frames (4 of delay, 4 ahead);
# fftdnoiz: causal (one previous frame, no next), sigma 5.
PEERS = {
    "atadenoise": ("atadenoise", "0a=0.06:0b=0.12:1a=0.06:1b=0.12:2a=0.06:2b=0.12:s=9"),
    "fftdnoiz": ("fftdnoiz", "sigma=5:prev=1:next=0"),
}


def read_consecutive(path: Path, count: int) -> list[np.ndarray]:
    """The first ``count`` frames of a video, as ``(H, W, 3)`` uint8 BGR (the daemon's layout)."""
    check_video_file(path)
    frames = []
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            frames.append(frame.to_ndarray(format="bgr24"))
            if len(frames) == count:
                break
    if len(frames) < 2:
        raise UserError(f"{path} has {len(frames)} frame(s); --consecutive needs at least 2")
    return frames


def pan_sequence(photo: np.ndarray, count: int, step: int = 8) -> list[np.ndarray]:
    """A synthetic fast pan with a cut: a window as tall as ``photo`` moving ``step`` px per frame across it
    for the first half of the ``count`` frames, then (the cut) across the photo turned upside down and
    mirrored. ``(H, W, 3)`` uint8 in, frames ``(h, w, 3)`` uint8 out (even sizes, same channel order)."""
    cut = count // 2
    scenes = (photo, np.ascontiguousarray(photo[::-1, ::-1]))
    h, w = photo.shape[0] // 2 * 2, (photo.shape[1] - step * max(cut, count - cut)) // 2 * 2
    if w < 32 or h < 32:
        raise UserError(f"a {photo.shape[1]}x{photo.shape[0]} picture is too small for a {count}-frame pan of "
                        f"{step} px per frame: use fewer frames or a wider picture")
    out = []
    for i in range(count):
        scene, j = (scenes[0], i) if i < cut else (scenes[1], i - cut)
        out.append(np.ascontiguousarray(scene[:h, j * step: j * step + w]))
    return out


def load_sequence(dataset: str, count: int) -> list[np.ndarray]:
    """``--consecutive`` frames: the first ``count`` of a video file, or a pan with a cut over a picture file
    (:func:`pan_sequence`); BGR uint8."""
    path = Path(dataset)
    if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES:
        photo = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if photo is None:
            raise UserError(f"cannot read picture {path}; save it again as PNG")
        return pan_sequence(photo, count)
    if not path.is_file():
        raise UserError(f"--consecutive needs --dataset to be a video file (or a picture for a synthetic pan); "
                        f"{dataset!r} is not a file")
    return read_consecutive(path, count)


def corrupt_planes(planes: np.ndarray, corruption: Corruption, rng: np.random.Generator) -> np.ndarray:
    """``(3, h, w)`` BGR uint8 planes -> ``corruption`` applied with ``rng`` (corruptions take RGB ``(h, w, 3)``,
    so the planes are turned around for it and back)."""
    rgb = np.ascontiguousarray(planes[::-1].transpose(1, 2, 0))
    return np.ascontiguousarray(corruption.apply(rgb, rng).transpose(2, 0, 1)[::-1])


class HalfSizeCorruption(BoxDownscaler):
    """The Sharpener's box downscaler, then ``corruption`` on the half-size frame (frame ``i`` of the
    sequence with the generator ``[seed, i]``), as ``eval --corrupt`` does; corruptions take RGB, so the
    BGR planes are turned around for them."""

    def __init__(self, corruption: Corruption | None, seed: int = 0) -> None:
        super().__init__()
        self.corruption, self.seed, self.index = corruption, seed, 0

    def corrupt_planes(self, planes: np.ndarray) -> np.ndarray:
        """``(3, h, w)`` BGR uint8 -> the corrupted planes (frame :attr:`index`; advances it)."""
        i, self.index = self.index, self.index + 1
        if self.corruption is None or self.corruption.is_clean:
            return planes
        return corrupt_planes(planes, self.corruption, np.random.default_rng([self.seed, i]))

    def planar(self, frame: np.ndarray) -> np.ndarray:
        return self.corrupt_planes(super().planar(frame))

    def hwc(self, frame: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(self.planar(frame).transpose(1, 2, 0))


def sharpener_outputs(frames: Iterable[np.ndarray], spec: str | None, temporal: str,
                      corruption: Corruption | None, seed: int = 0, info: dict | None = None,
                      skip_static: bool = False) -> Iterable[np.ndarray]:
    """The daemon's outputs for ``frames`` (BGR uint8) with model ``spec`` (None: no network; ``noise-aware``: the
    pair, its fade and hold for the daemon's default 30 fps) and the temporal stage in mode ``temporal``; with
    ``skip_static``, static-region reuse as the daemon runs it, paced at 30 fps. Each yielded frame is a copy.
    ``info`` gets ``noise_aware``, the pair's state after the last frame, where it ran."""
    engine = create_any(loader.load(spec)) if spec else None
    sharpener = Sharpener(engine, degrade=2, temporal=temporal)
    sharpener.temporal.warm()  # compiled before the first frame, as in the daemon: temporal_ms is the stage's own
    sharpener.skip_static = skip_static
    sharpener._box = HalfSizeCorruption(corruption, seed)  # the corruption enters where the camera's would
    # static-region reuse refreshes every tile once a second: count seconds as the daemon at 30 fps would see
    # them, not the wall clock, so a score is the same on a fast and on a loaded machine
    clock = {"t": 0.0}
    sharpener._reuse = ReuseSlot(clock=lambda: clock["t"])
    stage_ms = 0.0
    for i, frame in enumerate(frames):
        clock["t"] = i / DAEMON_FPS
        out = sharpener.process(frame).copy()
        stage_ms += sharpener.timings["temporal"]
        if info is not None:  # kept up to date: the scorer may stop reading early
            if hasattr(engine, "state"):
                info["noise_aware"] = engine.state()
            if temporal != "off":  # the stage's own milliseconds a frame (the peers' column for it)
                info["temporal_ms"] = round(stage_ms / (i + 1), 2)
        yield out


def peer_outputs(frames: list[np.ndarray], name: str, corruption: Corruption | None, seed: int = 0,
                 timing: dict | None = None) -> list[np.ndarray]:
    """FFmpeg's ``name`` filter (:data:`PEERS`) on the corrupted half-size frames, then bilinear; ``timing``
    gets ``ms``, the filter graph's CPU milliseconds per frame."""
    filt, args = PEERS[name]
    box, up = HalfSizeCorruption(corruption, seed), BilinearUpscaler()
    smalls = [box.planar(f).copy() for f in frames]
    _, h, w = smalls[0].shape
    graph = av.filter.Graph()
    src = graph.add_buffer(width=w, height=h, format="gbrp", time_base=Fraction(1, 30))
    node, sink = graph.add(filt, args), graph.add("buffersink")
    src.link_to(node)
    node.link_to(sink)
    graph.configure()
    outs, cpu = [], 0.0

    def drain() -> None:
        while True:
            try:
                outs.append(graph.pull().to_ndarray(format="rgb24"))
            except (BlockingIOError, av.error.EOFError):
                return

    for i, planes in enumerate(smalls):
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(planes[::-1].transpose(1, 2, 0)), format="rgb24")
        frame = frame.reformat(format="gbrp")
        frame.pts = i
        t = time.process_time()
        graph.push(frame)
        drain()
        cpu += time.process_time() - t
    t = time.process_time()
    graph.push(None)  # flush the frames a look-ahead filter still holds
    drain()
    cpu += time.process_time() - t
    if timing is not None:
        timing["ms"] = round(cpu / len(smalls) * 1e3, 2)
    return [up.planar(np.ascontiguousarray(o.transpose(2, 0, 1)[::-1])).copy() for o in outs]


def fast_ssim(gt: np.ndarray, out: np.ndarray) -> float:
    """:func:`vcam_sharpen.quality.metrics.ssim` (scikit-image's defaults: 7x7 uniform window, sample
    covariance, K1 0.01, K2 0.03, the 3-pixel border left out, channels averaged) computed with OpenCV box
    filters in float64: the same figure to ~1e-6, ~10x faster. ``(H, W, 3)`` float images in [0, 1]."""
    c1, c2, norm = 0.01 ** 2, 0.03 ** 2, 49.0 / 48.0
    total = 0.0
    for c in range(gt.shape[2]):
        x, y = gt[:, :, c].astype(np.float64), out[:, :, c].astype(np.float64)
        ux, uy = cv2.blur(x, (7, 7)), cv2.blur(y, (7, 7))
        vx = norm * (cv2.blur(x * x, (7, 7)) - ux * ux)
        vy = norm * (cv2.blur(y * y, (7, 7)) - uy * uy)
        vxy = norm * (cv2.blur(x * y, (7, 7)) - ux * uy)
        s = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux * ux + uy * uy + c1) * (vx + vy + c2))
        total += float(s[3:-3, 3:-3].mean())
    return total / gt.shape[2]


def score_sequence(clean: list[np.ndarray], outputs: Iterable[np.ndarray]) -> dict:
    """Mean SSIM, PSNR and flicker of ``outputs`` against the ``clean`` frames (uint8, same size and channel
    order); ``frames_ssim`` is the per-frame SSIM."""
    per, p, flicker, prev = [], 0.0, 0.0, None
    for gt, out in zip(clean, outputs):
        a, b = gt.astype(np.float32) / 255.0, out.astype(np.float32) / 255.0
        per.append(fast_ssim(a, b))
        p += psnr(a, b)
        if prev is not None:
            flicker += float(np.mean(np.abs((out.astype(np.int16) - prev[1]) - (gt.astype(np.int16) - prev[0]))))
        prev = (gt.astype(np.int16), out.astype(np.int16))
    n = len(per)
    if n != len(clean):
        raise UserError(f"{n} outputs for {len(clean)} frames")
    return {"ssim": float(np.mean(per)), "psnr": p / n, "flicker": flicker / max(n - 1, 1), "n": n,
            "frames_ssim": [round(s, 4) for s in per]}


def check_rows(models: str, temporal: str) -> list[str]:
    """The row names of ``--models`` for ``--consecutive``, checked (UserError naming the problem)."""
    if temporal not in MODES:
        raise UserError(f"--temporal {temporal!r}: use one of {', '.join(MODES)}")
    wanted = [m.strip() for m in models.split(",") if m.strip()]
    if not wanted or "all" in wanted:
        raise UserError("--consecutive scores named rows: pass --models, e.g. bilinear,student,auto,atadenoise")
    for m in wanted:
        if m not in PEERS and m != loader.AUTO:
            loader.check(m)
    return wanted


def sequence_rows(frames: list[np.ndarray], models: str, temporal: str, conds: list[Corruption] | None,
                  seed: int = 0, progress: Callable[[int], None] | None = None, dataset: str = "") -> list[dict]:
    """One row per model (``auto``, ``bilinear``, names, peers) and condition on consecutive ``frames``."""
    wanted = check_rows(models, temporal)
    # auto: what the daemon runs by default on this machine (the model auto resolves to, the pair where it is the
    # pick, the temporal stage in auto mode), measured once so every condition scores the same pick
    choices = {name: resolve(name) for name in wanted if name not in PEERS}
    rows = []
    for cond in conds or [None]:
        tag = {"condition": str(cond), "seed": seed} if cond is not None else {}
        for name in wanted:
            info: dict = {"label": name}
            if name in PEERS:
                info.update(kind="peer", filter=f"{PEERS[name][0]}={PEERS[name][1]}", temporal="off")
                outs = peer_outputs(frames, name, cond, seed, info)
            else:
                spec = choices[name].spec
                mode = "auto" if name == loader.AUTO else temporal
                spec = None if spec in loader.NO_MODEL else spec
                info.update(kind="auto" if name == loader.AUTO else ("baseline" if spec is None else "model"),
                            model=spec or "bilinear", temporal=mode)
                if spec in loader.PAIRS:
                    info["models"] = list(loader.members(spec))
                if choices[name].reason:
                    info["reason"] = choices[name].reason
                # the auto row is the daemon's default path, reuse included; every other row restores each frame
                # whole, so "single frame" means one frame at a time (reuse holds a tile's last output while the
                # change test sees only noise: under noise:5 that halved single-frame student's flicker)
                info["skip_static"] = name == loader.AUTO
                outs = sharpener_outputs(frames, spec, mode, cond, seed, info, skip_static=info["skip_static"])
            score = score_sequence(frames, outs)
            if progress is not None:
                progress(len(frames))
            rows.append({**info, "dataset": dataset, **tag, "ssim": round(score["ssim"], 4),
                         "psnr": round(score["psnr"], 2), "flicker": round(score["flicker"], 3), "n": score["n"],
                         "consecutive": len(frames), "frames_ssim": score["frames_ssim"]})
    return rows
