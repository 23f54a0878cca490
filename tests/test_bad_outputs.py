"""The output family: every command that writes a file, against every kind of thing that is not a regular
file (a FIFO, a socket, a link to a FIFO, a folder) and against a file system that refuses the write.

Each case: exit 2, one line on stderr, no traceback, no hang (an alarm ends a blocked case), and the
case folder exactly as it was (the FIFO still a FIFO, no file beside it). Character devices are checked
through :func:`vcam_sharpen.core.files.check_output` only: the tests never touch /dev.
"""

from __future__ import annotations

import dataclasses
import errno
import os
import signal
import socket
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest_web import picture
from test_bad_inputs import check_one_line

from vcam_sharpen.cli import cli
from vcam_sharpen.core import files
from vcam_sharpen.core.errors import UserError
from vcam_sharpen.quality.mos_store import Store

from train import limits, recipe

STIM = {"id": "a" * 16, "content": "set5:baby", "method": "student", "kind": "still"}

# (id, argv with {out} for the target and {d} for the case folder, the target's suffix)
WRITERS = [
    ("compare", ["compare", "--source", "{d}/pic.png", "--models", "none", "--out", "{out}"], ".png"),
    ("export", ["export", "--model", "seed-student", "--out", "{out}"], ".onnx"),
    ("mos-export", ["mos", "export", "{out}", "--db", "{d}/ratings.sqlite"], ".json"),
    ("mos-report-csv", ["mos", "report", "--db", "{d}/ratings.sqlite", "--study", "all", "--csv", "{out}",
                        "--chart", "{d}/new.png"], ".csv"),
    ("mos-report-chart", ["mos", "report", "--db", "{d}/ratings.sqlite", "--study", "all", "--chart", "{out}",
                          "--csv", "{d}/new.csv"], ".png"),
    ("eval-grid", ["eval", "--dataset", "{d}/pics", "--models", "bilinear", "--grid", "{out}"], ".png"),
    ("recording", ["run", "--source", "demo", "--frames", "3", "--size", "64x48", "--output", "{out}"], ".mp4"),
    ("install-service", ["install-service", "--path", "{out}"], ".service"),
]
KINDS = ["fifo", "socket", "link-to-fifo", "folder"]


def make_target(folder: Path, kind: str, suffix: str) -> Path:
    path = folder / f"target-{kind}{suffix}"
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "socket":
        s = socket.socket(socket.AF_UNIX)
        s.bind(str(path))
        s.close()  # the socket file stays
    elif kind == "link-to-fifo":
        os.mkfifo(folder / "pipe")
        path.symlink_to(folder / "pipe")
    else:
        path.mkdir()
    return path


def snapshot(root: Path) -> dict[str, str]:
    out = {}
    for p in sorted(root.rglob("*")):
        st = os.lstat(p)
        out[str(p.relative_to(root))] = (stat.S_IFMT(st.st_mode), p.read_bytes() if stat.S_ISREG(st.st_mode) else b"")
    return out


@pytest.fixture
def case(tmp_path, monkeypatch):
    """A folder with a picture, a folder of pictures and a ratings database; private XDG folders."""
    d = tmp_path / "case"
    picture(d / "pic.png")
    picture(d / "pics" / "a.png")
    with Store(d / "ratings.sqlite") as store:
        store.add_rating("s1", store.add_rater(), STIM, 4)
    for var in ("XDG_RUNTIME_DIR", "XDG_CACHE_HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME"):
        (tmp_path / var).mkdir()
        monkeypatch.setenv(var, str(tmp_path / var))
    monkeypatch.chdir(d)
    old = signal.signal(signal.SIGALRM, _hung)
    signal.alarm(120)  # a write that blocks on a FIFO fails the test instead of hanging the suite
    yield d
    signal.alarm(0)
    signal.signal(signal.SIGALRM, old)


def _hung(signum, frame):
    raise TimeoutError("the command blocked (a FIFO opened for writing?)")


def run(argv: list[str]):
    return CliRunner().invoke(cli, argv)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("writer", WRITERS, ids=[w[0] for w in WRITERS])
def test_every_writer_refuses_what_is_not_a_regular_file(writer, kind, case):
    name, argv, suffix = writer
    target = make_target(case, kind, suffix)
    before = snapshot(case)
    r = run([a.format(d=case, out=target) for a in argv])
    assert r.exit_code == 2, (r.exit_code, r.output, r.exception)
    words = [target.name] + (["folder"] if kind == "folder" else ["not a regular file"])
    check_one_line(r.stderr, words if kind != "folder" or name != "recording" else [target.name, "folder"])
    assert snapshot(case) == before


@pytest.mark.parametrize("writer", WRITERS, ids=[w[0] for w in WRITERS])
def test_every_writer_refuses_a_name_no_file_system_takes(writer, case):
    """A 300-byte file name: one line at start (a recording once failed on its first frame and exited 0)."""
    name, argv, suffix = writer
    target = case / ("x" * 300 + suffix)
    before = snapshot(case)
    r = run([a.format(d=case, out=target) for a in argv])
    assert r.exit_code == 2, (r.exit_code, r.output, r.exception)
    check_one_line(r.stderr, ["over 255 bytes"])
    assert snapshot(case) == before


@pytest.mark.parametrize("writer", [w for w in WRITERS if w[0] not in ("recording", "install-service")],
                         ids=[w[0] for w in WRITERS if w[0] not in ("recording", "install-service")])
