"""Static-region reuse: tiles restored exactly as the whole frame would be, seams included; the rest
reused; noise does not count as change; every tile refreshed within a second; full motion runs whole."""

from __future__ import annotations

import numpy as np
import pytest

from vcam_sharpen.core import models
from vcam_sharpen.core.baselines import UnsharpMask
from vcam_sharpen.frames import layout
from vcam_sharpen.frames.reuse import ChangeTest, ReuseSlot, StaticReuse, tile_halo
from vcam_sharpen.frames.sharpen import Sharpener
from vcam_sharpen.runtime.engines import UnsharpEngine, create_engine
from vcam_sharpen.runtime.noiseaware import NoiseAwareEngine


class Clock:
    """A fake clock advanced by hand: one output frame at 30 fps per tick."""

    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t

    def tick(self, dt=1 / 30):
        self.t += dt


class Counting:
    """Wraps an engine and counts its whole-frame and tile calls."""

    def __init__(self, engine):
        self.engine, self.input_scale = engine, engine.input_scale
        self.frames, self.tiles = 0, []

    def tile_halo(self):
        return self.engine.tile_halo()

    def restore_phases(self, planes):
        self.frames += 1
        return self.engine.restore_phases(planes)

    def restore_tiles(self, tiles, inside):
        self.tiles.append(len(tiles))
        return self.engine.restore_tiles(tiles, inside)


def model(name="student", **kw):
    torch_seed = np.random.default_rng(0)
    m = models.create_model(name, **kw).eval()
    for p in m.parameters():  # untrained but not tiny weights: corrections of many grey levels
        p.data = p.data.new_tensor(torch_seed.normal(0, 0.3, p.shape))
    return m


