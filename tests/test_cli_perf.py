"""``vcam-sharpen export`` and ``bench`` through the real click entry point."""

import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from click.testing import CliRunner

from vcam_sharpen.cli import perf
from vcam_sharpen.cli.app import cli



pytestmark = pytest.mark.usefixtures("onnx_cache")


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def test_export_command_writes_a_loadable_file(tmp_path, seed_weights):
    out = tmp_path / "mine.onnx"
    r = invoke("export", "--weights", seed_weights, "--out", out, "--json")
    assert r.exit_code == 0, r.output
    info = json.loads(r.stdout)
    assert info["path"] == str(out) and info["max_abs_diff"] <= 1e-4 and info["opset"] >= 17
    onnx.checker.check_model(onnx.load(str(out)))
    sess = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    y = sess.run(None, {"input": np.random.rand(1, 3, 30, 41).astype(np.float32)})[0]
    assert y.shape == (1, 3, 30, 41)

    out2 = tmp_path / "frame.onnx"
    r = invoke("export", "--weights", seed_weights, "--out", out2, "--kind", "frame2x")
    assert r.exit_code == 0, r.output
    assert "wrote" in r.output and "grey levels" in r.output
    sess = ort.InferenceSession(str(out2), providers=["CPUExecutionProvider"])
    y = sess.run(None, {"frame": np.zeros((1, 10, 12, 3), np.uint8)})[0]
    assert y.shape == (1, 20, 24, 3) and y.dtype == np.uint8


def test_export_command_errors(tmp_path, seed_weights):
    r = invoke("export", "--weights", tmp_path / "nope.pt")
    assert r.exit_code == 2 and "does not exist" in r.output and "Traceback" not in r.output
    r = invoke("export", "--model", "seed-teacher", "--weights", seed_weights)
    assert r.exit_code == 2 and "not 'seed-teacher'" in r.output
    r = invoke("export", "--model", "student", "--kind", "frame", "--out", tmp_path / "x.onnx")
    assert r.exit_code == 2 and "is a 2x model" in r.output and not (tmp_path / "x.onnx").exists()


def test_bench_json_on_demo_frames(seed_weights):
    r = invoke("bench", "--source", "demo", "--size", "64x48", "--frames", "3", "--paced-frames", "2",
               "--paced-fps", "100", "--models", f"bilinear,unsharp,{seed_weights}", "--json")
    assert r.exit_code == 0, r.output
    report = json.loads(r.stdout)
    assert report["size"] == "64x48" and report["source"] == "demo" and report["degrade"] == 2
    assert [row["label"] for row in report["rows"]] == ["bilinear", "unsharp", "tiny"]
    assert all(set(row["stages"]) == {"capture", "prep", "temporal", "inference", "publish"} for row in report["rows"])


def test_bench_errors():
    r = invoke("bench", "--source", "demo", "--models", "nosuch", "--frames", "1")
    assert r.exit_code == 2 and "unknown model 'nosuch'" in r.output
    r = invoke("bench", "--size", "1280by720")
    assert r.exit_code == 2 and "--size" in r.output and "Traceback" not in r.output
    r = invoke("bench", "--source", "demo", "--device", "cuda", "--models", "default", "--frames", "1")
    if not torch.cuda.is_available():
        assert r.exit_code == 2 and "--device cuda" in r.output


def test_bench_markdown_has_one_line_per_row():
    r = invoke("bench", "--source", "demo", "--size", "64x48", "--models", "bilinear,unsharp", "--frames", "3",
               "--paced-frames", "0", "--markdown")
    assert r.exit_code == 0, r.output
    rows = [line for line in r.stdout.splitlines() if line.startswith("| 64x48")]
    assert [row.split("|")[2].strip() for row in rows] == ["bilinear", "unsharp"]
    assert "prep" in r.stdout.splitlines()[0] and "degrade" not in r.stdout.splitlines()[0]


def test_bench_and_train_keep_device_for_the_compute_device():
    text = invoke("bench", "--help").stdout
    assert "--device" in text and "--vcam-device" not in text
    assert perf.DEVICE_HELP in " ".join(text.split()) or "cuda" in text
