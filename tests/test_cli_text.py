"""All terminal text: the two table shapes, the eval table's round trip, status, settings, checks, devices."""

from conftest_daemon import daemon_env  # noqa: F401

from vcam_sharpen.cli.text import (bench_markdown, bench_table, devices_text, eval_markdown, eval_table, fixed,
                                   markdown, models_table, parse_eval_markdown, set_text, settings_text, status_text,
                                   summary_text)
from vcam_sharpen.pipeline.stats import STAGES

ROWS = [{"label": "bilinear", "kind": "baseline", "ssim": 0.8123, "psnr": 27.5, "n": 10000},
        {"label": "student", "kind": "model", "ssim": 0.9209, "psnr": 31.25, "n": 10000, "params": 1234,
         "gmac_720p": 0.456}]


def test_markdown_shape():
    text = markdown(["a", "b", "c"], [["1", "2", "3"], ["x", "y", "z"]], right={1})
    assert text.splitlines() == ["| a | b | c |", "|---|---:|---|", "| 1 | 2 | 3 |", "| x | y | z |"]


def test_fixed_shape():
    text = fixed([("name", -6), ("n", 4)], [["ab", "1"], ["abcdef", "1234"]])
    assert text.splitlines() == ["name      n", "-----------", "ab        1", "abcdef 1234"]


def test_parse_eval_markdown_round_trips_eval_markdown():
    text = eval_markdown(ROWS)
    assert parse_eval_markdown(text) == {"bilinear": 0.8123, "student": 0.9209}
    assert parse_eval_markdown("prose\n\n" + text + "\n| not | a | row |\n") == {"bilinear": 0.8123, "student": 0.9209}
    assert "| student | 0.9209 | 31.25 | 1,234 | 0.456 | 10,000 |" in text.splitlines()
    assert "| bilinear | 0.8123 | 27.50 | - | - | 10,000 |" in text.splitlines()


def test_eval_and_models_tables():
    text = eval_table(ROWS)
    assert text.splitlines()[0].split() == ["method", "SSIM", "PSNR", "params", "GMAC/720p", "images"]
    assert "0.9209" in text and "1,234" in text
    models = models_table([{"name": "seed-student", "params": 499, "gmac_720p": 0.046, "description": "tiny"}])
    assert "seed-student" in models and "499" in models and "tiny" in models


def bench_report():
    stages = {k: {"p50": 1.0, "p95": 2.0} for k in STAGES}
    row = {"label": "student", "engine": "student on onnxruntime/cpu", "note": "", "gmac_per_frame": 0.5,
           "frames": 3, "fps": 40.0, "model_fps": 80.0, "overhead": 0.5, "stages": stages,
           "cpu_ms_per_frame": 20.0, "latency_p95_ms": 30.0,
           "paced": {"fps_target": 30.0, "fps": 20.0, "cpu_cores": 0.7, "frames": 5, "threads": 1}}
    return {"machine": {"cpus": 2, "processor": "cpu"}, "source": "demo", "size": "64x48", "degrade": 2,
            "frames": 3, "rows": [row]}


def test_bench_tables_name_the_stages():
    report = bench_report()
    md = bench_markdown(report)
    assert all(k in md.splitlines()[0] for k in STAGES) and "degrade" not in md.splitlines()[0]
    assert "| 64x48 | student | 0.50 | 40.0 | 80.0 | 50% | 1.0 / 2.0 |" in md
    table = bench_table(report)
    assert "prep" in table and "kept only 20.0 of 30 fps" in table and "student on onnxruntime/cpu" in table


def test_status_text():
    assert status_text({"running": False}) == "vcam-sharpen is not running"
    st = {"running": True, "pid": 7, "status": "running", "uptime_s": 3725, "source_name": "demo",
          "source_size": "64x48", "source_fps": 30, "model": "student", "engine": "e", "mode": "m",
          "sharpening": False, "outputs": ["vcam"], "output_size": "64x48", "device": "/dev/video10",
          "readers": 2, "fps_out": 30, "fps_target": 30, "fps_processed": 29.5,
          "ms": {"capture": 1.0, "prep": 2.0, "temporal": 0.8, "inference": 3.0, "publish": 4.0},
          "temporal": "auto", "temporal_active": True, "noise": [3.04, 2.5]}
    text = status_text(st)
    assert text.splitlines()[0] == "vcam-sharpen is running (pid 7): running, uptime 1h02m05s"
    assert "sharpening off" in text and "on /dev/video10, 2 app(s) reading" in text
    assert "capture 1.0, prep 2.0, temporal 0.8, inference 3.0, publish 4.0" in text
    assert "temporal:   auto (filtering), noise 3.0 luma / 2.5 chroma grey levels" in text
    assert "temporal:   off (idle), noise not measured yet" in status_text({**st, "temporal": "off", "noise": None,
                                                                           "temporal_active": False})
    assert "switching" not in text and "failed" not in text
    assert "switching:  to unsharp, same (loading" in status_text({**st, "rebuilding": "unsharp, same"})
    assert "last switch failed: could not switch to x" in status_text({**st, "rebuild_error": "could not switch to x"})
    assert "skip static" not in text  # a daemon from before static-region reuse
    assert "skip static on (42% of tiles restored)" in status_text({**st, "skip_static": True, "tiles_processed": 0.42})
    assert "skip static off" in status_text({**st, "skip_static": False, "tiles_processed": None})
    auto = {"model": "noise-aware", "ladder": ["student-wide", "noise-aware", "bilinear"], "budget": 1.2,
            "switches": 1, "reason": "stepped down from student-wide: the machine is full: 0.04 core free < 0.15",
            "cpu_cores_window": 0.7, "fps_kept_window": 29.98, "free_cores_window": 0.31}
    assert ("auto:       noise-aware of student-wide > noise-aware > bilinear, budget 1.2 core, last 0.70 core at "
            "30.0 fps kept (0.31 core idle on the machine), 1 switch(es): stepped down from student-wide: the machine "
            "is full") in status_text({**st, "auto": auto})
    assert "idle on the machine" not in status_text({**st, "auto": {**auto, "free_cores_window": None}})