def scene(h=200, w=264, seed=0):
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, (h // 8 + 1, w // 8 + 1, 3), np.uint8)
    return np.ascontiguousarray(np.kron(base, np.ones((8, 8, 1), np.uint8))[:h, :w])  # texture and edges


def reuse_and_full(engine, **kw):
    clock = Clock()
    reuse = StaticReuse(Counting(engine), clock=clock, **kw)
    return reuse, clock


def diff(a, b):
    return int(np.abs(a.astype(int) - b.astype(int)).max())


def test_halo_follows_the_receptive_field():
    assert tile_halo(create_engine(model("student"))) == 2  # 3x3, 3x3
    assert tile_halo(create_engine(model("student-wide"))) == 3  # three 3x3
    assert tile_halo(create_engine(model("student-deep"))) == 2  # 3x3, 3x3, 1x1, 1x1
    assert tile_halo(create_engine(model("enhance", gate=0))) == 1  # 3x3, 1x1, 1x1 on the phase planes
    assert tile_halo(create_engine(model("enhance"))) is None  # the global gate reads the whole frame
    assert tile_halo(UnsharpEngine(UnsharpMask())) is None
    assert ReuseSlot().get(UnsharpEngine(UnsharpMask()), (3, 100, 100)) is None


@pytest.mark.parametrize("engine_name", ["onnxruntime", "torch"])
@pytest.mark.parametrize("name", ["student", "student-wide"])
def test_a_change_across_tile_borders_matches_whole_frame_inference(engine_name, name):
    engine = create_engine(model(name), engine=engine_name)
    reuse, clock = reuse_and_full(engine, refresh_s=1e9)  # no refresh: only the change decides
    first = scene()
    planes = np.ascontiguousarray(first[::2, ::2].transpose(2, 0, 1))
    reuse.restore(planes)
    moved = planes.copy()
    moved[:, 9:40, 13:51] = 255 - moved[:, 9:40, 13:51]  # crosses tile borders (16) and touches the top edge
    moved[:, 90:, 120:] = 0  # the bottom-right corner, partial tiles included
    clock.tick()
    out = reuse.restore(moved)
    full = layout.interleave_phases(engine.restore_phases(moved[None])[:, :100, :132])
    assert reuse.engine.tiles and 0 < reuse.share < 0.5  # went by tiles, in one call
    assert len(reuse.engine.tiles) == 1
    assert diff(out, full) <= 1  # changed tiles, their borders and the untouched rest alike


def test_static_tiles_equal_full_inference_and_cost_nothing():
    engine = create_engine(model())
    reuse, clock = reuse_and_full(engine, refresh_s=1e9)
    planes = np.ascontiguousarray(scene()[::2, ::2].transpose(2, 0, 1))
    first = reuse.restore(planes).copy()
    clock.tick()
    again = reuse.restore(planes)
    assert reuse.share == 0.0 and reuse.engine.frames == 1 and not reuse.engine.tiles
    assert np.array_equal(again, first)


def test_noise_alone_does_not_count_as_change():
    engine = create_engine(model())
    reuse, clock = reuse_and_full(engine, refresh_s=1e9)
    rng = np.random.default_rng(1)
    clean = scene().astype(np.float32)
    shares = []
    for _ in range(12):
        noisy = np.clip(clean + rng.normal(0, 2.0, clean.shape), 0, 255).astype(np.uint8)  # sensor noise
        reuse.restore(np.ascontiguousarray(noisy[::2, ::2].transpose(2, 0, 1)))
        shares.append(reuse.share)
        clock.tick()
    assert max(shares[1:]) <= 0.05


def test_a_temporal_stage_can_pass_its_noise_and_motion():
    engine = create_engine(model())
    reuse, clock = reuse_and_full(engine, refresh_s=1e9)
    planes = np.ascontiguousarray(scene()[::2, ::2].transpose(2, 0, 1))
    reuse.restore(planes)
    moved = np.zeros(planes.shape[1:], bool)
    moved[36:40, 52:56] = True  # one spot: its tile, plus neighbours within the halo
    slot = ReuseSlot()
    slot.reuse = reuse
    slot.hint(changed=moved)  # as the sharpener forwards it
    ReuseSlot().hint(sigma=3.0)  # no reuse running yet: nothing to do
    clock.tick()
    reuse.restore(planes)
    assert reuse.engine.tiles == [1]
    reuse.hint(sigma=10.0)  # a very noisy camera: a change of 30 grey levels is its noise
    assert reuse._test.thresholds() == pytest.approx([0.98 * 10 * 1.6, 2.2 * 10 * 2.5])
    assert ChangeTest((2, 2), 16, 2).thresholds() == pytest.approx([1.0, 12.0])  # the floors


def test_every_tile_is_refreshed_within_a_second():
    engine = create_engine(model())
    reuse, clock = reuse_and_full(engine, refresh_s=1.0)
    planes = np.ascontiguousarray(scene()[::2, ::2].transpose(2, 0, 1))
    truth = reuse.restore(planes).copy()
    reuse._whole[:] = 0  # a stale picture everywhere, as after a slow drift the test never saw
    for _ in range(30):  # one second at 30 fps of an unchanged input
        clock.tick()
        out = reuse.restore(planes)
    assert np.array_equal(out, truth)
    assert max(reuse.engine.tiles) <= 63 // 30 + 1  # a thin slice per frame, not everything at once


def test_full_motion_runs_the_whole_frame_once():
    engine = create_engine(model())
    reuse, clock = reuse_and_full(engine)
    reuse.restore(np.ascontiguousarray(scene(seed=0)[::2, ::2].transpose(2, 0, 1)))
    clock.tick()
    cut = np.ascontiguousarray(scene(seed=1)[::2, ::2].transpose(2, 0, 1))
    out = reuse.restore(cut)
    assert reuse.engine.frames == 2 and not reuse.engine.tiles and reuse.share == 1.0
    assert np.array_equal(out, layout.interleave_phases(engine.restore_phases(cut[None])[:, :100, :132]))


@pytest.mark.parametrize("kw", [dict(degrade=2), dict(degrade=2, split=True), dict(upscale=True)])
def test_sharpener_with_reuse_matches_it_without(kw):
    engine = create_engine(model())
    on, off = Sharpener(engine, **kw), Sharpener(engine, **kw)
    off.skip_static = False
    on.strength = off.strength = 0.7
    frame = scene()
    for step in range(3):
        frame = frame.copy()
        frame[30 + 20 * step: 70 + 20 * step, 40:150] //= 2  # a moving patch
        assert diff(on.process(frame), off.process(frame)) <= 1
    done, seen = on.tile_counts
    assert seen > 0 and done < seen  # reuse ran and skipped something


def test_same_size_model_by_tiles_matches_the_whole_frame():
    engine = create_engine(model("enhance", gate=0))
    on, off = Sharpener(engine, degrade=1), Sharpener(engine, degrade=1)
    off.skip_static = False
    frame = scene()
    on.process(frame)
    off.process(frame)
    frame = frame.copy()
    frame[50:90, 70:140] = 255 - frame[50:90, 70:140]
    assert diff(on.process(frame), off.process(frame)) <= 1
    assert 0 < on._reuse.reuse.share < 1
    gated = Sharpener(create_engine(model("enhance")), degrade=1)  # cannot go by tiles: whole frames
    gated.process(frame)
    assert gated.tile_counts == (0, 0)


def test_results_stay_valid_for_two_calls():
    engine = create_engine(model())
    sharp = Sharpener(engine)
    frames = [scene(seed=s) for s in range(3)]
    first = sharp.process(frames[0])
    kept = first.copy()
    second = sharp.process(frames[1])
    assert np.array_equal(first, kept) and second is not first
    assert sharp.process(frames[2]) is first  # the buffer comes back on the second following call


class Level:
    """A temporal stage as the noise-aware choice reads it: a luma noise level set by the test."""

    mode, strength, noise = "on", 1.0, (0.2, 0.2)


def test_the_noise_aware_pair_reuses_by_its_chosen_model_and_matches_reuse_off():
    """The pair has no single tile graph; the Sharpener's reuse runs the chosen model's tiles, starts afresh
    when the choice switches (no tile kept from the other model), runs whole frames during the fade, and matches
    reuse off as closely as for any model, through a switch and its cross-fade."""
    def pair():
        return NoiseAwareEngine(create_engine(model("student")), create_engine(model("student", channels=8)),
                                fade=3, hold=3)

    on, off = Sharpener(pair()), Sharpener(pair())
    off.skip_static = False
    level = Level()
    for sharp in (on, off):
        sharp.engine.watch(level)
    assert tile_halo(on.engine) is None
    base, done = scene(), []
    for step in range(12):
        level.noise = (0.2, 0.2) if step < 5 else (5.0, 5.0)  # a camera that turns noisy: switch, then fade
        frame = base.copy()
        frame[30 + 10 * step: 70 + 10 * step, 40:150] //= 2  # a moving patch
        assert diff(on.process(frame), off.process(frame)) <= 1, step
        done.append((on.engine.state()["fading"], on.tile_counts[1]))
        if step == 4:
            assert on._reuse.engine is on.engine.engines["clean"] and 0 < on.tile_counts[0] < on.tile_counts[1]
    assert on.engine.switches == off.engine.switches == 1 and on._reuse.engine is on.engine.engines["noisy"]
    assert [f for f, _ in done] == [False] * 5 + [True] * 2 + [False] * 5  # fade=3: two blended frames
    assert done[4][1] == done[5][1] == done[6][1]  # while fading: whole frames through both models, no tiles
    assert on._reuse.reuse.share < 1.0  # reuse runs again on the new model once the fade is over


def test_the_slot_builds_its_reuse_on_the_clock_it_is_given():
    clock = Clock()
    slot = ReuseSlot(clock=clock)
    reuse = slot.get(create_engine(model("student")), (3, 100, 132))
    assert reuse is not None and reuse.clock is clock
