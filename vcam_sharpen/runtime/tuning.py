"""How the daemon runs a model at a camera's rate: the fewest inference threads that keep up."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import numpy as np
from torch import nn

from ..core import loader
from ..frames.sharpen import Sharpener
from .engines import create_engine, pick_engine

log = logging.getLogger(__name__)

# One ONNX Runtime thread must keep up using at most this share of the frame period;
# then the second thread's synchronisation costs (~15 % more CPU per frame) are not worth it.
ONE_THREAD_HEADROOM = 0.7


def engine_for_rate(model: nn.Module | None, fps: float, size: tuple[int, int], degrade: int = 2,
                    upscale: bool = False, engine: str = "auto", device: str = "auto", threads: int | None = None):
    """The engine to run ``model`` at ``fps`` for ``size`` (w, h) output frames: the daemon's choice.

    With ONNX Runtime on the CPU and no explicit ``threads``, a one-thread session is
    timed on a frame of that size; if it keeps up within :data:`ONE_THREAD_HEADROOM` of
    the frame period it is used (least CPU for a steady camera rate), else the default
    two-thread session (most frames per second). Any other case is :func:`create_engine`.
    """
    if threads is not None or pick_engine(engine, device) != ("onnxruntime", "cpu"):
        return create_engine(model, engine, device, threads)
    one = create_engine(model, engine, device, threads=1)
    if one is None or not hasattr(one, "restore_planar"):  # no network, or the OpenCV baseline: nothing to pick
        return one
    sharp = Sharpener(one, degrade=degrade, upscale=upscale)
    w, h = (size[0] // 2, size[1] // 2) if upscale else size  # upscale: the camera frame is the small one
    frame = np.full((h, w, 3), 128, np.uint8)
    for _ in range(2):  # graph build and allocation
        sharp.process(frame)
    times = []
    for _ in range(5):
        t0 = time.perf_counter()
        sharp.process(frame)
        times.append(time.perf_counter() - t0)
    if sorted(times)[len(times) // 2] * fps <= ONE_THREAD_HEADROOM:
        log.info("one inference thread keeps up with %.0f fps at %dx%d", fps, w, h)
        return one
    return create_engine(model, engine, device)


# CPU the rest of the pipeline costs at 720p, 30 fps, on top of the sharpener: H.264 decode ~2.6 ms,
# capture copy and publish ~1 ms per frame (README, "Where the CPU goes"): about 0.1 core.
OTHER_CORES_720P30 = 0.1
CPU_BUDGET = 0.75  # cores at the set rate: the default --cpu-budget


@dataclass
class AutoChoice:
    """What ``--model auto`` picked and why (``status`` shows ``reason``)."""

    tag: str
    cores: dict = field(default_factory=dict)  # tag -> estimated cores at the set rate
    reason: str = ""


def sharpener_cores(model, fps: float, size: tuple[int, int], degrade: int = 2, upscale: bool = False,
                    frames: int = 8) -> float:
    """Estimated CPU cores ``model`` needs at ``fps`` for ``size`` (w, h) output frames: one inference
    thread (the cheapest way to run at a camera's rate), process CPU time per frame on a textured frame,
    plus the rest of the pipeline scaled from 720p30."""
    sharp = Sharpener(create_engine(model, threads=1), degrade=degrade, upscale=upscale)
    w, h = (size[0] // 2, size[1] // 2) if upscale else size
    frame = np.random.default_rng(0).integers(0, 256, (h, w, 3), np.uint8)
    for _ in range(2):  # graph build and allocation
        sharp.process(frame)
    cpu = time.process_time()
    for _ in range(frames):
        sharp.process(frame)
    per_frame = (time.process_time() - cpu) / frames
    return per_frame * fps + OTHER_CORES_720P30 * (size[0] * size[1] * fps) / (1280 * 720 * 30)


def resolve_spec(spec: str | None, fps: float = 30.0, size: tuple[int, int] = (1280, 720), degrade: int = 2,
                 upscale: bool = False) -> str | None:
    """``spec`` with ``auto`` replaced by what the daemon would pick on this machine at ``fps`` and
    ``size``, and ``default`` by the mode's default model (:func:`vcam_sharpen.core.loader.mode_default`);
    bench, eval, export and the daemon resolve them the same way. Any other name unchanged."""
    if spec == "default":
        return loader.mode_default(degrade, upscale)
    return resolve_auto(fps, size, degrade).tag if spec == loader.AUTO else spec


def resolve_auto(fps: float = 30.0, size: tuple[int, int] = (1280, 720), degrade: int = 2, upscale: bool = False,
                 budget: float = CPU_BUDGET) -> AutoChoice:
    """``--model auto``: the best shipped student (by its recorded validation SSIM) whose estimated CPU at
    ``fps`` and ``size`` fits ``budget`` cores; the cheapest one when none fits. Same-size mode
    (``degrade=1``) chooses the same way among the shipped enhance models (the seed student without them)."""
    same_size = degrade == 1 and not upscale
    candidates = loader.auto_candidates(1 if same_size else 2)
    if same_size and not candidates:
        return AutoChoice("seed-student", reason="same-size mode: no enhance model shipped")
    if not candidates:
        return AutoChoice(loader.DEFAULT_MODEL, reason="no shipped students to measure")
    cores = {}
    for tag in candidates:  # best first: stop at the first that fits
        cores[tag] = round(sharpener_cores(loader.load(tag), fps, size, degrade, upscale), 3)
        if cores[tag] <= budget:
            return AutoChoice(tag, cores, f"best that fits {budget:g} core at {fps:g} fps, {size[0]}x{size[1]} "
                                          f"(estimated {cores[tag]:.2f} core)")
    cheapest = min(cores, key=cores.get)
    return AutoChoice(cheapest, cores, f"none fits {budget:g} core at {fps:g} fps, {size[0]}x{size[1]}; "
                                       f"the cheapest (estimated {cores[cheapest]:.2f} core)")
