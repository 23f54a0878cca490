"""``vcam-sharpen bench``: how fast the whole pipeline runs, stage by stage.

For each row (``bilinear`` = no model, ``unsharp`` = the classical unsharp mask on the
degraded frame, and any models) the same frames go through the daemon's loop::

    capture (source.read, plus a resize when the source is not at --size)
      -> degrade + inference (processing.Sharpener.process)
      -> publish (copy into a preallocated frame buffer, as pyvirtualcam's send does)

and we report:

* ``fps``: end-to-end frames per second, as fast as the source gives frames;
* ``stages``: p50/p95 milliseconds of capture, degrade, the temporal stage, inference, publish;
* ``model_fps``: the engine alone on the same (already degraded) frames;
* ``overhead``: share of the end-to-end time spent outside the model,
  ``1 - model time / end-to-end time``;
* ``cpu_ms_per_frame``: process CPU time (all threads) per end-to-end frame;
* ``latency_p95_ms``: capture start -> publish end;
* ``paced``: the same loop fed at a fixed rate (default 30 fps, a webcam): the CPU it
  uses in cores (process CPU time / wall time; ``cpu_cores`` is the median over windows of half
  a second, ``cpu_cores_spread`` the lowest and highest window: :mod:`vcam_sharpen.runtime.budget`,
  the estimator ``--model auto`` uses) and the rate it kept up; the frames are the source's
  consecutive frames (``--source CLIP``), so static-region reuse sees real content;
* ``tiles_processed`` (per row and in ``paced``): the share of tiles static-region reuse restored
  (``--skip-static on``, the daemon's default; 1.0 when off or where reuse cannot apply).
"""

from __future__ import annotations

import os
import platform
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from ..core import loader
from ..core.degrade import check_mode, fits
from ..core.errors import UserError
from ..core.models import count_macs, list_models
from ..daemon.settings import parse_size as _parse_size
from ..frames.sharpen import BoxDownscaler, Sharpener, to_bgr
from ..io.inputs import open_source
from ..pipeline.stats import STAGES
from ..runtime.engines import Engine
from ..runtime.noiseaware import create_any
from ..runtime.budget import paced_cpu
from ..runtime.tuning import engine_for_rate, resolve

DEFAULT_VIDEO = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "video" / "face_1280x720.mp4"


def default_source() -> str:
    """The face clip beside the checkout if present, else the built-in demo scene."""
    return str(DEFAULT_VIDEO) if DEFAULT_VIDEO.is_file() else "demo"


def parse_size(text: str) -> tuple[int, int]:
    """``"1280x720"`` -> ``(1280, 720)``, by the daemon's rules (:func:`vcam_sharpen.daemon.settings.parse_size`)."""
    try:
        return _parse_size(text)
    except ValueError as e:
        raise UserError(f"--size: {e}") from None


@dataclass
class Row:
    label: str
    engine: object | None  # None: plain bilinear
    note: str = ""


def make_rows(models: str, engine: str = "auto", device: str = "auto", threads: int | None = None,
              size: tuple[int, int] = (1280, 720), fps: float = 30.0, degrade: int = 2) -> list[Row]:
    """Rows for ``--models``: comma-separated names the loader accepts (:func:`vcam_sharpen.core.loader.names`)
    or ``.pt`` files; ``all`` = bilinear, unsharp and every registered model that runs in the mode
    (:func:`vcam_sharpen.core.degrade.check_mode`). Architectures without shipped weights run untrained
    (speed only; the row says so)."""
    every = models.strip() == "all"
    wanted = ["bilinear", "unsharp", *list_models()] if every else [m.strip() for m in models.split(",") if m.strip()]
    if not wanted:
        raise UserError("--models is empty; pass at least one row, e.g. --models bilinear,student")
    rows = []
    for spec in wanted:
        spec = resolve(spec, fps, size, degrade).spec  # auto: for this size and the paced rate
        label = loader.label(spec)
        trained = spec in loader.NO_MODEL or spec in ("unsharp", "default") or loader.is_path(spec) \
            or spec in loader.shipped() or spec in loader.pairs()
        model = loader.load(spec, allow_untrained=True)
        if not fits(model, degrade):
            if every:
                continue
            check_mode(model, degrade)  # a row of the other task: one line before any row runs
        note = "" if trained else "untrained weights (no shipped file): speed only"
        rows.append(Row(label, create_any(model, engine=engine, device=device, threads=threads, fps=fps), note))
    return rows


