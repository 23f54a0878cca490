"""The bad-input battery: every case exits 2 with one line on stderr that names the thing and the fix,
prints no traceback, and creates or changes no file (checkpoints, recordings, sources, the config).

Cases run in-process (click's runner; ``train`` through its ``main``) so the battery stays fast; a
few also run as real processes to show the same holds at the process level.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import pickle
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest
import torch
from click.testing import CliRunner
from conftest import CIFAR_DIR, SHARED_DATA, smooth_images, write_batch
from conftest_daemon import recording_backend  # noqa: F401

from train import recipe
from vcam_sharpen.cli import cli
from vcam_sharpen.core import checkpoint, loader
from vcam_sharpen.core.models import create_model

REPO = Path(__file__).resolve().parents[1]
FACE = SHARED_DATA / "video" / "face_1280x720.mp4"
# Words that start the fix in a message ("... ; pass an existing file").
FIX_WORDS = ("use ", "pass ", "pick ", "create ", "choose ", "remove ", "install ", "put ", "save ", "convert ",
             "drop ", "give ", "fix ", "see ", "make ", "load ", "rename ", "delete ", "close ", "stop ",
             "must be", "expected", "try ", "run ", "check ", "start ", "add ", "leave ", "set ", "allow",
             "needs ", "download ")


def _shipped(tag: str) -> dict:
    return torch.load(loader.shipped()[tag], weights_only=True)


def _save_ckpt(path: Path, change) -> Path:
    ck = _shipped("student")
    ck = {**ck, "model_args": dict(ck["model_args"]), "state_dict": dict(ck["state_dict"])}
    change(ck)
    torch.save(ck, path)
    return path


class Evil:
    """A pickle that would run a shell command when loaded without weights_only."""

    def __reduce__(self):
        return (os.system, ("touch PWNED",))


def make_files(d: Path) -> None:
    """Every bad file the cases name, in the case's folder."""
    (d / "dir.mp4").mkdir()
    (d / "garbage.mp4").write_bytes(np.random.default_rng(0).integers(0, 256, 5000, np.uint8).tobytes())
    (d / "empty.pt").write_bytes(b"")
    (d / "random.pt").write_bytes(np.random.default_rng(1).integers(0, 256, 3000, np.uint8).tobytes())
    data = loader.shipped()["student"].read_bytes()
    (d / "truncated.pt").write_bytes(data[: len(data) // 2])
    (d / "evil.pt").write_bytes(pickle.dumps({"model": "student", "state_dict": Evil()}))
    _save_ckpt(d / "negative.pt", lambda c: c["model_args"].__setitem__("channels", -1))
    _save_ckpt(d / "zero.pt", lambda c: c["model_args"].__setitem__("channels", 0))
    _save_ckpt(d / "liststate.pt", lambda c: c.__setitem__("state_dict", [1, 2, 3]))
    _save_ckpt(d / "listargs.pt", lambda c: c.__setitem__("model_args", [16]))
    _save_ckpt(d / "nan.pt", lambda c: c["state_dict"].__setitem__("convs.0.weight",
                                                                    c["state_dict"]["convs.0.weight"] * float("nan")))
    _save_ckpt(d / "inf.pt", lambda c: c["state_dict"].__setitem__("convs.0.bias",
                                                                   c["state_dict"]["convs.0.bias"] + float("inf")))
    _save_ckpt(d / "unknown.pt", lambda c: c.__setitem__("model", "hyper-net"))
    _save_ckpt(d / "wrongshape.pt", lambda c: c["state_dict"].__setitem__("convs.0.weight", torch.zeros(8, 3, 3, 3)))
    torch.manual_seed(0)
    checkpoint.save(d / "seed.pt", create_model("seed-student"))
    import cv2

    cv2.imwrite(str(d / "still.png"), np.full((64, 64, 3), 99, np.uint8))
    for name, size in (("tiny3", 3), ("tiny1", 1)):
        (d / name).mkdir()
        cv2.imwrite(str(d / name / "a.png"), np.full((64, 64, 3), 50, np.uint8))
        cv2.imwrite(str(d / name / "b.png"), np.full((size, size, 3), 50, np.uint8))
    (d / "corruptpng").mkdir()
    (d / "corruptpng" / "a.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)
    (d / "emptydir").mkdir()
    (d / "onlytest" / "cifar-10-batches-py").mkdir(parents=True)
    write_batch(d / "onlytest" / "cifar-10-batches-py" / "test_batch", smooth_images(10), list(range(10)))
    clip = np.full((48, 64, 3), 80, np.uint8)
    writer = cv2.VideoWriter(str(d / "clip.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 30, (64, 48))
    for _ in range(10):
        writer.write(clip)
    writer.release()
    (d / "config").mkdir()
    os.mkfifo(d / "pipe.pt")
    (d / "fifodir").mkdir()
    os.mkfifo(d / "fifodir" / "a.png")
    os.mkfifo(d / "pipe.mp4")
    for name, side in (("one.mkv", 1), ("two.mkv", 2)):  # videos too small to be a picture
        with av.open(str(d / name), "w", format="matroska") as c:
            stream = c.add_stream("ffv1", rate=10)
            stream.width = stream.height = side
            stream.pix_fmt = "bgr0"
            for _ in range(3):
                for packet in stream.encode(av.VideoFrame.from_ndarray(np.full((side, side, 3), 90, np.uint8),
                                                                       format="bgr24")):
                    c.mux(packet)
            for packet in stream.encode():
                c.mux(packet)
    (d / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
    (d / "nan.json").write_text(json.dumps({"format": "vcam-sharpen-mos-ratings", "version": 1, "raters": [],
                                            "ratings": [{"id": "a" * 32, "study": "s1", "rater": "b" * 32,
                                                         "stimulus": "c" * 16, "content": "x", "method": "student",
                                                         "kind": "still", "expected": None, "score": 3,
                                                         "created": float("nan")}]}))
    other = sqlite3.connect(d / "other.sqlite")  # another program's database
    other.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")
    other.execute("INSERT INTO notes (body) VALUES ('precious')")
    other.commit()
    other.close()
    (d / "ok.json").write_text(json.dumps({"format": "vcam-sharpen-mos-ratings", "version": 1, "raters": [],
                                           "ratings": []}))


RUN = ["run", "--frames", "3", "--size", "64x48", "--source", "demo"]

# (id, argv, words the one line must contain); argv may use {d} for the case folder.
CASES = [
    # run: sources
    ("src-missing", ["run", "--source", "{d}/missing.mp4", "--output", "null"], ["missing.mp4", "does not exist"]),
    ("src-folder", ["run", "--source", "{d}/dir.mp4", "--output", "null"], ["dir.mp4", "folder"]),
    ("src-devnull", ["run", "--source", "/dev/null", "--output", "null"], ["/dev/null", "not a regular file"]),
    ("src-garbage", ["run", "--source", "{d}/garbage.mp4", "--output", "null"], ["garbage.mp4", "cannot decode"]),
    ("src-still", ["run", "--source", "{d}/still.png", "--output", "null"], ["still.png", "still image"]),
    ("src-camera-missing", ["run", "--source", "/dev/video77", "--output", "null"], ["/dev/video77", "no camera"]),
    ("src-is-output", ["run", "--source", "{d}/clip.avi", "--output", "{d}/clip.avi"], ["clip.avi", "destroy"]),
    # run: models and weights
    ("model-unknown", [*RUN, "--model", "studnet", "--output", "null"], ["studnet", "choose from"]),
    ("model-2x-same-size", [*RUN, "--model", "student", "--degrade", "1", "--output", "null"], ["2x", "--degrade 2"]),
    # a same-size model in a 2x mode, by every path (one check: core.degrade.check_mode)
    ("model-same-size-2x", [*RUN, "--model", "enhance", "--degrade", "2", "--output", "null"],
     ["enhance", "own size", "--degrade 1"]),
    ("model-same-size-upscale", [*RUN, "--model", "enhance", "--degrade", "1", "--upscale", "--output", "null"],
     ["enhance", "own size", "--upscale"]),
    ("weights-same-size-2x", [*RUN, "--weights", str(loader.shipped()["enhance"]), "--degrade", "2", "--output",
                              "null"], ["enhance", "own size", "--degrade 1"]),
    ("bench-same-size-2x", ["bench", "--models", "enhance", "--degrade", "2", "--source", "demo"],
     ["enhance", "own size"]),
    ("compare-same-size-2x", ["compare", "--source", "{d}/tiny3/a.png", "--models", "none,enhance", "--degrade", "2",
                              "--out", "{d}/c.png"], ["enhance", "own size"]),
    ("eval-same-size-2x", ["eval", "--dataset", "{d}/tiny3", "--models", "enhance"], ["enhance", "2x task"]),
    ("export-same-size-frame2x", ["export", "--model", "enhance", "--kind", "frame2x", "--out", "{d}/x.onnx"],
     ["enhance", "own size"]),
    ("weights-missing", [*RUN, "--weights", "{d}/missing.pt", "--output", "null"], ["missing.pt", "does not exist"]),
    ("weights-empty", [*RUN, "--weights", "{d}/empty.pt", "--output", "null"], ["empty.pt", "checkpoint"]),
    ("weights-random", [*RUN, "--weights", "{d}/random.pt", "--output", "null"], ["random.pt", "checkpoint"]),
    ("weights-truncated", [*RUN, "--weights", "{d}/truncated.pt", "--output", "null"], ["truncated.pt", "checkpoint"]),
    ("weights-hostile-pickle", [*RUN, "--weights", "{d}/evil.pt", "--output", "null"], ["evil.pt", "checkpoint"]),
    ("weights-negative-channels", [*RUN, "--weights", "{d}/negative.pt", "--output", "null"],
     ["negative.pt", "model_args", "channels=-1"]),
    ("weights-list-state", [*RUN, "--weights", "{d}/liststate.pt", "--output", "null"], ["liststate.pt", "state_dict"]),
    ("weights-list-args", [*RUN, "--weights", "{d}/listargs.pt", "--output", "null"], ["listargs.pt", "model_args"]),
    ("weights-nan", [*RUN, "--weights", "{d}/nan.pt", "--output", "null"], ["nan.pt", "NaN"]),
    ("weights-inf", [*RUN, "--weights", "{d}/inf.pt", "--output", "null"], ["inf.pt", "infinite"]),
    ("weights-unknown-model", [*RUN, "--weights", "{d}/unknown.pt", "--output", "null"], ["hyper-net", "this version"]),
    ("weights-wrong-shape", [*RUN, "--weights", "{d}/wrongshape.pt", "--output", "null"], ["wrongshape.pt", "convs.0"]),
    ("weights-other-model", [*RUN, "--model", "student", "--weights", "{d}/seed.pt", "--output", "null"],
     ["seed-student", "--model seed-student"]),
    ("weights-without-model", [*RUN, "--model", "none", "--weights", "{d}/seed.pt", "--output", "null"],
     ["seed.pt", "ignored"]),
    # run: values
    ("size-zero", ["run", "--size", "0x0", "--output", "null"], ["0x0", "range"]),
    ("size-garbage", ["run", "--size", "big", "--output", "null"], ["big", "WIDTHxHEIGHT"]),
    ("size-odd", ["run", "--size", "1281x720", "--output", "null"], ["1281x720", "even"]),
    ("fps-zero", ["run", "--fps", "0", "--output", "null"], ["--fps", "range"]),
    ("fps-huge", ["run", "--fps", "1000", "--output", "null"], ["--fps", "range"]),
    ("degrade-3", ["run", "--degrade", "3", "--output", "null"], ["--degrade", "range"]),
    ("engine-unknown", ["run", "--engine", "tensorrt", "--output", "null"], ["tensorrt", "not one of"]),
    # run: outputs
    ("output-unknown", [*RUN, "--output", "x.foo"], ["x.foo", "use vcam"]),
    ("output-no-folder", [*RUN, "--output", "{d}/nofolder/out.mp4"], ["nofolder", "create it"]),
    ("output-is-folder", [*RUN, "--output", "{d}/dir.mp4"], ["dir.mp4", "folder"]),
    ("output-preview-no-display", [*RUN, "--output", "preview"], ["preview", "display"]),
    ("output-vcam-backend", [*RUN, "--output", "vcam", "--backend", "nosuch"], ["nosuch", "choose from"]),
    # start fails before forking
    ("start-model", ["start", "--model", "studnet"], ["studnet", "choose from"]),
    ("start-size", ["start", "--size", "1x1"], ["1x1", "range"]),
    # eval
    ("eval-dataset-missing", ["eval", "--dataset", "{d}/nosuch"], ["nosuch", "use cifar10"]),
    ("eval-image-3x3", ["eval", "--dataset", "{d}/tiny3", "--models", "bilinear"], ["b.png", "3x3", "remove"]),
    ("eval-image-1x1", ["eval", "--dataset", "{d}/tiny1", "--models", "bilinear"], ["b.png", "1x1", "remove"]),
    ("eval-image-corrupt", ["eval", "--dataset", "{d}/corruptpng", "--models", "bilinear"], ["a.png", "cannot read"]),
    ("eval-empty-folder", ["eval", "--dataset", "{d}/emptydir"], ["emptydir", "no images"]),
    ("eval-row-unknown", ["eval", "--dataset", "{d}/tiny3", "--models", "nosuch"], ["nosuch", "choose from"]),
    ("eval-weights-nan", ["eval", "--dataset", "{d}/tiny3", "--models", "bilinear", "--weights", "{d}/nan.pt"],
     ["nan.pt", "NaN"]),
    ("eval-data-typo", ["eval", "--data", "{d}/typo/cifar"], ["typo", "does not exist"]),
    ("eval-grid-no-folder", ["eval", "--dataset", "{d}/tiny3", "--models", "bilinear", "--grid",
                             "{d}/nofolder/g.png"], ["nofolder", "create it"]),
    # export
    ("export-model-unknown", ["export", "--model", "studnet", "--out", "{d}/x.onnx"], ["studnet", "choose from"]),
    ("export-weights-random", ["export", "--weights", "{d}/random.pt", "--out", "{d}/x.onnx"], ["random.pt"]),
    ("export-out-no-folder", ["export", "--model", "seed-student", "--out", "{d}/nofolder/x.onnx"],
     ["nofolder", "pass another"]),
    ("export-2x-same-size", ["export", "--model", "student", "--kind", "frame", "--out", "{d}/x.onnx"],
     ["2x", "--degrade 2"]),
    ("export-baseline", ["export", "--model", "unsharp", "--out", "{d}/x.onnx"], ["unsharp", "not a network"]),
    # bench
    ("bench-row-unknown", ["bench", "--models", "studnet", "--source", "demo"], ["studnet", "choose from"]),
    ("bench-size", ["bench", "--size", "10x10x", "--source", "demo"], ["10x10x", "WIDTHxHEIGHT"]),
    ("bench-source-missing", ["bench", "--source", "{d}/missing.mp4", "--models", "bilinear"], ["missing.mp4"]),
    ("bench-cuda", ["bench", "--device", "cuda", "--models", "student", "--source", "demo"], ["cuda", "--device cpu"]),
    ("bench-models-empty", ["bench", "--models", ",", "--source", "demo"], ["--models", "empty"]),
    # eval --degradation soft, compare
    ("eval-soft-2x-model", ["eval", "--dataset", "{d}/tiny3", "--degradation", "soft", "--models", "student"],
     ["student", "2x model", "drop it"]),
    ("compare-crop-outside", ["compare", "--source", "{d}/tiny3/a.png", "--crop", "0,0,99,99", "--out", "{d}/c.png"],
     ["--crop", "inside"]),
    ("compare-source-missing", ["compare", "--source", "{d}/missing.mp4", "--out", "{d}/c.png"], ["missing.mp4"]),
    # inputs that are not regular files, and sources too small to sharpen
    ("weights-fifo", [*RUN, "--weights", "{d}/pipe.pt", "--output", "null"], ["pipe.pt", "FIFO", "not a regular"]),
    ("eval-weights-fifo", ["eval", "--dataset", "{d}/tiny3", "--models", "bilinear", "--weights", "{d}/pipe.pt"],
     ["pipe.pt", "FIFO"]),
    ("src-fifo", ["run", "--source", "{d}/pipe.mp4", "--output", "null"], ["pipe.mp4", "not a regular file"]),
    ("src-1x1", ["run", "--source", "{d}/one.mkv", "--output", "null"], ["one.mkv", "1x1", "too small"]),
    ("src-2x2-degrade", ["run", "--source", "{d}/two.mkv", "--degrade", "2", "--output", "null"], ["2x2", "too small"]),
    ("bench-src-1x1", ["bench", "--source", "{d}/one.mkv", "--models", "bilinear"], ["one.mkv", "too small"]),
    ("compare-src-1x1", ["compare", "--source", "{d}/one.mkv", "--out", "{d}/c.png"], ["one.mkv", "too small"]),
    ("output-fifo", [*RUN, "--output", "{d}/pipe.mp4"], ["pipe.mp4", "FIFO"]),
    ("eval-image-fifo", ["eval", "--dataset", "{d}/fifodir", "--models", "bilinear"], ["a.png", "FIFO"]),
    # bounded work: numbers outside their documented range, at parse time
    ("corrupt-blur-huge", ["eval", "--dataset", "{d}/tiny3", "--models", "bilinear", "--corrupt", "blur:1e5"],
     ["blur", "[0, 50]"]),
    ("corrupt-blur-giant", ["compare", "--source", "{d}/tiny3/a.png", "--corrupt", "blur:1e9", "--out", "{d}/c.png"],
     ["blur", "[0, 50]"]),
    ("corrupt-noise-huge", ["eval", "--dataset", "{d}/tiny3", "--models", "bilinear", "--corrupt", "noise:1e308"],
     ["noise", "[0, 255]"]),
    ("corrupt-jpeg-zero", ["eval", "--dataset", "{d}/tiny3", "--models", "bilinear", "--corrupt", "jpeg:0"],
     ["jpeg", "[1, 100]"]),
    ("corrupt-crf-huge", ["eval", "--dataset", "{d}/tiny3", "--models", "bilinear", "--corrupt", "h264:99"],
     ["h264", "[0, 51]"]),
    ("corrupt-too-long", ["eval", "--dataset", "{d}/tiny3", "--models", "bilinear", "--corrupt",
                          "+".join(["blur:1"] * 40)], ["at most 16 terms", "drop"]),
    ("bench-max-seconds-nan", ["bench", "--source", "demo", "--models", "bilinear", "--max-seconds", "nan"],
     ["--max-seconds", "finite"]),
    ("bench-paced-fps-inf", ["bench", "--source", "demo", "--models", "bilinear", "--paced-fps", "inf"],
     ["--paced-fps", "range"]),
    ("bench-threads-negative", ["bench", "--source", "demo", "--models", "bilinear", "--threads", "-1"],
     ["--threads", "range"]),
    ("eval-seed-negative", ["eval", "--dataset", "{d}/tiny3", "--models", "bilinear", "--seed", "-1"],
     ["--seed", "range"]),
    ("fps-nan", ["run", "--fps", "nan", "--output", "null"], ["--fps", "not a finite number", "1<=x<=120"]),
    ("cpu-budget-nan", ["run", "--cpu-budget", "nan", "--output", "null"], ["--cpu-budget"]),
    ("panel-port-huge", ["run", "--panel-port", "70000", "--output", "null"], ["--panel-port", "range"]),
    ("stop-timeout-nan", ["stop", "--timeout", "nan"], ["--timeout", "finite"]),
    # the MOS database and its exports
    ("mos-import-deep", ["mos", "import", "{d}/deep.json", "--db", "{d}/new.sqlite"], ["deep.json", "nests too deep"]),
    ("mos-import-nan-time", ["mos", "import", "{d}/nan.json", "--db", "{d}/new.sqlite"], ["'created' must be a time"]),
    ("mos-import-other-db", ["mos", "import", "{d}/ok.json", "--db", "{d}/other.sqlite"],
     ["other.sqlite", "another program", "left as it was"]),
    ("mos-report-other-db", ["mos", "report", "--db", "{d}/other.sqlite", "--study", "all"],
     ["other.sqlite", "another program"]),
    ("mos-export-other-db", ["mos", "export", "{d}/x.json", "--db", "{d}/other.sqlite"], ["another program"]),
    ("mos-prepare-out-fifo", ["mos", "prepare", "--out", "{d}/pipe.mp4", "--video", "none", "--set5", "none",
                              "--images", "{d}/tiny3"], ["pipe.mp4", "not a study folder"]),
    ("mos-import-fifo", ["mos", "import", "{d}/pipe.mp4", "--db", "{d}/new.sqlite"], ["pipe.mp4", "FIFO"]),
    ("compare-2x-same-size", ["compare", "--source", "{d}/tiny3/a.png", "--models", "student", "--degrade", "1",
                              "--out", "{d}/c.png"], ["2x", "--degrade 2"]),
]

CONFIGS = [
    ("config-not-utf8", b'source = "\xff\xfe"\n', ["config.toml", "UTF-8"]),
    ("config-bad-toml", b"fps = = 3\n", ["config.toml", "fix it"]),
    ("config-unknown-key", b"sauce = 1\n", ["sauce", "valid keys"]),
    ("config-bad-value", b'fps = "fast"\n', ["fps", "number"]),
    ("config-bad-output", b"output = 5\n", ["output", "list of names"]),
    ("config-bad-model", b'model = "studnet"\n', ["studnet", "choose from"]),
]

TRAIN = [
    ("train-negative-channels", ["teacher", "--model", "student", "--model-args", "channels=-1"], ["channels=-1"]),
    ("train-zero-channels", ["teacher", "--model", "student", "--model-args", "channels=0"], ["channels=0"]),
    ("train-args-malformed", ["teacher", "--model-args", "channels"], ["channels", "key=value"]),
    ("train-model-unknown", ["teacher", "--model", "studnet"], ["studnet", "choose from"]),
    ("train-data-typo", ["teacher", "--data", "{d}/typo/cifar"], ["typo", "does not exist"]),
    ("train-only-test-batch", ["teacher", "--data", "{d}/onlytest"], ["data_batch_1", "put them"]),
    ("train-resume-nothing", ["teacher", "--resume", "--out", "{d}/run"], ["--resume", "without --resume"]),
    ("train-init-random", ["teacher", "--model", "seed-teacher", "--init", "{d}/random.pt"], ["random.pt"]),
    ("train-teacher-missing", ["student", "--teacher", "{d}/missing.pt"], ["missing.pt", "does not exist"]),
    ("train-epochs-zero", ["teacher", "--epochs", "0"], ["--epochs", "must be"]),
    ("train-same-size-2x-model", ["teacher", "--model", "student", "--factor", "1"], ["--factor 1", "enhance"]),
]


def snapshot(root: Path) -> dict[str, str]:
    """Every file and folder below ``root`` with a hash of its contents (other kinds by their type: a FIFO
    is never opened)."""
    out = {}
    for p in sorted(root.rglob("*")):
        rel = str(p.relative_to(root))
        mode = os.lstat(p).st_mode
        out[rel] = hashlib.sha1(p.read_bytes()).hexdigest() if stat.S_ISREG(mode) else f"type {stat.S_IFMT(mode)}"
    return out


@pytest.fixture(scope="module")
def case_dir(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("bad")
    make_files(d)
    return d


@pytest.fixture
def env(case_dir, tmp_path, monkeypatch):
    """The case folder as the working directory; config in it, runtime files and caches outside."""
    monkeypatch.chdir(case_dir)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(case_dir / "config"))
    for var in ("XDG_RUNTIME_DIR", "XDG_CACHE_HOME"):
        (tmp_path / var).mkdir()
        monkeypatch.setenv(var, str(tmp_path / var))
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    return case_dir


def check_one_line(stderr: str, words: list[str]) -> None:
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, f"expected one line on stderr, got: {stderr!r}"
    line = lines[0]
    assert line.startswith("error: "), line
    assert "Traceback" not in stderr
    assert "['" not in line and "{'" not in line, f"a Python repr in {line!r}"
    for w in words:
        assert w in line, f"{w!r} not in {line!r}"
    assert any(f in line for f in FIX_WORDS), f"no fix in {line!r}"


def test_battery_has_forty_cases():
    assert len(CASES) + len(CONFIGS) + len(TRAIN) >= 40


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_command_line_case(case, env):
    _, argv, words = case
    before = snapshot(env)
    r = CliRunner().invoke(cli, [a.format(d=env) for a in argv])
    assert r.exit_code == 2, (r.exit_code, r.output, r.exception)
    check_one_line(r.stderr, words)
    assert snapshot(env) == before
    assert not Path("PWNED").exists()


@pytest.mark.parametrize("case", CONFIGS, ids=[c[0] for c in CONFIGS])
def test_config_file_case(case, env):
    _, content, words = case
    path = env / "config" / "vcam-sharpen" / "config.toml"
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(content)
    try:
        before = snapshot(env)
        r = CliRunner().invoke(cli, [*RUN, "--output", "null"])
        assert r.exit_code == 2, r.output
        check_one_line(r.stderr, words)
        assert snapshot(env) == before
    finally:
        path.unlink()


@pytest.mark.parametrize("kind, words", [
    ("folder", ["a folder", "not a regular file"]), ("fifo", ["FIFO", "not a regular file"]),
    ("symlink-loop", ["unusable"]), ("dangling-link", ["a link to nothing"]),
    ("nested-50000", ["nests too deep"]), ("huge", ["over 256 KiB"]),
])
def test_a_config_file_that_is_no_settings_file_is_an_error_never_absent(kind, words, env):
    """Ignoring it silently (and `config` saying "(absent)") would run with settings the user did not choose."""
    path = env / "config" / "vcam-sharpen" / "config.toml"
    path.parent.mkdir(exist_ok=True)
    if kind == "folder":
        path.mkdir()
    elif kind == "fifo":
        os.mkfifo(path)
    elif kind == "symlink-loop":
        path.symlink_to(path)
    elif kind == "dangling-link":
        path.symlink_to(env / "config" / "nowhere.toml")
    elif kind == "nested-50000":
        path.write_text("a = " + "[" * 50_000 + "]" * 50_000 + "\n")
    else:
        path.write_text("# padding\n" * 30_000)
    try:
        before = snapshot(env)
        for argv in ([*RUN, "--output", "null"], ["config"], ["install-service", "--path", str(env / "x.service")]):
            r = CliRunner().invoke(cli, argv)
            assert r.exit_code == 2, (argv, r.output)
            check_one_line(r.stderr, ["config.toml", *words])
            assert "(absent)" not in r.output
        assert snapshot(env) == before
    finally:
        if path.is_dir() and not path.is_symlink():
            path.rmdir()
        else:
            path.unlink()


@pytest.mark.parametrize("case", TRAIN, ids=[c[0] for c in TRAIN])
def test_train_case(case, env, capsys):
    _, argv, words = case
    argv = [a.format(d=env) for a in argv]
    if "--data" not in argv:
        argv += ["--data", str(CIFAR_DIR) if CIFAR_DIR.is_dir() else str(env / "typo")]
    before = snapshot(env)
    assert recipe.main(argv) == 2
    check_one_line(capsys.readouterr().err, words)
    assert snapshot(env) == before


@pytest.mark.slow  # a real process (python -m vcam_sharpen / train): seconds of imports each
@pytest.mark.parametrize("argv, word", [
    (["run", "--weights", "random.pt", "--source", "demo", "--output", "null"], "random.pt"),
    (["eval", "--dataset", "tiny3", "--models", "bilinear"], "tiny3"),
    # FFmpeg logs from C straight to the process's stderr: only a real process shows it
    (["run", "--source", "garbage.mp4", "--output", "null"], "garbage.mp4"),
    (["run", "--source", "still.png", "--output", "null"], "still.png"),
    # torch warns about foreign pickles through Python's warnings: only a real process shows it
    (["eval", "--dataset", "tiny3", "--models", "bilinear", "--weights", "evil.pt"], "could run code"),
])
def test_as_a_real_process(argv, word, env):
    """The same contract at the process level: exit 2, one line, nothing else printed."""
    pyenv = {**os.environ, "PYTHONPATH": str(REPO)}
    r = subprocess.run([sys.executable, "-m", "vcam_sharpen", *argv], capture_output=True, text=True, cwd=env,
                       env=pyenv, timeout=120)
    assert r.returncode == 2, r.stderr
    assert r.stdout == ""
    check_one_line(r.stderr, [word])


@pytest.mark.slow  # a real process (python -m vcam_sharpen / train): seconds of imports each
@pytest.mark.skipif(not CIFAR_DIR.is_dir(), reason="needs CIFAR-10")
def test_train_sigterm_before_the_loop_is_one_line(tmp_path):
    """SIGTERM while the teacher's outputs are computed (before the first step): no traceback,
    nothing saved, exit 130."""
    import signal

    pyenv = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"}
    out = tmp_path / "run"
    p = subprocess.Popen([sys.executable, "-m", "train", "student", "--data", str(CIFAR_DIR), "--limit", "3000",
                          "--teacher", str(loader.shipped()["teacher"]), "--out", str(out), "--threads", "1"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO, env=pyenv)
    try:
        line = p.stdout.readline()  # "student: N parameters, ..." comes right before the teacher runs
        assert "parameters" in line, line
        p.send_signal(signal.SIGTERM)
        _, err = p.communicate(timeout=60)
    finally:
        p.kill()
    assert "Traceback" not in err, err
    assert p.returncode == 130, err
    assert "nothing was saved" in err
    assert not (out / "checkpoint.pt").exists() and not (out / "model.pt").exists()


@pytest.mark.parametrize("failure, words", [
    (RuntimeError("VIDIOC_S_FMT: Device or resource busy (errno 16)"), ["busy", "stop the other program"]),
    (RuntimeError("Errno 22 Invalid argument"), ["refused 64x48", "close the meeting app"]),
    (RuntimeError("device /dev/video10 does not exist"), ["no virtual camera device"]),
])
def test_busy_or_missing_virtual_camera(failure, words, env, recording_backend):  # noqa: F811
    recording_backend.fail_open = failure
    before = snapshot(env)
    r = CliRunner().invoke(cli, [*RUN, "--output", "vcam", "--backend", "recording"])
    assert r.exit_code == 2, r.output
    check_one_line(r.stderr, words)
    assert snapshot(env) == before


def test_hostile_pickle_never_ran(env):
    r = CliRunner().invoke(cli, ["eval", "--dataset", "tiny3", "--models", "bilinear", "--weights", "evil.pt"])
    assert r.exit_code == 2 and not (env / "PWNED").exists()


def test_eval_on_real_cifar_is_unaffected(env):
    if not CIFAR_DIR.is_dir():
        pytest.skip("no CIFAR-10")
    r = CliRunner().invoke(cli, ["eval", "--data", str(CIFAR_DIR), "--models", "bilinear", "--limit", "4", "--json"])
    assert r.exit_code == 0, r.output


_ = io  # io is imported for the Evil pickle's protocol users reading this file
