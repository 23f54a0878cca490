"""The frame loop: pacing, order, placeholders on source loss, toggling, pausing while unread, its state."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from conftest_daemon import (FACE_CLIP, ListSink, daemon_env, decode_index,  # noqa: F401
                             numbered_video, recording_backend, requires_face, student_weights, wait_for)

from vcam_sharpen.cli.text import status_text
from vcam_sharpen.core import checkpoint, loader
from vcam_sharpen.core.errors import UserError
from vcam_sharpen.daemon.lifecycle import PAUSE_AFTER_S
from vcam_sharpen.frames.sharpen import Sharpener
from vcam_sharpen.io.sources import DemoSource, FileSource, Source
from vcam_sharpen.io.vcam import VcamSink
from vcam_sharpen.pipeline import loop
from vcam_sharpen.pipeline.loop import PAUSED, Pipeline
from vcam_sharpen.pipeline.stats import STAGES
from vcam_sharpen.quality.metrics import ssim
from vcam_sharpen.runtime.engines import create_engine
from vcam_sharpen.runtime.noiseaware import create_any


def real_frames(frames, floor=90):
    """Drop the 'starting' placeholders (dark) at the head of a recording."""
    return [(t, f) for t, f in frames if np.median(f) > floor]


def test_the_output_size_comes_from_the_sharpener():
    with pytest.raises(ValueError, match="output size"):
        Pipeline(DemoSource((64, 48), 30), Sharpener(None), [ListSink()])
    p = Pipeline(DemoSource((64, 48), 30), Sharpener(None, size=(96, 54)), [ListSink()])
    assert p.size == (96, 54) and p.state()["output_size"] == "96x54"


def test_demo_through_the_model_into_the_virtual_camera(recording_backend, student_weights):
    model, _ = checkpoint.load(student_weights)
    sharpener = Sharpener(create_engine(model), degrade=2, size=(160, 120))
    sink = VcamSink((160, 120), 30, backend="recording")
    stats = Pipeline(DemoSource((160, 120), 30), sharpener, [sink], fps=30).run(frames=20)
    sink.close()
    assert stats.frames_out == 20 and stats.frames_processed >= 1
    assert len(recording_backend.frames) == 20
    assert all(f.shape == (120, 160, 3) for _, f in recording_backend.frames)
    assert stats.ms["inference"] > 0


def test_file_into_vcam_in_order_at_the_set_rate(recording_backend, numbered_video):
    fps, n = 30.0, 45
    sink = VcamSink((320, 240), fps, backend="recording")
    t0 = time.monotonic()
    stats = Pipeline(FileSource(numbered_video), Sharpener(None, degrade=1, size=(320, 240)), [sink],
                     fps=fps).run(frames=n)
    elapsed = time.monotonic() - t0
    sink.close()
    frames = recording_backend.frames
    assert len(frames) == n and all(f.shape == (240, 320, 3) for _, f in frames)
    # pacing: one frame per 1/fps, steady (generous bounds: 2 shared cores)
    gaps = np.diff([t for t, _ in frames])
    assert np.mean(gaps) == pytest.approx(1 / fps, rel=0.15)
    assert np.percentile(gaps, 90) < 2 / fps
    assert elapsed == pytest.approx(n / fps, abs=0.6)
    # order: source frame numbers never go back (the 30-frame clip loops once at most)
    idx = [decode_index(f) for _, f in real_frames(frames)]
    assert len(idx) >= n - 10
    wraps = sum(1 for a, b in zip(idx, idx[1:]) if b < a)
    assert wraps <= 1 and all(b >= a or (a >= 25 and b <= 5) for a, b in zip(idx, idx[1:])), idx
    fresh = 1 + sum(1 for a, b in zip(idx, idx[1:]) if b != a)
    assert fresh >= len(idx) // 2 and fresh + stats.repeated + stats.placeholders == n  # mostly fresh, not repeats


def test_lockstep_publishes_every_frame_once(numbered_video):
    sink = ListSink()
    stats = Pipeline(FileSource(numbered_video, paced=False), Sharpener(None, degrade=1, size=(320, 240)), [sink],
                     fps=30, lockstep=True).run(frames=30)
    assert [decode_index(f) for _, f in sink.frames] == list(range(30))
    assert stats.repeated == 0 and stats.placeholders == 0


def test_frames_are_fitted_to_the_output_size_by_the_sharpener(numbered_video):
    sink = ListSink()
    Pipeline(FileSource(numbered_video, paced=False), Sharpener(None, degrade=1, size=(640, 360)), [sink],
             lockstep=True).run(frames=3)
    assert [f.shape for _, f in sink.frames] == [(360, 640, 3)] * 3
    first = sink.frames[0][1]
    assert first[180, :60].max() == 0 and first[180, 100:540].min() > 0  # 4:3 in 16:9: black side bars


class FlakySource(Source):
    """50 fps frames of value 200; unavailable from ``fail_at`` to ``back_at`` seconds (like an unplugged camera)."""

    name = "camera fake"
    size, fps, dropped = (64, 48), 50.0, 0

    def __init__(self, fail_at=0.6, back_at=1.4):
        self.t0 = time.monotonic()
        self.fail_at, self.back_at = fail_at, back_at
        self.first_none: float | None = None
        self.back: float | None = None
        self.k = 0

    def read(self):
        now = time.monotonic() - self.t0
        if self.fail_at <= now < self.back_at:
            if self.first_none is None:
                self.first_none = time.monotonic()
                return None  # the moment it is noticed
            time.sleep(0.1)  # like sources.UNAVAILABLE_WAIT_S
            return None
        time.sleep(1 / self.fps)
        if now >= self.back_at and self.back is None:
            self.back = time.monotonic()
        self.k += 1
        frame = np.full((48, 64, 3), 200, np.uint8)
        frame[0, 0] = self.k % 256
        return frame


def test_source_loss_gives_placeholders_then_the_picture_again():
    src, sink = FlakySource(), ListSink()
    stats = Pipeline(src, Sharpener(None, degrade=1, size=(64, 48)), [sink], fps=30).run(frames=75)  # 2.5 s
    times = np.array([t for t, _ in sink.frames])
    med = np.array([np.median(f) for _, f in sink.frames])
    placeholder = med < 100
    good = med == 200
    assert src.first_none is not None and src.back is not None
    # no placeholder before the loss, one within 100 ms of it, the picture back after
    assert not placeholder[(times < src.first_none) & (times > times[0] + 0.3)].any()
    first_ph = times[placeholder & (times >= src.first_none)][0]
    assert first_ph - src.first_none < 0.1
    assert placeholder[(times > src.first_none + 0.15) & (times < src.back)].all()
    assert good[times > src.back + 0.2].all() and good[times > src.back + 0.2].sum() > 10
    # placeholder = last picture dimmed (200 // 3) plus a white message
    ph = sink.frames[int(np.argmax(times >= first_ph))][1]
    assert np.median(ph) == 200 // 3 and (ph > 120).any()
    # the output kept its rate through the outage
    assert np.max(np.diff(times)) < 0.15
    assert stats.placeholders >= 15


def test_the_temporal_stage_starts_again_after_a_source_loss(monkeypatch):
    src, sink, sharp = FlakySource(), ListSink(), Sharpener(None, degrade=1, size=(64, 48), temporal="on")
    resets = []
    real = sharp.temporal.reset
    monkeypatch.setattr(sharp.temporal, "reset", lambda: resets.append(1) or real())
    Pipeline(src, sharp, [sink], fps=30).run(frames=75)
    assert src.back is not None and len(resets) >= 1  # once the source is back


def test_camera_lost_flag_switches_to_placeholder_even_mid_processing():
    class Src(FlakySource):
        lost = False

    src, sink = Src(fail_at=99, back_at=100), ListSink()
    p = Pipeline(src, Sharpener(None, degrade=1, size=(64, 48)), [sink], fps=50)
    threading.Timer(0.5, lambda: setattr(src, "lost", True)).start()
    p.run(frames=40)
    med = [np.median(f) for _, f in sink.frames]
    assert med[-1] < 100 and med[10] == 200


def test_worker_errors_stop_the_pipeline():
    class Broken(Sharpener):
        def process(self, frame):
            raise RuntimeError("model exploded")

    with pytest.raises(RuntimeError, match="exploded"):
        Pipeline(DemoSource((64, 48), 30), Broken(None, size=(64, 48)), [ListSink()]).run(frames=1000)


def test_toggle_flips_sharpening_and_the_state_says_so():
    sharpener = Sharpener(None, degrade=2, size=(64, 48))
    p = Pipeline(DemoSource((64, 48), 30), sharpener, [ListSink()])
    assert p.state()["sharpening"] is True
    assert p.toggle() is False and sharpener.enabled is False and p.state()["sharpening"] is False
    assert p.toggle() is True and sharpener.enabled is True


def test_state_has_what_status_shows():
    states = []
    p = Pipeline(DemoSource((64, 48), 30), Sharpener(None, size=(64, 48)), [ListSink()], fps=30,
                 on_state=states.append)
    p.run(frames=40)
    assert len(states) >= 2  # the first real frame, then about once a second
    st = states[-1]
    for key in ("pid", "status", "paused", "readers", "fps_out", "fps_processed", "ms", "dropped", "repeated",
                "uptime_s", "frames_out", "frames_processed", "sharpening", "outputs", "source_size",
                "output_size"):
        assert key in st, key
    assert st["fps_out"] == pytest.approx(30, rel=0.2) and st["outputs"] == ["list"]
    assert set(st["ms"]) == set(STAGES)  # capture, prep, inference, publish
    text = status_text({"running": True, **st, "source_name": "demo"})
    assert "fps" in text and "dropped" in text and "demo" in text
    assert all(f"{k} " in text for k in STAGES)


# ---------------------------------------------------------------- pausing while nobody reads the virtual camera


class FakeMonitor:
    """A usage monitor whose reader count the test sets (None: the driver cannot tell)."""

    def __init__(self, count):
        self.count, self.calls = count, 0

    def readers(self):
        self.calls += 1
        return self.count

    def close(self):
        pass


class WatchedSink(ListSink):
    """A virtual camera stand-in: keeps frames and counts its readers through a monitor."""

    def __init__(self, monitor):
        super().__init__()
        self.usage = monitor

    def readers(self):
        return self.usage.readers()


class CountingSource(Source):
    """A 50 fps camera of value-200 frames that counts reads and knows whether it is closed."""

    name, size, fps, dropped = "camera fake", (64, 48), 50.0, 0

    def __init__(self):
        self.reads, self.closed = 0, False

    def read(self):
        assert not self.closed, "read after close"
        time.sleep(1 / self.fps)
        self.reads += 1
        return np.full((48, 64, 3), 200, np.uint8)

    def close(self):
        self.closed = True


class CountingSharpener(Sharpener):
    """No model, frames as they are (64x48), counted."""

    def __init__(self):
        super().__init__(None, degrade=1, size=(64, 48))
        self.calls = 0

    def process(self, frame):
        self.calls += 1
        return super().process(frame)


def run_in_background(pipeline):
    t = threading.Thread(target=pipeline.run, daemon=True)
    t.start()
    return t


def test_pauses_while_nobody_reads_the_virtual_camera_and_resumes(monkeypatch):
    builds = []
    real_placeholder = loop.placeholder
    monkeypatch.setattr(loop, "placeholder", lambda *a: builds.append(a[2]) or real_placeholder(*a))
    mon, first, sharp, fps = FakeMonitor(1), CountingSource(), CountingSharpener(), 30.0
    sink, reopened, states = WatchedSink(mon), [], []

    def reopen():
        reopened.append(CountingSource())
        return reopened[-1]

    p = Pipeline(first, sharp, [sink], fps=fps, reopen=reopen, pause_after_s=0.5, on_state=states.append)
    t = run_in_background(p)
    try:
        wait_for(lambda: sharp.calls >= 5, timeout=20)
        assert not p.paused and p.state()["readers"] == 1
        mon.count, t_zero = 0, time.monotonic()
        wait_for(lambda: p.paused, timeout=10)
        t_paused = time.monotonic()
        assert t_paused - t_zero >= 0.5  # the grace period was kept
        wait_for(lambda: first.closed, timeout=5)  # the camera is released
        wait_for(lambda: states[-1]["paused"], timeout=5)
        assert time.monotonic() - t_paused < loop.STATE_EVERY_S  # reported at once on pausing
        st = states[-1]
        assert st["status"] == PAUSED and st["paused"] is True and st["readers"] == 0
        text = status_text({"running": True, **p.state()})
        assert "paused (no app reading the virtual camera)" in text and "0 app(s) reading" in text

        reads, calls, n0, t0, built = first.reads, sharp.calls, len(sink.frames), time.monotonic(), len(builds)
        time.sleep(1.0)
        n1, t1 = len(sink.frames), time.monotonic()
        assert first.reads == reads and sharp.calls == calls and not reopened  # nothing read, nothing sharpened
        assert n1 - n0 == pytest.approx(fps * (t1 - t0), rel=0.25)  # the placeholder keeps the set rate
        assert len(builds) == built  # the placeholder is built once per pause, not per frame
        paused = [f for _, f in sink.frames[n0:n1]]
        assert all(np.array_equal(f, paused[0]) for f in paused) and np.median(paused[0]) < 100
        assert (paused[0] > 32).any()  # a grey card with its message

        resets = []
        monkeypatch.setattr(sharp.temporal, "reset", lambda: resets.append(1))
        mon.count, t_back = 1, time.monotonic()
        wait_for(lambda: any(tt > t_back and np.median(f) == 200 for tt, f in sink.frames), timeout=10)
        first_live = next(tt for tt, f in sink.frames if tt > t_back and np.median(f) == 200)
        assert first_live - t_back < 1.0  # one tick to notice, the source's first frame, one tick to show
        assert len(reopened) == 1 and reopened[0].reads > 0 and sharp.calls > calls
        assert resets  # the temporal stage started again: the picture before the pause is stale
        assert not p.paused and p.state()["status"] == "running" and p.stats.pauses == 1
        # nothing from before the pause was shown after it: placeholders, then live frames only
        after = [np.median(f) for tt, f in sink.frames if tt > t_back]
        live_from = after.index(200.0)
        assert all(m < 100 for m in after[:live_from]) and all(m == 200 for m in after[live_from:])
    finally:
        p.stop()
        t.join(5)
    assert p.error is None and not t.is_alive()


@pytest.mark.parametrize("case", ["unknown readers", "disabled", "a window as well", "brief dip", "lockstep"])
def test_never_pauses_when_it_should_not(case):
    mon = FakeMonitor(None if case == "unknown readers" else 0)
    sinks = [WatchedSink(mon)] + ([ListSink()] if case == "a window as well" else [])
    src, sharp = CountingSource(), CountingSharpener()
    if case == "brief dip":  # an app closing and reopening the device: 0 readers for ~0.3 s
        mon.count = 1
        threading.Timer(0.3, lambda: setattr(mon, "count", 0)).start()
        threading.Timer(0.6, lambda: setattr(mon, "count", 1)).start()
        grace = PAUSE_AFTER_S
    else:
        grace = None if case == "disabled" else 0.1
    p = Pipeline(src, sharp, sinks, fps=30, reopen=CountingSource, pause_after_s=grace,
                 lockstep=case == "lockstep")
    stats = p.run(frames=36)  # 1.2 s
    assert stats.pauses == 0 and not src.closed and mon.calls >= 36
    assert sharp.calls >= 10 and stats.frames_processed >= 10
    # known even where it cannot pause; unknown when an output cannot tell (a window)
    expected = {"unknown readers": None, "a window as well": None, "brief dip": 1}.get(case, 0)
    assert p.state()["readers"] == expected


def test_a_source_that_cannot_be_reopened_shows_the_reconnect_placeholder():
    mon, sharp = FakeMonitor(1), CountingSharpener()
    sink, attempts = WatchedSink(mon), []

    def reopen():
        attempts.append(time.monotonic())
        if len(attempts) < 2:
            raise UserError("camera /dev/video0 opened but gives no frames: it is busy")
        return CountingSource()

    p = Pipeline(CountingSource(), sharp, [sink], fps=30, reopen=reopen, pause_after_s=0.1)
    t = run_in_background(p)
    try:
        wait_for(lambda: sharp.calls >= 3, timeout=20)
        mon.count = 0
        wait_for(lambda: p.paused, timeout=10)
        mon.count = 1
        wait_for(lambda: p.status == "source lost", timeout=10)
        wait_for(lambda: len(attempts) == 2 and p.status == "running", timeout=10)
        assert p.error is None
    finally:
        p.stop()
        t.join(5)


@requires_face
@pytest.mark.parametrize("label", ["student", "seed-student"])
def test_student_beats_degraded_only_on_the_face_clip(label):
    """Mean SSIM (RGB float) against the original frames: --model <student> vs --model none."""
    if label not in loader.shipped():
        pytest.skip(f"weights/{label}.pt not shipped")
    n, size = 8, (1280, 720)
    ref = FileSource(FACE_CLIP, paced=False)
    originals = [ref.read() for _ in range(n)]
    ref.close()

    def scores(engine):
        sink = ListSink()
        src = FileSource(FACE_CLIP, paced=False)
        Pipeline(src, Sharpener(engine, degrade=2, size=size), [sink], lockstep=True).run(frames=n)
        src.close()
        rgb = [(f[..., ::-1].astype(np.float32) / 255) for _, f in sink.frames]
        return np.mean([ssim(o[..., ::-1].astype(np.float32) / 255, r) for o, r in zip(originals, rgb)])

    none = scores(None)
    student = scores(create_engine(loader.load(label)))
    assert student > none, (student, none)


class OddSource(Source):
    """A camera that gives 641x481 frames, alternately BGR, grey and BGRA."""

    name, size, fps, dropped = "camera odd", (641, 481), 30.0, 0

    def __init__(self):
        self.k = 0

    def read(self):
        time.sleep(1 / self.fps)
        self.k += 1
        shape = [(481, 641, 3), (481, 641), (481, 641, 4)][self.k % 3]
        return np.full(shape, 150, np.uint8)


@pytest.mark.parametrize("degrade", [1, 2])
def test_odd_grey_and_bgra_camera_frames_reach_the_virtual_camera_at_its_size(recording_backend, student_weights,
                                                                               degrade):
    sink = VcamSink((320, 240), 30, backend="recording")
    # --degrade 1 needs a same-size model; the default student is a 2x model
    model = checkpoint.load(student_weights)[0] if degrade == 2 else loader.load("seed-student")
    sharpener = Sharpener(create_engine(model), degrade=degrade, size=(320, 240))
    stats = Pipeline(OddSource(), sharpener, [sink], fps=30).run(frames=20)
    sink.close()
    assert stats.frames_processed >= 3
    assert [f.shape for _, f in recording_backend.frames] == [(240, 320, 3)] * 20


class InstantSource(Source):
    """A source faster than any output rate: a new frame (numbered in its pixels) at every read."""

    name, size, fps, dropped = "video fast", (64, 48), 240.0, 0

    def __init__(self):
        self.reads = 0

    def read(self):
        self.reads += 1
        return np.full((48, 64, 3), self.reads % 256, np.uint8)


class KeepingSink(ListSink):
    """A slow zero-copy consumer: reads the frame it is given at the start and at the end of a send
    (an encoder taking its time) and records whether it stayed the same meanwhile."""

    def __init__(self):
        super().__init__()
        self.intact = []

    def send(self, frame):
        before = frame.copy()
        time.sleep(0.002)  # widens the window a writer would need; no assertion rests on it
        self.intact.append(np.array_equal(frame, before))
        super().send(frame)


class DoublingSharpener(Sharpener):
    """Writes every result into one of two buffers in turn, as the engines do (the no-copy contract)."""

    def __init__(self):
        super().__init__(None, degrade=1, size=(64, 48))
        self.bufs, self.calls = [np.empty((48, 64, 3), np.uint8) for _ in range(2)], 0

    def process(self, frame):
        self.calls += 1
        out = self.bufs[self.calls % 2]
        np.copyto(out, frame)
        return out


def test_the_worker_processes_no_more_frames_than_are_published():
    src, sharp, sink = InstantSource(), DoublingSharpener(), KeepingSink()
    stats = Pipeline(src, sharp, [sink], fps=120).run(frames=40)
    new = stats.frames_out - stats.repeated - stats.placeholders
    # Before, the worker restored every frame it could get and most were thrown away.
    assert sharp.calls <= new + 1 and src.reads <= sharp.calls + 1
    assert new >= 1 and all(sink.intact)  # published without a copy, never overwritten while in use
    values = [int(f[0, 0, 0]) for _, f in sink.frames if (f == f[0, 0]).all()]  # not the starting card
    assert values == sorted(values)  # the newest frame each time, never an older one


def test_lockstep_still_publishes_every_processed_frame_once():
    src, sharp, sink = InstantSource(), DoublingSharpener(), KeepingSink()
    stats = Pipeline(src, sharp, [sink], lockstep=True).run(frames=25)
    assert stats.frames_out == 25 and all(sink.intact)
    assert [int(f[0, 0, 0]) for _, f in sink.frames] == list(range(1, 26))


def test_a_worker_slower_than_the_rate_keeps_one_frame_in_flight_and_never_overwrites_one_in_use():
    class Slow(DoublingSharpener):
        def process(self, frame):
            time.sleep(0.03)  # slower than the 50 fps period: the worker runs one frame ahead
            return super().process(frame)

    src, sharp, sink = InstantSource(), Slow(), KeepingSink()
    stats = Pipeline(src, sharp, [sink], fps=50).run(frames=30)
    new = stats.frames_out - stats.repeated - stats.placeholders
    assert all(sink.intact) and sharp.calls <= new + 2
    values = [int(f[0, 0, 0]) for _, f in sink.frames if (f == f[0, 0]).all()]
    assert values == sorted(values)


def test_the_noise_aware_choice_is_in_the_state_and_starts_again_after_a_source_loss(monkeypatch):
    engine = create_any(loader.load("noise-aware"))
    src, sink, sharp = FlakySource(), ListSink(), Sharpener(engine, degrade=2, size=(64, 48), temporal="on")
    resets, states = [], []
    real = engine.reset
    monkeypatch.setattr(engine, "reset", lambda: resets.append(1) or real())
    Pipeline(src, sharp, [sink], fps=30, on_state=states.append).run(frames=75)
    assert src.back is not None and len(resets) >= 1  # once the source is back, with the temporal stage
    st = states[-1]
    assert st["noise_aware"]["model"] == "student-clean" and "noise" in st  # a flat grey picture: clean
    assert st["noise_aware"]["models"] == {"clean": "student-clean", "noisy": "student-temporal"}
    text = status_text({"running": True, **st, "source_name": "demo"})
    assert "choice:     student-clean (clean camera, noise 0.0; clean below 1, noisy above 1.4)" in text
    plain = Pipeline(DemoSource((64, 48), 30), Sharpener(None, size=(64, 48)), [ListSink()])
    assert "noise_aware" not in plain.state()  # other engines have no choice to show