class _FrameFeed:
    """Frames at ``size`` from a source spec, unpaced (resized in the capture stage if needed)."""

    def __init__(self, spec: str, size: tuple[int, int]) -> None:
        self.size = size
        self.src = open_source(spec, size=size, fps=30.0, paced=False)

    def read(self) -> np.ndarray:
        frame = self.src.read()
        if frame is None:
            raise UserError(f"source {self.src.name} gave no frame")
        if (frame.shape[1], frame.shape[0]) != self.size:
            interp = cv2.INTER_AREA if frame.shape[1] > self.size[0] else cv2.INTER_LINEAR
            frame = cv2.resize(frame, self.size, interpolation=interp)
        return frame

    def close(self) -> None:
        self.src.close()


def _pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else 0.0


def _stats(values: list[float]) -> dict:
    return {"p50": round(_pct(values, 50), 2), "p95": round(_pct(values, 95), 2)}


def bench_row(row: Row, spec: str, size: tuple[int, int], frames: int, degrade: int = 2, warmup: int = 5,
              paced_frames: int = 90, paced_fps: float = 30.0, max_seconds: float = 30.0,
              pick_threads: bool = True, temporal: str = "on", skip_static: bool = True) -> dict:
    """Measure one row; see the module docstring for the fields.

    ``pick_threads``: the paced run uses the threads the daemon would pick for ``paced_fps``
    (false when ``--threads`` fixed them). ``temporal``: the temporal stage's mode (on: its cost counted).
    """
    sharp = Sharpener(row.engine, degrade=degrade, temporal=temporal)
    sharp.skip_static = skip_static
    feed = _FrameFeed(spec, size)
    w, h = size
    out_w, out_h = sharp.output_size(w, h)
    publish_buf = np.empty((out_h, out_w, 3), np.uint8)
    try:
        # Warm-up: first calls build graphs and allocate; never counted.
        t_end = time.perf_counter() + max_seconds / 3
        for i in range(warmup):
            publish_buf[...] = sharp.process(feed.read())
            if time.perf_counter() > t_end and i >= 1:
                break

        ms = {k: [] for k in STAGES}
        latency, inputs = [], []
        keep = min(frames, 30)
        deadline = time.perf_counter() + max_seconds
        cpu0, wall0 = time.process_time(), time.perf_counter()
        tiles0 = sharp.tile_counts
        n = 0
        while n < frames:
            t0 = time.perf_counter()
            frame = feed.read()
            t1 = time.perf_counter()
            out = sharp.process(frame)
            t2 = time.perf_counter()
            np.copyto(publish_buf, out)
            t3 = time.perf_counter()
            ms["capture"].append((t1 - t0) * 1e3)
            ms["prep"].append(sharp.timings["prep"])
            ms["temporal"].append(sharp.timings["temporal"])
            ms["inference"].append(sharp.timings["inference"])
            ms["publish"].append((t3 - t2) * 1e3)
            latency.append((t3 - t0) * 1e3)
            if len(inputs) < keep:
                inputs.append(frame)
            n += 1
            if t3 > deadline and n >= 3:
                break
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
        fps = n / wall

        model_fps = _model_fps(row, inputs, degrade, max_seconds)
        result = {
            "label": row.label,
            "engine": row.engine.describe() if row.engine is not None else "none (bilinear upscale)",
            "note": row.note,
            "gmac_per_frame": _gmac(row, out_w, out_h),
            "frames": n,
            "fps": round(fps, 2),
            "model_fps": round(model_fps, 2) if model_fps else None,
            "overhead": round(1.0 - fps / model_fps, 3) if model_fps else None,
            "stages": {k: _stats(v) for k, v in ms.items()},
            "cpu_ms_per_frame": round(cpu / n * 1e3, 2),
            "latency_p95_ms": round(_pct(latency, 95), 2),
            "tiles_processed": _tile_share(tiles0, sharp.tile_counts),
        }
        if paced_frames > 0:
            # the paced run uses the engine the daemon would pick for that rate (see engine_for_rate)
            paced_engine = _engine_for_rate(row, paced_fps, (out_w, out_h), degrade) if pick_threads else row.engine
            paced_sharp = Sharpener(paced_engine, degrade=degrade, temporal=temporal)
            paced_sharp.skip_static = skip_static
            tiles0 = paced_sharp.tile_counts
            result["paced"] = _paced(paced_sharp, feed, publish_buf, paced_frames, paced_fps, max_seconds)
            result["paced"]["tiles_processed"] = _tile_share(tiles0, paced_sharp.tile_counts)
            result["paced"]["threads"] = getattr(paced_sharp.engine, "threads", None)
        return result
    finally:
        feed.close()


