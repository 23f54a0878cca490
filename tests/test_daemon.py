"""The pipeline: pacing, order, placeholders on source loss, toggling, state/pid files, config, service, doctor."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from conftest_daemon import (FACE_CLIP, REPO, ListSink, daemon_env, decode_index,  # noqa: F401
                             numbered_video, recording_backend, requires_face, student_weights, wait_for)

from vcam_sharpen import config, daemon, doctor, service
from vcam_sharpen.daemon import AlreadyRunning, PidLock, Pipeline
from vcam_sharpen.errors import UserError
from vcam_sharpen.processing import Sharpener
from vcam_sharpen.sinks import VcamSink
from vcam_sharpen.sources import DemoSource, FileSource


def real_frames(frames, floor=90):
    """Drop the 'starting' placeholders (dark) at the head of a recording."""
    return [(t, f) for t, f in frames if np.median(f) > floor]


def test_demo_through_the_model_into_the_virtual_camera(recording_backend, student_weights):
    from vcam_sharpen.engine import create_engine

    sharpener = Sharpener(create_engine(None, weights=student_weights), degrade=2)
    sink = VcamSink((160, 120), 30, backend="recording")
    stats = Pipeline(DemoSource((160, 120), 30), sharpener, [sink], (160, 120), fps=30).run(frames=20)
    sink.close()
    assert stats.frames_out == 20 and stats.frames_processed >= 1
    assert len(recording_backend.frames) == 20
    assert all(f.shape == (120, 160, 3) for _, f in recording_backend.frames)
    assert stats.ms["inference"] > 0


def test_file_into_vcam_in_order_at_the_set_rate(recording_backend, numbered_video):
    fps, n = 30.0, 45
    sink = VcamSink((320, 240), fps, backend="recording")
    t0 = time.monotonic()
    stats = Pipeline(FileSource(numbered_video), Sharpener(None, degrade=1), [sink], (320, 240), fps=fps).run(frames=n)
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
    stats = Pipeline(FileSource(numbered_video, paced=False), Sharpener(None, degrade=1), [sink], (320, 240),
                     fps=30, lockstep=True).run(frames=30)
    assert [decode_index(f) for _, f in sink.frames] == list(range(30))
    assert stats.repeated == 0 and stats.placeholders == 0


class FlakySource:
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

    def close(self):
        pass


def test_source_loss_gives_placeholders_then_the_picture_again():
    src, sink = FlakySource(), ListSink()
    stats = Pipeline(src, Sharpener(None, degrade=1), [sink], (64, 48), fps=30).run(frames=75)  # 2.5 s
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


def test_camera_lost_flag_switches_to_placeholder_even_mid_processing():
    class Src(FlakySource):
        lost = False

    src, sink = Src(fail_at=99, back_at=100), ListSink()
    p = Pipeline(src, Sharpener(None, degrade=1), [sink], (64, 48), fps=50)
    threading.Timer(0.5, lambda: setattr(src, "lost", True)).start()
    p.run(frames=40)
    med = [np.median(f) for _, f in sink.frames]
    assert med[-1] < 100 and med[10] == 200


def test_worker_errors_stop_the_pipeline():
    class Broken:
        enabled = True

        def process(self, frame):
            raise RuntimeError("model exploded")

    with pytest.raises(RuntimeError, match="exploded"):
        Pipeline(DemoSource((64, 48), 30), Broken(), [ListSink()], (64, 48)).run(frames=1000)


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
    """A virtual camera stand-in: keeps frames and has a usage monitor."""

    def __init__(self, monitor):
        super().__init__()
        self.usage = monitor


class CountingSource:
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


class CountingSharpener:
    enabled = True

    def __init__(self):
        self.calls = 0

    def process(self, frame):
        self.calls += 1
        return frame


def run_in_background(pipeline):
    t = threading.Thread(target=pipeline.run, daemon=True)
    t.start()
    return t


def test_pauses_while_nobody_reads_the_virtual_camera_and_resumes(monkeypatch, tmp_path):
    from vcam_sharpen import sinks

    builds = []
    real_placeholder = sinks.placeholder
    monkeypatch.setattr(sinks, "placeholder", lambda *a: builds.append(a[2]) or real_placeholder(*a))
    mon, first, sharp, fps = FakeMonitor(1), CountingSource(), CountingSharpener(), 30.0
    sink, reopened = WatchedSink(mon), []

    def reopen():
        reopened.append(CountingSource())
        return reopened[-1]

    state = tmp_path / "state.json"
    p = Pipeline(first, sharp, [sink], (64, 48), fps=fps, reopen=reopen, pause_after_s=0.5, state_path=state)
    t = run_in_background(p)
    try:
        wait_for(lambda: sharp.calls >= 5, timeout=20)
        assert not p.paused and p.state()["readers"] == 1
        mon.count, t_zero = 0, time.monotonic()
        wait_for(lambda: p.paused, timeout=10)
        assert time.monotonic() - t_zero >= 0.5  # the grace period was kept
        wait_for(lambda: first.closed, timeout=5)  # the camera is released
        st = json.loads(state.read_text())  # written at once on pausing
        assert st["status"] == daemon.PAUSED and st["paused"] is True and st["readers"] == 0
        text = daemon.format_status({"running": True, **p.state()})
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

        mon.count, t_back = 1, time.monotonic()
        wait_for(lambda: any(tt > t_back and np.median(f) == 200 for tt, f in sink.frames), timeout=10)
        first_live = next(tt for tt, f in sink.frames if tt > t_back and np.median(f) == 200)
        assert first_live - t_back < 1.0  # one tick to notice, the source's first frame, one tick to show
        assert len(reopened) == 1 and reopened[0].reads > 0 and sharp.calls > calls
        assert not p.paused and p.state()["status"] == "running" and p.stats.pauses == 1
        # nothing from before the pause was shown after it: placeholders, then live frames only
        after = [np.median(f) for tt, f in sink.frames if tt > t_back]
        live_from = after.index(200.0)
        assert all(m < 100 for m in after[:live_from]) and all(m == 200 for m in after[live_from:])
    finally:
        p.stop()
        t.join(5)
    assert p.error is None and not t.is_alive()


@pytest.mark.parametrize("case", ["unknown readers", "disabled", "a window as well", "brief dip"])
def test_never_pauses_when_it_should_not(case):
    mon = FakeMonitor(None if case == "unknown readers" else 0)
    sinks = [WatchedSink(mon)] + ([ListSink()] if case == "a window as well" else [])
    src, sharp = CountingSource(), CountingSharpener()
    if case == "brief dip":  # an app closing and reopening the device: 0 readers for ~0.3 s
        mon.count = 1
        threading.Timer(0.3, lambda: setattr(mon, "count", 0)).start()
        threading.Timer(0.6, lambda: setattr(mon, "count", 1)).start()
        grace = daemon.PAUSE_AFTER_S
    else:
        grace = 0.1
    p = Pipeline(src, sharp, sinks, (64, 48), fps=30, reopen=CountingSource, pause_after_s=grace,
                 pause_when_unused=case != "disabled")
    stats = p.run(frames=36)  # 1.2 s
    assert stats.pauses == 0 and not src.closed and mon.calls >= 36
    assert sharp.calls >= 10 and stats.frames_processed >= 10
    expected = {"unknown readers": None, "brief dip": 1}.get(case, 0)  # known even where it cannot pause
    assert p.state()["readers"] == expected


def test_a_source_that_cannot_be_reopened_shows_the_reconnect_placeholder():
    mon, sharp = FakeMonitor(1), CountingSharpener()
    sink, attempts = WatchedSink(mon), []

    def reopen():
        attempts.append(time.monotonic())
        if len(attempts) < 2:
            raise UserError("camera /dev/video0 opened but gives no frames: it is busy")
        return CountingSource()

    p = Pipeline(CountingSource(), sharp, [sink], (64, 48), fps=30, reopen=reopen, pause_after_s=0.1)
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


def test_signals_toggle_and_stop_in_process(tmp_path):
    state = tmp_path / "state.json"
    sharpener = Sharpener(None, degrade=2)
    p = Pipeline(DemoSource((64, 48), 30), sharpener, [ListSink()], (64, 48), fps=30, state_path=state,
                 info={"model": "none"})
    before = signal.getsignal(signal.SIGTERM)
    seen = {}

    def poke():
        time.sleep(0.4)
        os.kill(os.getpid(), signal.SIGUSR1)
        time.sleep(0.3)
        seen["state"] = json.loads(state.read_text())
        seen["t"] = time.monotonic()
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=poke, daemon=True).start()
    p.run(handle_signals=True)
    assert time.monotonic() - seen["t"] < 0.5  # SIGTERM: out of the loop at once
    assert sharpener.enabled is False and seen["state"]["sharpening"] is False
    assert seen["state"]["model"] == "none" and seen["state"]["frames_out"] > 5
    assert signal.getsignal(signal.SIGTERM) is before


def test_state_file_has_what_status_shows(tmp_path):
    state = tmp_path / "s.json"
    p = Pipeline(DemoSource((64, 48), 30), Sharpener(None), [ListSink()], (64, 48), fps=30, state_path=state,
                 info={"source": "demo", "model": "none", "mode": "degrade x2 + restore"})
    p.run(frames=40)
    st = json.loads(state.read_text())
    for key in ("pid", "status", "source", "model", "mode", "fps_out", "fps_processed", "ms", "dropped", "repeated",
                "uptime_s", "frames_out", "sharpening", "outputs"):
        assert key in st
    assert st["fps_out"] == pytest.approx(30, rel=0.2) and st["outputs"] == ["list"]
    assert "degrade" in st["ms"] and "send" in st["ms"]
    text = daemon.format_status({"running": True, **st})
    assert "fps" in text and "dropped" in text and "demo" in text


def test_pid_lock_single_instance_and_stale_pid_file():
    paths = daemon.paths()
    lock = PidLock(paths["pid"])
    lock.acquire()
    try:
        assert daemon.running_pid() == os.getpid()
        with pytest.raises(AlreadyRunning, match=f"already running \\(pid {os.getpid()}\\)"):
            PidLock(paths["pid"]).acquire()
    finally:
        lock.release(paths["state"])
    assert not paths["pid"].exists()
    # a pid file left by a crash (nobody holds its lock) is stale: ignored and cleaned
    paths["pid"].write_text("999999\n")
    paths["state"].write_text("{}")
    assert daemon.running_pid() is None and not paths["pid"].exists() and not paths["state"].exists()
    assert daemon.status() == {"running": False}
    assert daemon.stop() is None
    with pytest.raises(UserError, match="not running"):
        daemon.toggle()


@requires_face
@pytest.mark.parametrize("label", ["student", "seed-student"])
def test_student_beats_degraded_only_on_the_face_clip(label):
    """Mean SSIM (RGB float) against the original frames: --model <student> vs --model none."""
    from vcam_sharpen.engine import create_engine
    from vcam_sharpen.metrics import ssim

    weights = REPO / "weights" / f"{label}.pt"
    if not weights.is_file():
        pytest.skip(f"weights/{label}.pt not shipped")
    n, size = 8, (1280, 720)
    ref = FileSource(FACE_CLIP, paced=False)
    originals = [ref.read() for _ in range(n)]
    ref.close()

    def scores(engine):
        sink = ListSink()
        src = FileSource(FACE_CLIP, paced=False)
        Pipeline(src, Sharpener(engine, degrade=2), [sink], size, lockstep=True).run(frames=n)
        src.close()
        rgb = [(f[..., ::-1].astype(np.float32) / 255) for _, f in sink.frames]
        return np.mean([ssim(o[..., ::-1].astype(np.float32) / 255, r) for o, r in zip(originals, rgb)])

    none = scores(None)
    student = scores(create_engine(label, weights=weights))
    assert student > none, (student, none)


# ---------------------------------------------------------------- config, service, doctor


def write_config(text: str) -> Path:
    path = config.config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_config_file_then_flags():
    write_config('source = "demo"\nfps = 15\noutput = ["null", "x.avi"]\nsize = "640x360"\n')
    settings, origin = config.resolve({"fps": 25.0})
    assert settings.source == "demo" and settings.fps == 25.0 and settings.output == ["null", "x.avi"]
    assert settings.size == (640, 360) and origin["fps"] == "flag" and origin["source"] == "config"
    assert origin["model"] == "default"
    text = config.describe({"fps": 25.0})
    assert 'source = "demo"  # config' in text and "fps = 25  # flag" in text


@pytest.mark.parametrize("text, words", [
    ("fps = 500\n", ["key 'fps'", "1 to 120"]),
    ("colour = 1\n", ["unknown key 'colour'"]),
    ("degrade = 3\n", ["key 'degrade'"]),
    ('size = "big"\n', ["key 'size'"]),
    ('model = "nope"\n', ["key 'model'", "unknown model"]),
    ('output = ["vcam", "x.mkv"]\n', ["key 'output'"]),
    ('pause_when_unused = "no"\n', ["key 'pause_when_unused'", "true or false"]),
    ("fps = = 3\n", ["config.toml"]),
])
def test_bad_config_is_one_line_naming_file_and_key_and_never_rewritten(text, words):
    path = write_config(text)
    before = path.stat().st_mtime_ns
    with pytest.raises(UserError) as e:
        config.resolve({})
    msg = str(e.value)
    assert "\n" not in msg and str(path) in msg and all(w in msg for w in words), msg
    assert path.read_text() == text and path.stat().st_mtime_ns == before


def test_settings_round_trip_through_run_arguments():
    settings, _ = config.resolve({"source": "demo", "split": True, "output": ["null", "a.mp4"], "fps": 24.0,
                                  "weights": "/w.pt"})
    args = settings.to_args()
    assert args[args.index("--fps") + 1] == "24" and "--split" in args and "--no-upscale" in args
    assert args.count("--output") == 2 and "--weights" in args and "--device" not in args
    assert "--pause-when-unused" in args
    assert config.resolve({"pause_when_unused": False})[0].to_args()[-1] == "--no-pause-when-unused"


def test_pause_when_unused_defaults_on_and_the_config_file_can_turn_it_off():
    settings, origin = config.resolve({})
    assert settings.pause_when_unused is True and "pause_when_unused = true  # default" in config.describe()
    write_config("pause-when-unused = false\n")
    settings, origin = config.resolve({})
    assert settings.pause_when_unused is False and origin["pause_when_unused"] == "config"
    assert "pause_when_unused = false  # config" in config.describe()
    assert "pause_when_unused = true  # flag" in config.describe({"pause_when_unused": True})


def test_install_service(tmp_path):
    unit = tmp_path / "u" / "vcam-sharpen.service"
    path, outcome = service.install_from_overrides({"source": "demo", "output": ["vcam"]}, path=unit)
    text = unit.read_text()
    assert outcome == "written" and path == unit
    assert "Restart=on-failure" in text and "-m vcam_sharpen -v run --source demo --output vcam" in text
    assert "WantedBy=default.target" in text
    assert service.install_from_overrides({"source": "demo", "output": ["vcam"]}, path=unit)[1] == "unchanged"
    with pytest.raises(UserError, match="--force"):
        service.install_from_overrides({"source": "0"}, path=unit)
    assert unit.read_text() == text  # not overwritten
    assert service.install_from_overrides({"source": "0"}, path=unit, force=True)[1] == "replaced"
    assert "--source 0" in unit.read_text()
    with pytest.raises(UserError, match="--fps"):
        service.install_from_overrides({"fps": 0.0}, path=tmp_path / "x.service")
    assert service._quote("a b%") == '"a b%%"'


def fake_tree(root: Path, loaded: str | None, exclusive: str = "Y") -> tuple[Path, Path]:
    sys_root, dev_root = root / "sys", root / "dev"
    dev_root.mkdir(parents=True)
    (dev_root / "video0").touch()
    (sys_root / "class" / "video4linux" / "video0").mkdir(parents=True)
    (sys_root / "class" / "video4linux" / "video0" / "name").write_text("Integrated Camera\n")
    if loaded is not None:
        mod = sys_root / "module" / "v4l2loopback"
        (mod / "parameters").mkdir(parents=True)
        (mod / "version").write_text(loaded + "\n")
        (mod / "parameters" / "exclusive_caps").write_text(exclusive + "\n")
        (dev_root / "video10").touch()
        v = sys_root / "devices" / "virtual" / "video4linux" / "video10"
        v.mkdir(parents=True)
        (v / "name").write_text("vcam-sharpen\n")
    return sys_root, dev_root


def test_doctor_without_loopback_prints_the_exact_fix(tmp_path):
    items = doctor.checks(*fake_tree(tmp_path, None), platform="linux")
    text = doctor.format_checks(items)
    assert 'sudo modprobe v4l2loopback devices=1 video_nr=10 card_label="vcam-sharpen" exclusive_caps=1' in text
    assert "/etc/modules-load.d/" in text and "/etc/modprobe.d/" in text
    assert "dev/video0 (Integrated Camera)" in text and "[ok] camera" in text


def test_doctor_with_loopback(tmp_path):
    text = doctor.format_checks(doctor.checks(*fake_tree(tmp_path, "0.13.2"), platform="linux"))
    assert "[ok] v4l2loopback: loaded, version 0.13.2" in text
    assert "/dev/video10 (vcam-sharpen)" in text and "modprobe v4l2loopback devices" not in text
    text = doctor.format_checks(doctor.checks(*fake_tree(tmp_path / "b", "0.12.0", exclusive="N"), platform="linux"))
    assert "older than 0.12.5" in text and "[!!] exclusive_caps" in text
    text = doctor.format_checks(doctor.checks(*fake_tree(tmp_path / "d", "0.12.7"), platform="linux"))
    assert "older than 0.13" in text and "never pauses" in text
    assert "older than 0.13" not in doctor.format_checks(doctor.checks(*fake_tree(tmp_path / "e", "0.13.2"),
                                                                        platform="linux"))
    devs = doctor.list_devices(*fake_tree(tmp_path / "c", "0.13.2"))
    assert [d["path"] for d in devs["cameras"]] == [str(tmp_path / "c" / "dev" / "video0")]
    assert [d["name"] for d in devs["virtual"]] == ["vcam-sharpen"]


@pytest.mark.parametrize("platform", ["win32", "darwin"])
def test_doctor_on_windows_and_macos_asks_for_obs(tmp_path, platform):
    text = doctor.format_checks(doctor.checks(tmp_path, tmp_path, platform=platform))
    assert "OBS" in text and "Start Virtual Camera" in text


class OddSource:
    """A camera that gives 641x481 frames, alternately BGR, grey and BGRA."""

    name, size, fps, dropped = "camera odd", (641, 481), 30.0, 0

    def __init__(self):
        self.k = 0

    def read(self):
        time.sleep(1 / self.fps)
        self.k += 1
        shape = [(481, 641, 3), (481, 641), (481, 641, 4)][self.k % 3]
        return np.full(shape, 150, np.uint8)

    def close(self):
        pass


@pytest.mark.parametrize("degrade", [1, 2])
def test_odd_grey_and_bgra_camera_frames_reach_the_virtual_camera_at_its_size(recording_backend, student_weights,
                                                                               degrade):
    from vcam_sharpen.engine import create_engine

    sink = VcamSink((320, 240), 30, backend="recording")
    # --degrade 1 needs a same-size model; the default student is a 2x upscaler
    model = create_engine(None, weights=student_weights) if degrade == 2 else create_engine("seed-student")
    sharpener = Sharpener(model, degrade=degrade)
    stats = Pipeline(OddSource(), sharpener, [sink], (320, 240), fps=30).run(frames=20)
    sink.close()
    assert stats.frames_processed >= 3
    assert [f.shape for _, f in recording_backend.frames] == [(240, 320, 3)] * 20
