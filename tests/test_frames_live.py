"""The live settings' checks (frames/live.py) and how a Sharpener applies them."""

import numpy as np
import pytest

from vcam_sharpen.frames.live import LIVE, check_live
from vcam_sharpen.frames.sharpen import Sharpener


def test_check_live_values():
    assert check_live("strength", 1) == 1.0 and check_live("split", True) is True
    for mode in ("off", "on", "auto"):
        assert check_live("temporal", mode) == mode
    for name, bad, msg in (("strength", 2.0, "out of range"), ("strength", True, "number"),
                           ("split", "yes", "true or false"), ("temporal", "maybe", "off, on, auto"),
                           ("model", "x", "cannot change")):
        with pytest.raises(ValueError, match=msg):
            check_live(name, bad)


def test_apply_live_reaches_the_temporal_stage():
    s = Sharpener(None, temporal="off")
    s.apply_live({name: check_live(name, v) for name, v in
                  (("temporal", "on"), ("strength", 0.5), ("split", True), ("sharpening", False))})
    assert s.temporal.mode == "on" and s.strength == 0.5 and s.split and not s.enabled
    assert set(LIVE) == {"strength", "sharpening", "split", "temporal", "skip_static"}


def test_sharpener_runs_the_temporal_stage_before_the_upscale():
    """Without a model the output is the bilinear upscale of the temporally filtered half-size frame."""
    rng = np.random.default_rng(0)
    clean = np.full((64, 96, 3), 120, np.uint8)
    frames = [np.clip(clean + rng.normal(0, 6, clean.shape), 0, 255).astype(np.uint8) for _ in range(10)]
    on, off = Sharpener(None, temporal="on"), Sharpener(None, temporal="off")
    for f in frames:
        a, b = on.process(f).astype(float), off.process(f).astype(float)
    assert on.timings["temporal"] > 0 and off.timings["temporal"] == 0
    assert np.mean((a - 120) ** 2) < np.mean((b - 120) ** 2) / 3
    same = Sharpener(None, degrade=1, temporal="on")
    outs = [same.process(f).astype(float) for f in frames]
    assert np.mean((outs[-1] - 120) ** 2) < np.mean((frames[-1] - 120.0) ** 2) / 3