def _tile_share(before: tuple[int, int], after: tuple[int, int]) -> float:
    """Share of tiles restored between two :attr:`Sharpener.tile_counts` (1.0: whole frames only)."""
    seen = after[1] - before[1]
    return round((after[0] - before[0]) / seen, 3) if seen > 0 else 1.0


def _engine_for_rate(row: Row, fps: float, size: tuple[int, int], degrade: int):
    """The row's engine as the daemon would run it at ``fps``; rows without a model keep theirs."""
    first = getattr(row.engine, "engines", {}).get("clean", row.engine)  # the noise-aware pair: its members'
    if not isinstance(first, Engine) or getattr(row.engine, "model", None) is None:
        return row.engine
    return engine_for_rate(row.engine.model, fps, size, degrade=degrade, engine=first.name, device=first.device)


def _gmac(row: Row, width: int, height: int) -> float | None:
    """Conv multiply-accumulates per output frame, in billions (None for the baselines)."""
    model = getattr(row.engine, "model", None)
    if model is None or not hasattr(model, "model_name"):
        return None
    return round(count_macs(model, height, width) / 1e9, 3)


def _model_fps(row: Row, frames: list[np.ndarray], degrade: int, max_seconds: float) -> float | None:
    """Frames per second of the model call alone on ``frames`` (already degraded); None for bilinear."""
    if row.engine is None or not frames:
        return None
    if degrade == 2:
        planar = hasattr(row.engine, "restore_planar")
        box = BoxDownscaler()
        inputs = [box.planar(to_bgr(f)).copy() if planar else box.hwc(to_bgr(f)).copy() for f in frames]
        call = row.engine.restore_planar if planar else row.engine.restore_half
    else:
        inputs = [to_bgr(f) for f in frames]
        call = row.engine.restore_full
    deadline = time.perf_counter() + max_seconds / 2
    t0 = time.perf_counter()
    n = 0
    for x in inputs:
        call(x)
        n += 1
        if time.perf_counter() > deadline and n >= 2:
            break
    return n / (time.perf_counter() - t0)


def _paced(sharp: Sharpener, feed: _FrameFeed, publish_buf: np.ndarray, frames: int, fps: float,
           max_seconds: float) -> dict:
    """The loop fed at ``fps``, measured by the one paced estimator (:func:`vcam_sharpen.runtime.budget.paced_cpu`,
    which ``--model auto`` uses too): ``cpu_cores`` is the median over windows of half a second,
    ``cpu_cores_spread`` the lowest and highest window."""

    def step() -> None:
        publish_buf[...] = sharp.process(feed.read())

    return paced_cpu(step, fps, frames, max_seconds).as_dict(fps)


def machine() -> dict:
    """Where the numbers were taken."""
    import onnxruntime  # lazy and optional: only the report's header needs its version

    info = {"cpus": os.cpu_count(), "platform": platform.platform(), "processor": _cpu_name(),
            "python": platform.python_version(), "torch": torch.__version__, "onnxruntime": onnxruntime.__version__,
            "torch_threads": torch.get_num_threads()}
    try:
        info["loadavg_1m"] = round(os.getloadavg()[0], 2)
    except OSError:
        pass
    return info


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def run_bench(source: str | None = None, size: tuple[int, int] = (1280, 720), models: str = "bilinear,unsharp,default",
              frames: int = 120, engine: str = "auto", device: str = "auto", threads: int | None = None,
              degrade: int = 2, paced_frames: int = 90, paced_fps: float = 30.0, max_seconds: float = 30.0,
              warmup: int = 5, progress=None, temporal: str = "on", skip_static: bool = True) -> dict:
    """Benchmark every row; returns ``{"machine", "source", "size", "degrade", "frames", "rows": [...]}``."""
    if frames < 1:
        raise UserError("--frames must be >= 1")
    spec = source or default_source()
    open_source(spec, size=size, fps=30.0, paced=False).close()  # a bad source fails before any row starts
    rows = make_rows(models, engine, device, threads, size, paced_fps, degrade)
    results = []
    for row in rows:
        if progress is not None:
            progress(row.label)
        results.append(bench_row(row, spec, size, frames, degrade=degrade, warmup=warmup,
                                 paced_frames=paced_frames, paced_fps=paced_fps, max_seconds=max_seconds,
                                 pick_threads=threads is None, temporal=temporal, skip_static=skip_static))
    return {"machine": machine(), "source": spec, "size": f"{size[0]}x{size[1]}", "degrade": degrade,
            "temporal": temporal, "skip_static": skip_static,
            "frames": frames, "rows": results}
