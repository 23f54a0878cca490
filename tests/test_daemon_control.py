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
from vcam_sharpen.frames.sharpen import Sharpener


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


def test_apply_sets_the_sharpener_and_ignores_nonsense():
    sharp = Sharpener(None)
    path = paths()["state"].with_name(control.CONTROL_FILE)
    path.write_text(json.dumps({"seq": 7, "changes": {"strength": 0.25, "split": True, "sharpening": "yes",
                                                      "fps": 3, "temporal": "on"}}))
    assert control.apply(sharp) == 7
    assert sharp.strength == 0.25 and sharp.split is True and sharp.enabled is True and sharp.temporal.mode == "on"
    path.write_text("{not json")
    assert control.apply(sharp) is None


def test_set_without_a_daemon_is_one_line():
    r = CliRunner().invoke(cli, ["set", "strength", "0.5"])
    assert r.exit_code == 2 and "not running" in r.stderr


def test_set_changes_a_running_daemon_and_status_shows_it(daemons):  # noqa: F811
    r = vcam("start", "--source", "demo", "--output", "null", "--size", "160x120", "--model", "student")
    assert r.returncode == 0, r.stderr
    r = vcam("set", "strength", "0.3")
    assert r.returncode == 0 and r.stdout.strip() == "strength = 0.3", r.stderr
    assert read_state()["strength"] == 0.3
    assert "strength 0.3" in vcam("status").stdout
    r = vcam("set", "sharpening", "off")
    assert r.returncode == 0 and read_state()["sharpening"] is False
    assert vcam("stop").returncode == 0
