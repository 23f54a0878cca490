"""``vcam-sharpen bench`` on a few demo frames: the report's shape, not its speeds."""

import json

import pytest
import torch
from click.testing import CliRunner

from vcam_sharpen import checkpoint
from vcam_sharpen.bench import format_table, parse_size, run_bench
from vcam_sharpen.cli import cli
from vcam_sharpen.errors import UserError
from vcam_sharpen.models import create_model

STAGES = {"capture", "degrade", "inference", "publish"}


@pytest.fixture(autouse=True)
def onnx_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


@pytest.fixture
def weights(tmp_path):
    torch.manual_seed(0)
    return checkpoint.save(tmp_path / "tiny.pt", create_model("seed-student"))


def test_bench_json_on_demo_frames(weights):
    r = CliRunner().invoke(cli, ["bench", "--source", "demo", "--size", "64x48", "--frames", "3",
                                 "--paced-frames", "2", "--paced-fps", "100", "--models",
                                 f"bilinear,unsharp,{weights}", "--json"])
    assert r.exit_code == 0, r.output
    report = json.loads(r.stdout)
    assert report["size"] == "64x48" and report["source"] == "demo" and report["degrade"] == 2
    assert report["machine"]["cpus"] >= 1
    assert [row["label"] for row in report["rows"]] == ["bilinear", "unsharp", "tiny"]
    for row in report["rows"]:
        assert set(row["stages"]) == STAGES
        assert all(set(v) == {"p50", "p95"} for v in row["stages"].values())
        assert row["frames"] == 3 and row["fps"] > 0 and row["cpu_ms_per_frame"] >= 0
        assert row["latency_p95_ms"] > 0
        assert set(row["paced"]) >= {"cpu_cores", "fps", "fps_target", "frames"}
    bilinear, unsharp, tiny = report["rows"]
    assert bilinear["model_fps"] is None and bilinear["overhead"] is None
    assert tiny["model_fps"] > 0 and tiny["overhead"] is not None and tiny["gmac_per_frame"] > 0
    assert bilinear["gmac_per_frame"] is None
    assert "onnxruntime" in tiny["engine"]


def test_bench_table_torch_engine_degrade_one(weights):
    report = run_bench(source="demo", size=(40, 30), models=str(weights), frames=2, engine="torch",
                       degrade=1, paced_frames=0)
    assert "paced" not in report["rows"][0] and "torch" in report["rows"][0]["engine"]
    text = format_table(report)
    assert "tiny" in text and "capture" in text


def test_bench_errors():
    with pytest.raises(UserError):
        parse_size("1280by720")
    assert parse_size("640X480") == (640, 480)
    r = CliRunner().invoke(cli, ["bench", "--source", "demo", "--models", "nosuch", "--frames", "1"])
    assert r.exit_code == 2 and "no row 'nosuch'" in r.output
    r = CliRunner().invoke(cli, ["bench", "--source", "demo", "--device", "cuda", "--models", "default",
                                 "--frames", "1"])
    if not torch.cuda.is_available():
        assert r.exit_code == 2 and "--device cuda" in r.output


def test_bench_markdown_has_one_line_per_row():
    from click.testing import CliRunner

    from vcam_sharpen.cli import cli

    r = CliRunner().invoke(cli, ["bench", "--source", "demo", "--size", "64x48", "--models", "bilinear,unsharp",
                                 "--frames", "3", "--paced-frames", "0", "--markdown"])
    assert r.exit_code == 0, r.output
    rows = [line for line in r.stdout.splitlines() if line.startswith("| 64x48")]
    assert [row.split("|")[2].strip() for row in rows] == ["bilinear", "unsharp"]
