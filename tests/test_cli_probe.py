"""``vcam-sharpen probe`` through click: one line and exit 2 for what is missing, 1 for too few frames (the live
node is read in tests/test_io_pipewire_env.py)."""

from __future__ import annotations

from click.testing import CliRunner

from vcam_sharpen.cli import cli
from vcam_sharpen.cli import probe as probe_cli
from vcam_sharpen.io import pipewire_env
from vcam_sharpen.io.pipewire_env import Probe


def test_missing_gstreamer_is_one_line(monkeypatch):
    monkeypatch.setattr(pipewire_env.shutil, "which", lambda name: None)
    r = CliRunner().invoke(cli, ["probe"])
    assert r.exit_code == 2 and r.stderr.startswith("error: probe needs gst-launch-1.0") and r.stderr.count("\n") == 1


def test_no_session_or_a_bad_node_is_one_line(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    monkeypatch.delenv("PIPEWIRE_REMOTE", raising=False)
    monkeypatch.delenv("PIPEWIRE_RUNTIME_DIR", raising=False)
    r = CliRunner().invoke(cli, ["probe", "--frames", "5"])
    assert r.exit_code == 2 and r.stderr.count("\n") == 1, r.output
    assert "PipeWire session" in r.stderr or "install it" in r.stderr
    r = CliRunner().invoke(cli, ["probe", "--node", "a b"])
    assert r.exit_code == 2 and "node name" in r.stderr



def test_the_line_and_the_exit_code(monkeypatch):
    got = Probe("vcam-sharpen", 12, 1280, 720, "I420", 30.0, 29.5, 0.4, True)
    monkeypatch.setattr(probe_cli, "probe", lambda node, frames, timeout: got)
    r = CliRunner().invoke(cli, ["probe", "--frames", "60", "--timeout", "2"])
    assert r.exit_code == 1
    assert r.stdout.strip() == ("vcam-sharpen: 12 frames of 1280x720 I420 at 29.5 fps (the node offers 30 fps), the "
                                "first after 0.40 s; only 12 of 60 frames within 2 s")
    got.timed_out, got.frames = False, 60
    assert CliRunner().invoke(cli, ["probe", "--json"]).exit_code == 0
