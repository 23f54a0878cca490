"""How the daemon runs a model at a camera's rate: the fewest inference threads that keep up."""

from __future__ import annotations

import logging
import time
from typing import Callable

import numpy as np
from torch import nn

from ..core import loader
from ..core.degrade import check_mode
from ..frames.sharpen import Sharpener
from .budget import CpuEstimate, paced_cpu
from .engines import create_engine, pick_engine
from .noiseaware import pair_engine

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

    A :class:`~vcam_sharpen.core.loader.ModelPair` (``noise-aware``) gets each member's engine picked so, behind
    one :class:`~vcam_sharpen.runtime.noiseaware.NoiseAwareEngine` whose fade and hold follow ``fps``.
    """
    if isinstance(model, loader.ModelPair):
        check_mode(model, degrade, upscale)  # one line naming the pair, before any member is timed
        return pair_engine(model, *(engine_for_rate(m, fps, size, degrade, upscale, engine, device, threads)
                                    for m in model.members), fps=fps)
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
CPU_BUDGET = loader.CPU_BUDGET  # cores at the set rate: the default --cpu-budget
# Frames each auto candidate runs paced at the set rate (3 windows of half a second at 30 fps).
AUTO_FRAMES = 45


def sharpener_cores(model, fps: float, size: tuple[int, int], degrade: int = 2, upscale: bool = False,
                    frames: int = AUTO_FRAMES) -> CpuEstimate:
    """Estimated CPU cores ``model`` needs at ``fps`` for ``size`` (w, h) output frames: one inference
    thread (the cheapest way to run at a camera's rate) on a textured frame, paced at ``fps`` and measured
    by ``bench``'s estimator (:func:`vcam_sharpen.runtime.budget.paced_cpu`: the median window), plus the
    rest of the pipeline scaled from 720p30 (:data:`OTHER_CORES_720P30`)."""
    sharp = Sharpener(create_engine(model, threads=1), degrade=degrade, upscale=upscale)
    # The same frame every time would let static-region reuse skip nearly all of the work (a first version
    # estimated student-wide at 0.26 core and then ran it at 1.0): measure what full motion costs.
    sharp.skip_static = False
    w, h = (size[0] // 2, size[1] // 2) if upscale else size
    frame = np.random.default_rng(0).integers(0, 256, (h, w, 3), np.uint8)
    for _ in range(2):  # graph build and allocation
        sharp.process(frame)
    est = paced_cpu(lambda: sharp.process(frame), fps, frames)
    other = OTHER_CORES_720P30 * (size[0] * size[1] * fps) / (1280 * 720 * 30)
    est.cores, est.low, est.high = est.cores + other, est.low + other, est.high + other
    return est


def cost_meter(fps: float = 30.0, size: tuple[int, int] = (1280, 720), degrade: int = 2,
               upscale: bool = False) -> Callable[[str], float]:
    """``tag -> estimated cores`` at ``fps`` and ``size`` in the frame mode (:func:`sharpener_cores` of the
    shipped weights): the measurement :func:`vcam_sharpen.core.loader.resolve` needs for ``auto``. Each tag
    is measured once per meter; ``meter.estimates`` keeps the full :class:`CpuEstimate` of each. A pair
    (``noise-aware``) costs what its dearer member costs: one member runs at a time (both only during a
    0.5 s cross-fade, rare and short enough for the autoscaler's 1 s of misses not to count it)."""

    def cost(tag: str) -> float:
        if tag in loader.PAIRS and tag not in cost.estimates:
            for m in loader.members(tag):
                cost(m)
            cost.estimates[tag] = max((cost.estimates[m] for m in loader.members(tag)), key=lambda e: e.cores)
        if tag not in cost.estimates:
            cost.estimates[tag] = sharpener_cores(loader.load(tag), fps, size, degrade, upscale)
            log.info("auto: %s needs %.2f core at %g fps (windows %.2f..%.2f)", tag, cost.estimates[tag].cores,
                     fps, cost.estimates[tag].low, cost.estimates[tag].high)
        return cost.estimates[tag].cores

    cost.estimates = {}
    return cost


def resolve(spec: str | None, fps: float = 30.0, size: tuple[int, int] = (1280, 720), degrade: int = 2,
            upscale: bool = False, weights=None, budget: float = CPU_BUDGET) -> loader.Choice:
    """:func:`vcam_sharpen.core.loader.resolve` with this machine's measurement for ``auto``
    (:func:`cost_meter` at ``fps`` and ``size``): what bench, eval, compare, export and the daemon call."""
    return loader.resolve(spec, degrade, upscale, weights, cost_meter(fps, size, degrade, upscale), budget)