def test_sequence_rows_tables():
    rows = [{"label": "auto", "model": "student", "temporal": "auto", "condition": "noise:5", "ssim": 0.9, "psnr": 37.1,
             "flicker": 1.234, "n": 60},
            {"label": "atadenoise", "filter": "atadenoise=s=9", "temporal": "off", "condition": "noise:5",
             "ssim": 0.8, "psnr": 36.0, "flicker": 2.0, "ms": 1.5, "n": 60}]
    md = eval_markdown(rows)
    assert "**condition: noise:5**" in md and "| auto | student | auto | 0.9000 | 37.10 | 1.23 | - | 60 |" in md
    assert "| atadenoise | atadenoise=s=9 | off | 0.8000 | 36.00 | 2.00 | 1.5 | 60 |" in md
    table = eval_table(rows)
    assert table.startswith("condition: noise:5") and "flicker" in table


def test_settings_text():
    text = settings_text({"source": "demo", "fps": 25.0, "split": False, "output": ["vcam", "a.mp4"],
                          "weights": None, "degrade": 2},
                         {"source": "config", "fps": "flag", "split": "default", "output": "default",
                          "weights": "default", "degrade": "default"})
    lines = text.splitlines()
    assert lines[0].startswith("# config file: ") and lines[0].endswith("(absent)")
    assert lines[1].startswith("# runtime dir: ")
    assert lines[2:] == ['source = "demo"  # config', "fps = 25  # flag", "split = false  # default",
                         'output = ["vcam", "a.mp4"]  # default', "# weights = (unset)", "degrade = 2  # default"]


def test_devices_text():
    text = devices_text({"cameras": [{"path": "/dev/video0", "name": "", "access": False}], "virtual": [],
                         "backends": []})
    assert "/dev/video0" in text and "(unnamed)" in text and "[no permission]" in text
    assert "none (run vcam-sharpen doctor)" in text and "(--backend): none" in text


def test_summary_text_says_what_runs_in_one_line():
    info = {"source": "demo", "source_setting": "auto", "source_name": "demo scene",
            "model": "student-wide (auto: best that fits 0.75 core)", "mode": "degrade x2 + restore",
            "targets": [{"name": "vcam", "device": "/dev/video10", "path": None},
                        {"name": "file take.mp4", "device": None, "path": "/home/me/take.mp4"}]}
    line = summary_text(info)
    assert "\n" not in line
    assert "source: no camera found: playing the demo scene" in line
    assert "model: student-wide (auto: best that fits 0.75 core)" in line and "mode: degrade x2 + restore" in line
    assert "virtual camera /dev/video10" in line and "recording to /home/me/take.mp4" in line
    assert "the first camera" in summary_text({**info, "source": "/dev/video0", "source_name": "/dev/video0"})
    assert "source: the demo scene" in summary_text({**info, "source_setting": "demo"})
    assert set_text("strength", {"strength": 0.5}) == "strength = 0.5"
    assert set_text("model", {"model": "unsharp", "mode": "sharpen"}) == "now: model unsharp, mode sharpen"


def test_eval_table_columns_fit_long_labels():
    rows = [{**ROWS[1], "label": "student-deep-clean-nokd", "params": 123456789}, {**ROWS[0], "label": "b"}]
    lines = eval_table(rows).splitlines()
    starts = {line.index(" 0.", 0) for line in lines[2:]}  # the SSIM column starts at the same place on every row
    assert len(starts) == 1 and lines[2].startswith("student-deep-clean-nokd ")
    assert "123,456,789" in lines[2] and "123,456,7890" not in lines[2]
    assert fixed([("a", -1), ("b", 1)], [["long-cell", "x"]]).splitlines()[2] == "long-cell x"


def test_status_text_shows_the_noise_aware_choice_and_a_fade():
    base = {"running": True, "pid": 7, "status": "running", "model": "noise-aware (student-clean | student-temporal)"}
    assert "choice:" not in status_text(base)  # no pair running
    na = {"noise": 5.1, "choice": "noisy", "model": "student-temporal", "mix": 1.0, "fading": False,
          "models": {"clean": "student-clean", "noisy": "student-temporal"}, "switches": 1,
          "thresholds": {"clean_below": 0.65, "noisy_above": 0.8}, "source": "temporal"}
    text = status_text({**base, "noise_aware": na})
    assert "choice:     student-temporal (noisy camera, noise 5.1; clean below 0.65, noisy above 0.8)" in text
    assert "fading" not in text
    fading = status_text({**base, "noise_aware": {**na, "mix": 0.4, "fading": True}})
    assert "noisy above 0.8), fading (40% student-temporal)" in fading
    assert "noise not measured yet" in status_text({**base, "noise_aware": {**na, "noise": None}})