def test_every_writer_says_one_line_when_the_file_system_refuses(writer, case, monkeypatch):
    """A read-only file system (EROFS; simulated where the write happens: root could write anyway)."""
    name, argv, suffix = writer

    def read_only(*a, **k):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(files.tempfile, "mkstemp", read_only)
    before = snapshot(case)
    r = run([a.format(d=case, out=case / f"new{suffix}") for a in argv])
    assert r.exit_code == 2, (r.exit_code, r.output, r.exception)
    check_one_line(r.stderr, ["Read-only file system"])
    assert snapshot(case) == before


def test_a_recording_on_a_read_only_file_system_fails_at_start_not_silently(case, monkeypatch):
    def read_only(*a, **k):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(files.tempfile, "mkstemp", read_only)
    before = snapshot(case)
    r = run(["run", "--source", "demo", "--frames", "3", "--size", "64x48", "--output", str(case / "take.mp4")])
    assert r.exit_code == 2, r.output
    check_one_line(r.stderr, ["take.mp4", "Read-only file system"])
    assert snapshot(case) == before


def test_mos_prepare_on_a_read_only_file_system_is_one_line_before_any_work(case, monkeypatch):
    def read_only(*a, **k):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(files.tempfile, "mkstemp", read_only)
    before = snapshot(case)
    r = run(["mos", "prepare", "--out", str(case / "study"), "--video", "none", "--set5", "none", "--images",
             str(case / "pics"), "--methods", "bilinear"])
    assert r.exit_code == 2, r.output
    check_one_line(r.stderr, ["study", "Read-only file system"])
    assert snapshot(case) == before


def test_an_existing_recording_is_kept(case, caplog):
    take = case / "take.mp4"
    take.write_bytes(b"yesterday")
    r = run(["run", "--source", "demo", "--frames", "3", "--size", "64x48", "--output", str(take)])
    assert r.exit_code == 0, r.output
    assert take.read_bytes() == b"yesterday" and (case / "take-1.mp4").stat().st_size > 0
    assert "take.mp4 exists: recording to take-1.mp4" in caplog.text


@pytest.mark.parametrize("path", ["/dev/null", "/dev/zero", "/dev/full"])
def test_character_devices_are_refused_by_the_one_check(path):
    if not os.path.exists(path):
        pytest.skip(f"no {path}")
    with pytest.raises(UserError, match="character device, not a regular file"):
        files.check_output(Path(path), "--out")
    assert files.kind(Path(path)) == "a character device"


def test_the_one_check_accepts_regular_files_and_new_paths(tmp_path):
    (tmp_path / "f").write_text("x")
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    (tmp_path / "link").symlink_to(tmp_path / "f")
    for name in ("f", "new", "dangling", "link"):
        assert files.check_output(tmp_path / name) == tmp_path / name
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    with pytest.raises(UserError, match="unusable"):
        files.check_output(tmp_path / "loop")


@pytest.mark.parametrize("kind", ["fifo", "socket", "folder-is-fine", "file"])
def test_train_out_must_be_a_folder(kind, case, capsys):
    out = case / "run"
    if kind == "fifo":
        os.mkfifo(out)
    elif kind == "socket":
        make_target(case, "socket", "")
        out = case / "target-socket"
    elif kind == "file":
        out.write_text("notes")
    else:
        out.mkdir()
    if kind == "folder-is-fine":
        limits.check_out(out)
        return
    before = snapshot(case)
    assert recipe.main(["teacher", "--out", str(out), "--data", str(case / "nodata")]) == 2
    check_one_line(capsys.readouterr().err, [str(out), "pick a folder name"])
    assert snapshot(case) == before


@pytest.mark.parametrize("argv, words", [
    (["--lr", "nan"], ["--lr", "finite"]), (["--lr", "inf"], ["--lr", "finite"]), (["--lr", "-1"], ["--lr", "above 0"]),
    (["--lr", "0"], ["--lr", "above 0"]), (["--threads", "-1"], ["--threads", "from 0"]),
    (["--limit", "-100"], ["--limit", "from 0"]), (["--epochs", "0"], ["--epochs", "from 1"]),
    (["--epochs", "100000000"], ["--epochs", "10000"]), (["--batch-size", "0"], ["--batch-size", "from 1"]),
    (["--weight-decay", "nan"], ["--weight-decay", "finite"]), (["--seed", "-1"], ["--seed", "from 0"]),
    (["--val-size", "-5"], ["--val-size", "from 1"]), (["--corrupt-workers", "-2"], ["--corrupt-workers"]),
    (["--alpha", "inf"], ["--alpha", "finite"]), (["--limit", "abc"], ["--limit", "invalid int"]),
    (["--patch-size", "100000"], ["--patch-size", "1024"]),
])
def test_training_numbers_have_ranges_checked_before_any_work(argv, words, case, capsys):
    before = snapshot(case)
    assert recipe.main(["teacher", "--data", str(case / "nodata"), "--out", str(case / "run"), *argv]) == 2
    check_one_line(capsys.readouterr().err, words)
    assert snapshot(case) == before


def test_every_training_range_is_documented():
    cfg = recipe.Config()
    for name, (low, high) in limits.RANGES.items():
        assert low <= getattr(cfg, name) <= high or name == "lr", name  # the defaults sit inside their ranges
        assert name in {f.name for f in dataclasses.fields(recipe.Config)}

