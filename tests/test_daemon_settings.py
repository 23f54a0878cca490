"""Daemon settings: defaults <- config file <- flags, one-line errors naming file and key, run arguments."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from conftest_daemon import daemon_env  # noqa: F401

from vcam_sharpen.cli.text import settings_text
from vcam_sharpen.core.errors import UserError
from vcam_sharpen.core.paths import config_path
from vcam_sharpen.daemon.lifecycle import build_sharpener
from vcam_sharpen.daemon.settings import RENAMED, Settings, effective, parse_size, read_config, settings_args


def write_config(text: str) -> Path:
    path = config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def describe(overrides: dict | None = None) -> str:
    """What ``vcam-sharpen config`` prints for these flags."""
    settings, origin = effective(overrides)
    return settings_text(settings.to_dict(), origin)


def test_config_file_then_flags():
    write_config('source = "demo"\nfps = 15\noutput = ["null", "x.avi"]\nsize = "640x360"\n')
    settings, origin = effective({"fps": 25.0})
    assert settings.source == "demo" and settings.fps == 25.0 and settings.output == ["null", "x.avi"]
    assert settings.size == (640, 360) and origin["fps"] == "flag" and origin["source"] == "config"
    assert origin["model"] == "default"
    text = describe({"fps": 25.0})
    assert 'source = "demo"  # config' in text and "fps = 25  # flag" in text


@pytest.mark.parametrize("text, words", [
    ("fps = 500\n", ["key 'fps'", "1 to 120"]),
    ("colour = 1\n", ["unknown key 'colour'"]),
    ("degrade = 3\n", ["key 'degrade'"]),
    ('size = "big"\n', ["key 'size'"]),
    ('model = "nope"\n', ["key 'model'", "unknown model"]),
    ('output = ["vcam", "x.mov"]\n', ["key 'output'"]),
    ('pause_when_unused = "no"\n', ["key 'pause_when_unused'", "true or false"]),
    ('temporal = "yes"\n', ["key 'temporal'", "auto, on, off"]),
    ("fps = = 3\n", ["config.toml"]),
])
def test_bad_config_is_one_line_naming_file_and_key_and_never_rewritten(text, words):
    path = write_config(text)
    before = path.stat().st_mtime_ns
    with pytest.raises(UserError) as e:
        effective({})
    msg = str(e.value)
    assert "\n" not in msg and str(path) in msg and all(w in msg for w in words), msg
    assert path.read_text() == text and path.stat().st_mtime_ns == before


def test_temporal_defaults_to_auto_and_reaches_the_sharpener():
    settings, origin = effective({})
    assert settings.temporal == "auto" and origin["temporal"] == "default"
    write_config('temporal = "off"\n')
    settings, origin = effective({})
    assert settings.temporal == "off" and origin["temporal"] == "config"
    settings, _ = effective({"temporal": "on", "model": "none"})
    assert "--temporal" in settings.to_args() and build_sharpener(settings)[0].temporal.mode == "on"


def test_bad_flags_name_the_option():
    with pytest.raises(UserError, match="--vcam-device"):
        effective({"vcam_device": ""})
    with pytest.raises(UserError, match="--engine .?tensorrt.?: must be one of"):
        effective({"engine": "tensorrt"})


def test_settings_round_trip_through_run_arguments():
    settings, _ = effective({"source": "demo", "split": True, "output": ["null", "a.mp4"], "fps": 24.0,
                             "weights": "/w.pt"})
    args = settings.to_args()
    assert args[args.index("--fps") + 1] == "24" and "--split" in args and "--no-upscale" in args
    assert args.count("--output") == 2 and "--weights" in args
    assert "--vcam-device" not in args and "--device" not in args  # unset: not passed at all
    assert "--pause-when-unused" in args
    assert "--no-pause-when-unused" in effective({"pause_when_unused": False})[0].to_args()
    with_device = effective({"vcam_device": "/dev/video10"})[0].to_args()
    assert with_device[with_device.index("--vcam-device") + 1] == "/dev/video10"
    assert settings_args({"size": (640, 360), "output": "null", "split": False}) == \
        ["--size", "640x360", "--output", "null", "--no-split"]


def test_pause_when_unused_defaults_on_and_the_config_file_can_turn_it_off():
    settings, origin = effective({})
    assert settings.pause_when_unused is True and "pause_when_unused = true  # default" in describe()
    write_config("pause-when-unused = false\n")
    settings, origin = effective({})
    assert settings.pause_when_unused is False and origin["pause_when_unused"] == "config"
    assert "pause_when_unused = false  # config" in describe()
    assert "pause_when_unused = true  # flag" in describe({"pause_when_unused": True})


def test_the_old_device_key_is_still_read_with_a_warning(caplog):
    assert RENAMED == {"device": "vcam_device"}
    path = write_config('device = "/dev/video10"\n')
    with caplog.at_level(logging.WARNING, logger="vcam_sharpen.daemon.settings"):
        settings, origin = effective({})
    assert settings.vcam_device == "/dev/video10" and origin["vcam_device"] == "config"
    (msg,) = [r.getMessage() for r in caplog.records]
    assert str(path) in msg and "'device'" in msg and "'vcam_device'" in msg
    assert read_config(path) == {"vcam_device": "/dev/video10"}
    assert 'vcam_device = "/dev/video10"  # config' in describe()


def test_no_config_file_is_no_settings(tmp_path):
    assert read_config(tmp_path / "absent.toml") == {}
    settings, origin = effective({}, path=tmp_path / "absent.toml")
    assert settings == Settings() and set(origin.values()) == {"default"}
    assert "(absent)" in describe()


@pytest.mark.parametrize("text, size", [("1280x720", (1280, 720)), (" 640 X 480 ", (640, 480))])
def test_parse_size(text, size):
    assert parse_size(text) == size


@pytest.mark.parametrize("text, words", [("12x", "WIDTHxHEIGHT"), ("8x8", "out of range"), ("641x481", "even")])
def test_parse_size_errors(text, words):
    with pytest.raises(ValueError, match=words):
        parse_size(text)
