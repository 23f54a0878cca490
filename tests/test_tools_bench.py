"""The bench report on a few demo frames: its shape, not its speeds."""

import pytest

from vcam_sharpen.cli.text import bench_markdown, bench_table
from vcam_sharpen.core import loader
from vcam_sharpen.core.errors import UserError
from vcam_sharpen.core.degrade import model_task
from vcam_sharpen.core.models import count_macs, create_model, list_models
from vcam_sharpen.core.tags import TASK_SAME
from vcam_sharpen.pipeline.stats import STAGES
from vcam_sharpen.runtime.engines import OrtEngine, TorchEngine, UnsharpEngine
from vcam_sharpen.runtime.noiseaware import NoiseAwareEngine
from vcam_sharpen.tools import bench
from vcam_sharpen.tools.bench import DEFAULT_VIDEO, bench_row, default_source, make_rows, parse_size, run_bench



pytestmark = pytest.mark.usefixtures("onnx_cache")


def test_bench_report_on_demo_frames(seed_weights):
    report = run_bench(source="demo", size=(64, 48), models=f"bilinear,unsharp,{seed_weights}", frames=3,
                       paced_frames=2, paced_fps=100.0)
    assert report["size"] == "64x48" and report["source"] == "demo" and report["degrade"] == 2
    assert report["machine"]["cpus"] >= 1 and report["frames"] == 3
    assert [row["label"] for row in report["rows"]] == ["bilinear", "unsharp", "tiny"]
    for row in report["rows"]:
        assert set(row["stages"]) == set(STAGES)
        assert all(set(v) == {"p50", "p95"} for v in row["stages"].values())
        assert row["frames"] == 3 and row["fps"] > 0 and row["cpu_ms_per_frame"] >= 0
        assert row["latency_p95_ms"] > 0
        assert set(row["paced"]) >= {"cpu_cores", "cpu_cores_spread", "fps", "fps_target", "frames", "threads"}
        lo, hi = row["paced"]["cpu_cores_spread"]
        assert lo <= row["paced"]["cpu_cores"] <= hi
    bilinear, unsharp, tiny = report["rows"]
    assert bilinear["model_fps"] is None and bilinear["overhead"] is None
    assert tiny["model_fps"] > 0 and tiny["overhead"] is not None and tiny["gmac_per_frame"] > 0
    assert bilinear["gmac_per_frame"] is None and unsharp["gmac_per_frame"] is None
    assert "onnxruntime" in tiny["engine"] and "opencv" in unsharp["engine"]
    assert tiny["paced"]["threads"] in (1, 2)  # what the daemon would pick for that rate
    assert report["temporal"] == "on" and tiny["stages"]["temporal"]["p50"] > 0  # the stage's own column
    off = run_bench(source="demo", size=(64, 48), models="bilinear", frames=2, paced_frames=0, temporal="off")
    assert off["rows"][0]["stages"]["temporal"]["p50"] == 0


def test_bench_skip_static_reports_the_share_of_tiles_restored():
    clip = str(DEFAULT_VIDEO) if DEFAULT_VIDEO.is_file() else "demo"
    for skip in (True, False):
        report = run_bench(source=clip, size=(256, 144), models="student", frames=4, paced_frames=6,
                           paced_fps=100.0, skip_static=skip)
        row = report["rows"][0]
        assert report["skip_static"] is skip and "cpu_cores" in row["paced"]
        assert 0.0 <= row["tiles_processed"] <= 1.0 and 0.0 <= row["paced"]["tiles_processed"] <= 1.0
        if not skip:
            assert row["tiles_processed"] == row["paced"]["tiles_processed"] == 1.0  # whole frames only
    assert "tiles" in bench_table(report) and "tiles processed" in bench_markdown(report)


def test_bench_table_torch_engine_degrade_one(seed_weights):
    report = run_bench(source="demo", size=(40, 30), models=str(seed_weights), frames=2, engine="torch",
                       degrade=1, paced_frames=0)
    assert "paced" not in report["rows"][0] and "torch" in report["rows"][0]["engine"]
    text = bench_table(report)
    assert "tiny" in text and "capture" in text and "prep" in text


def test_rows_take_every_loader_name(seed_weights):
    rows = make_rows(f"bilinear,unsharp,default,seed-student,{seed_weights}")
    assert [r.label for r in rows] == ["bilinear", "unsharp", loader.DEFAULT_MODEL, "seed-student", "tiny"]
    assert rows[0].engine is None and isinstance(rows[1].engine, UnsharpEngine)
    assert isinstance(rows[2].engine, OrtEngine) and not rows[2].note
    assert isinstance(make_rows("seed-student", engine="torch")[0].engine, TorchEngine)
    assert [r.label for r in make_rows("all")][:2] == ["bilinear", "unsharp"]
    two_x = {n for n in list_models() if model_task(create_model(n)) != TASK_SAME}
    assert {r.label for r in make_rows("all")} >= two_x and not {"enhance", "enhance-teacher"} & two_x
    assert {r.label for r in make_rows("all", degrade=1)} >= set(list_models()) - two_x  # each mode its own models
    with pytest.raises(UserError, match="--models is empty"):
        make_rows(" , ")
    with pytest.raises(UserError, match="unknown model 'nosuch'"):
        make_rows("nosuch")


def test_untrained_architectures_are_speed_only(monkeypatch, tmp_path):
    monkeypatch.setattr(loader, "weights_dir", lambda: tmp_path)  # nothing shipped
    (row,) = make_rows("seed-student")
    assert "untrained" in row.note and isinstance(row.engine, OrtEngine)


def test_one_row_alone(seed_weights):
    (row,) = make_rows(str(seed_weights))
    result = bench_row(row, "demo", (32, 24), frames=2, paced_frames=0, warmup=1)
    assert result["label"] == "tiny" and result["frames"] == 2 and "paced" not in result


def test_bench_errors():
    with pytest.raises(UserError, match="--size"):
        parse_size("1280by720")
    assert parse_size("640X480") == (640, 480)
    with pytest.raises(UserError, match="--frames"):
        run_bench(source="demo", frames=0)


def test_default_source_is_the_face_clip_when_present():
    assert default_source() == (str(DEFAULT_VIDEO) if DEFAULT_VIDEO.is_file() else "demo")


def test_degrade_one_defaults_to_the_enhance_model():
    rows = make_rows("bilinear,default", degrade=1)
    assert [r.label for r in rows] == ["bilinear", loader.ENHANCE_MODEL] and rows[1].engine.input_scale == 1


def test_the_noise_aware_row_counts_its_dearer_member_and_is_paced_as_the_daemon_runs_it():
    (row,) = make_rows("noise-aware")
    assert isinstance(row.engine, NoiseAwareEngine) and row.label == "noise-aware" and not row.note
    assert bench._gmac(row, 1280, 720) == round(count_macs(loader.load("student-clean"), 720, 1280) / 1e9, 3)
    paced = bench._engine_for_rate(row, 1.0, (64, 48), 2)  # each member picked for the rate: one thread
    assert isinstance(paced, NoiseAwareEngine) and all(e.threads == 1 for e in paced.engines.values())
    assert (paced.fade, paced.hold) == (1, 2)  # fade and hold follow the rate
