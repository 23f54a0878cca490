"""``vcam-sharpen panel`` and ``start --panel`` as real processes, and the ``mos`` commands end to end."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys

import httpx
import pytest
from click.testing import CliRunner
from conftest_daemon import REPO, cli_env, daemon_env, daemons, vcam, wait_for  # noqa: F401
from conftest_web import make_study, picture

from vcam_sharpen.cli import cli
from vcam_sharpen.cli import web as web_cli
from vcam_sharpen.daemon.lock import paths, read_state
from vcam_sharpen.quality import mos_study
from vcam_sharpen.quality.mos_store import Store

DEMO = ["--source", "demo", "--output", "null", "--size", "160x120"]


@pytest.fixture(autouse=True)
def data_home(tmp_path, monkeypatch):
    d = tmp_path / "xdg_data_home"
    d.mkdir()
    monkeypatch.setenv("XDG_DATA_HOME", str(d))
    monkeypatch.setenv("MPLCONFIGDIR", str(tmp_path / "mpl"))
    return d / "vcam-sharpen"


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def test_panel_without_a_daemon_is_one_line():
    r = invoke("panel")
    assert r.exit_code == 2 and r.stderr.strip() == ("error: vcam-sharpen is not running; start it with its control "
                                                     "panel: vcam-sharpen start --panel")


@pytest.mark.slow  # a real process (python -m vcam_sharpen / train): seconds of imports each
@pytest.mark.parametrize("args, words", [(["--panel-port", "70000"], "--panel-port"),
                                         (["--panel-host", "0.0.0.0"], "one interface"),
                                         (["--panel-host", "example.com"], "IP address")])
def test_bad_panel_options_are_one_line_and_start_nothing(args, words):
    r = vcam("start", *DEMO, "--model", "none", "--panel", *args)
    assert r.returncode == 2 and words in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert read_state() is None and not paths()["pid"].exists()


@pytest.mark.slow  # a real process (python -m vcam_sharpen / train): seconds of imports each
def test_start_with_the_panel_and_the_daemon_survives_hostile_requests(daemons):  # noqa: F811
    r = vcam("start", *DEMO, "--model", "student", "--panel", "--panel-port", "0")
    assert r.returncode == 0, r.stderr
    m = re.search(r"control panel: (http://127\.0\.0\.1:\d+/)", r.stdout)
    assert m, r.stdout
    url = m.group(1)
    p = vcam("panel", "--no-open")
    assert p.returncode == 0 and p.stdout.strip() == url
    assert f"panel:      {url}" in vcam("status").stdout
    with httpx.Client(base_url=url, timeout=10) as c:
        for attempt in (lambda: c.get("/", headers={"Host": "attacker.example"}),
                        lambda: c.post("/api/settings", json={"model": "teacher"}),
                        lambda: c.post("/api/settings", content=b"\xff" * 70000,
                                       headers={"Content-Type": "application/json"}),
                        lambda: c.request("DELETE", "/"), lambda: c.get("/api/preview/%00.mjpg"),
                        lambda: c.get("/" + "a" * 5000)):
            assert 400 <= attempt().status_code < 500
    import socket

    host, port = url[7:-1].split(":")
    with socket.create_connection((host, int(port)), timeout=5) as s:
        s.sendall(b"\x16\x03\x01\x00\xa5garbage that is not HTTP\r\n\r\n")
        s.recv(100)
    st = wait_for(lambda: (s := json.loads(vcam("status", "--json").stdout)).get("frames_out", 0) > 60 and s,
                  timeout=30)
    assert st["running"] and st["status"] == "running" and st["fps_out"] > 20
    assert vcam("stop").returncode == 0


@pytest.mark.slow  # a real process (python -m vcam_sharpen / train): seconds of imports each
def test_panel_of_a_daemon_started_without_it(daemons):  # noqa: F811
    assert vcam("start", *DEMO, "--model", "none").returncode == 0
    r = vcam("panel")
    assert r.returncode == 2 and "vcam-sharpen start --panel" in r.stderr
    assert vcam("stop").returncode == 0


def test_mos_commands_refuse_bad_input_and_create_nothing(tmp_path, data_home):
    picture(tmp_path / "pics" / "a.png")
    cases = [
        (["mos", "prepare", "--video", "none", "--set5", "none", "--images", tmp_path / "pics", "--methods", "x"],
         "unknown model"),
        (["mos", "prepare", "--video", tmp_path / "nope.mp4", "--set5", "none"], "does not exist"),
        (["mos", "prepare", "--video", "none", "--set5", "none"], "no content"),
        (["mos", "prepare", "--stills", "0"], "--stills"),
        (["mos", "serve", "--dir", tmp_path], "no study"),
        (["mos", "report"], "no ratings database"),
        (["mos", "report", "--chart", tmp_path / "r.jpg"], "give a .png name"),
        (["mos", "export", tmp_path / "out.json"], "no ratings database"),
        (["mos", "import", tmp_path / "missing.json"], "No such file"),
        (["mos", "serve", "--port", "99999"], "--port"),
    ]
    for args, words in cases:
        r = invoke(*args)
        assert r.exit_code == 2 and words in r.stderr and len(r.stderr.strip().splitlines()) == 1, (args, r.output)
    (tmp_path / "bad.json").write_text('{"format": "vcam-sharpen-mos-ratings", "version": 1, "ratings": [{}]}')
    r = invoke("mos", "import", tmp_path / "bad.json")
    assert r.exit_code == 2 and "missing 'id'" in r.stderr
    assert not data_home.exists() and not (tmp_path / "out.json").exists()


@pytest.mark.slow  # a real process (python -m vcam_sharpen / train): seconds of imports each
def test_a_study_served_rated_reported_exported_and_merged(tmp_path, data_home):
    folder, manifest = make_study(tmp_path)
    r = invoke("mos", "prepare", "--video", "none", "--set5", "none", "--images", tmp_path / "pictures",
               "--methods", "bilinear,unsharp,student")
    assert r.exit_code == 0 and "5 stimuli" in r.stdout and (data_home / "mos" / "manifest.json").is_file()
    proc = subprocess.Popen([sys.executable, "-m", "vcam_sharpen", "mos", "serve", "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO, env=cli_env())
    try:
        line = proc.stdout.readline()
        url = re.search(r"(http://127\.0\.0\.1:\d+/)", line).group(1)
        with httpx.Client(base_url=url, timeout=10) as c:
            token = re.search(r'csrf-token" content="([^"]+)"', c.get("/").text).group(1)
            h = {"X-CSRF-Token": token}
            queue = c.post("/api/session", json={}, headers=h).json()["queue"]
            stim = {s["id"]: s for s in json.loads((data_home / "mos" / "manifest.json").read_text())["stimuli"]}
            for sid in queue:
                score = stim[sid].get("expected", 4 if stim[sid]["method"] != "bilinear" else 3)
                assert c.post("/api/rate", json={"stimulus": sid, "score": score}, headers=h).status_code == 200
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(10)
    r = invoke("mos", "report")
    assert r.exit_code == 0, r.output
    assert "5 ratings from 1 rater (0 flagged by the trap); 1 trap rating; 4 ratings used" in r.stdout
    assert re.search(r"reference\s+1\s+4\.00\s+-\s+5\.00", r.stdout) and (data_home / "mos-report.png").is_file()
    rows = (data_home / "mos-report.csv").read_text().splitlines()
    assert rows[0] == "method,n,mos,ci95,dmos_n,dmos,dmos_ci95" and len(rows) == 5
    js = json.loads(invoke("mos", "report", "--json").stdout)
    assert js["ratings"] == 5 and {x["method"]: x["dmos"] for x in js["rows"]}["bilinear"] == 4.0
    export = tmp_path / "here.json"
    assert invoke("mos", "export", export).exit_code == 0
    other = tmp_path / "other.sqlite"
    first, again = invoke("mos", "import", "--db", other, export), invoke("mos", "import", "--db", other, export)
    assert "5 ratings added, 0 already here" in first.stdout and "0 ratings added, 5 already here" in again.stdout
    with Store(other) as store:
        assert len(store.ratings()) == 5
    assert web_cli.MOS_PORT == 8718


def test_mos_prepare_without_arguments_works_away_from_the_checkout(tmp_path, monkeypatch, data_home):
    monkeypatch.setattr(mos_study, "DEFAULT_VIDEO", tmp_path / "no-shared-data" / "face.mp4")
    monkeypatch.setattr(mos_study, "DEFAULT_SET5", tmp_path / "no-shared-data" / "set5")
    work = tmp_path / "elsewhere"
    work.mkdir()
    monkeypatch.chdir(work)
    r = invoke("mos", "prepare", "--methods", "bilinear,unsharp")
    assert r.exit_code == 0, r.output
    manifest = json.loads((data_home / "mos" / "manifest.json").read_text())
    assert manifest["contents"] == ["demo:f0100", "demo:f0200"] and list(work.iterdir()) == []
    # explicitly no content is still an error, not the demo scene
    r = invoke("mos", "prepare", "--video", "none", "--set5", "none", "--out", tmp_path / "s2")
    assert r.exit_code == 2 and "no content" in r.stderr
