"""Live changes to a running daemon: ``vcam-sharpen set``."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from conftest_daemon import daemon_env, daemons, vcam, wait_for  # noqa: F401

from vcam_sharpen.cli import cli
from vcam_sharpen.core.errors import UserError
from vcam_sharpen.daemon import control
from vcam_sharpen.daemon.lock import paths, read_state
from vcam_sharpen.daemon.panel import PanelController
from vcam_sharpen.daemon.settings import Settings
from vcam_sharpen.frames.sharpen import Sharpener
from vcam_sharpen.web.panel_app import MODES


@pytest.mark.parametrize("name, text, value", [("strength", "0.6", 0.6), ("strength", "0", 0.0),
                                               ("sharpening", "off", False), ("split", "ON", True),
                                               ("temporal", "On", "on"), ("temporal", "auto", "auto")])
def test_parse(name, text, value):
    assert control.parse(name, text) == value


@pytest.mark.parametrize("name, text, words", [("strength", "2", "out of range"), ("strength", "x", "number"),
                                               ("split", "maybe", "on or off"), ("fps", "3", "restart"),
                                               ("temporal", "yes", "off, on, auto")])
def test_parse_refuses(name, text, words):
    with pytest.raises(UserError, match=words):
        control.parse(name, text)


class Pipe:
    def __init__(self) -> None:
        self.sharpener = Sharpener(None, size=(64, 48))

    def state(self) -> dict:
        return {}


def switch():
    def build(settings):
        return (Sharpener(None, degrade=settings.degrade, upscale=settings.upscale, size=(64, 48)),
                {"model": settings.model, "mode": f"degrade {settings.degrade}"})

    return PanelController(Settings(model="none", size=(64, 48)), Pipe(), {}, lambda st: None, build)


def test_apply_sets_the_sharpener_and_ignores_nonsense():
    c = switch()
    path = paths()["state"].with_name(control.CONTROL_FILE)
    path.write_text(json.dumps({"seq": 7, "changes": {"strength": 0.25, "split": True, "sharpening": "yes",
                                                      "fps": 3, "mode": "sideways", "temporal": "on"}}))
    assert control.apply(c) == (7, None)
    sharp = c.pipeline.sharpener
    assert sharp.strength == 0.25 and sharp.split is True and sharp.enabled is True and sharp.temporal.mode == "on"
    assert c.rebuilding is None  # the unknown mode was ignored, nothing rebuilt
    path.write_text("{not json")
    assert control.apply(c) is None


@pytest.mark.parametrize("text, mode, degrade, upscale", [("2x", "degrade", 2, False), ("upscale", "upscale", 1, True),
                                                          ("same-size", "same", 1, False), ("SAME", "same", 1, False)])
def test_set_mode_words_are_the_panels_modes(text, mode, degrade, upscale):
    assert control.parse("mode", text) == mode and MODES[mode] == (degrade, upscale)


def test_set_model_and_mode_apply_as_the_panel_does():
    c = switch()
    path = paths()["state"].with_name(control.CONTROL_FILE)
    old = c.pipeline.sharpener
    path.write_text(json.dumps({"seq": 3, "changes": {"model": control.parse("model", "unsharp"),
                                                      "mode": control.parse("mode", "same-size")}}))
    assert control.apply(c) == (3, None)
    c.thread.join(10)
    assert c.pipeline.sharpener is not old and c.pipeline.sharpener.degrade == 1
    assert c.current()["model"] == "unsharp" and c.progress() == {"rebuilding": None, "rebuild_error": None}
    # a 2x model in same-size mode is refused before anything is built: the CLI gets the reason
    path.write_text(json.dumps({"seq": 4, "changes": {"model": "student"}}))
    seq, error = control.apply(c)
    assert seq == 4 and "2x" in error and "\n" not in error and c.rebuilding is None


@pytest.mark.parametrize("name, text, words", [("model", "nope", "unknown model"), ("mode", "4x", "same-size"),
                                               ("model", "", "model")])
def test_set_model_and_mode_refuse_bad_values_before_sending(name, text, words):
    with pytest.raises(UserError, match=words):
        control.parse(name, text)


def test_set_without_a_daemon_is_one_line():
    r = CliRunner().invoke(cli, ["set", "strength", "0.5"])
    assert r.exit_code == 2 and "not running" in r.stderr


@pytest.mark.slow  # a real process (python -m vcam_sharpen / train): seconds of imports each
def test_set_changes_a_running_daemon_and_status_shows_it(daemons):  # noqa: F811
    r = vcam("start", "--source", "demo", "--output", "null", "--size", "160x120", "--model", "student")
    assert r.returncode == 0, r.stderr
    r = vcam("set", "strength", "0.3")
    assert r.returncode == 0 and r.stdout.strip() == "strength = 0.3", r.stderr
    assert read_state()["strength"] == 0.3
    assert "strength 0.3" in vcam("status").stdout
    r = vcam("set", "sharpening", "off")
    assert r.returncode == 0 and read_state()["sharpening"] is False
    old_pid = read_state()["pid"]
    r = vcam("set", "model", "unsharp")  # the panel's model change: camera and outputs kept, same process
    assert r.returncode == 0 and r.stdout.strip() == "now: model unsharp, mode degrade x2 + restore", r.stderr
    st = read_state()
    assert st["model"] == "unsharp" and st["pid"] == old_pid and st["sharpening"] is False
    r = vcam("set", "mode", "same-size")
    assert r.returncode == 0 and "mode sharpen" in r.stdout, r.stderr
    r = vcam("set", "model", "student")  # a 2x model in same-size mode: refused in one line, nothing changed
    errors = [line for line in r.stderr.splitlines() if line.startswith("error: ")]
    assert r.returncode == 2 and len(errors) == 1 and "2x" in errors[0], r.stderr
    assert read_state()["model"] == "unsharp" and "Traceback" not in r.stderr
    frames = read_state()["frames_out"]
    wait_for(lambda: read_state()["frames_out"] > frames, timeout=10)  # still publishing
    r = vcam("set", "skip-static", "off")
    assert r.returncode == 0 and r.stdout.strip() == "skip_static = False" and read_state()["skip_static"] is False
    assert vcam("stop").returncode == 0
