"""``vcam-sharpen eval`` and ``models`` through the real click entry point, on tiny data."""

import json
import urllib.error

import cv2
import torch

from click.testing import CliRunner

from vcam_sharpen.cli import cli
from vcam_sharpen.cli import quality as quality_cli
from vcam_sharpen.core import checkpoint, loader
from vcam_sharpen.core.models import create_model
from vcam_sharpen.quality import cifar
from vcam_sharpen.tools import bench


def invoke(*args):
    return CliRunner().invoke(cli, list(args))


def test_eval_json_grid_and_extra_weights(tiny_cifar, tmp_path):
    torch.manual_seed(0)
    w = checkpoint.save(tmp_path / "mine.pt", create_model("seed-student"))
    grid = tmp_path / "grid.png"
    r = invoke("eval", "--data", str(tiny_cifar), "--models", "bilinear,unsharp", "--weights", str(w),
               "--limit", "12", "--json", "--grid", str(grid))
    assert r.exit_code == 0, r.output
    rows = json.loads(r.stdout)
    assert [row["label"] for row in rows] == ["bilinear", "unsharp", "mine"]
    assert all(row["n"] == 12 and -1 <= row["ssim"] <= 1 for row in rows)  # an untrained model may score < 0
    assert 0 < rows[0]["ssim"] < rows[1]["ssim"] <= 1  # the unsharp mask sharpens these blocky images
    assert rows[2]["params"] == 499 and rows[2]["gmac_720p"] > 0
    assert grid.stat().st_size > 0


def test_eval_table_and_folder_dataset(tiny_cifar, tmp_path):
    from skimage.io import imsave

    folder = tmp_path / "imgs"
    folder.mkdir()
    x, _ = cifar.load_split(tiny_cifar, "test", download=False)
    for i in range(3):
        imsave(folder / f"{i}.png", x[i])
    r = invoke("eval", "--dataset", str(folder), "--models", "bilinear")
    assert r.exit_code == 0, r.output
    assert "bilinear" in r.stdout and "SSIM" in r.stdout


def test_eval_bad_inputs_are_one_line_errors(tiny_cifar, tmp_path, monkeypatch):
    def offline(*a, **k):
        raise urllib.error.URLError("offline")

    monkeypatch.setattr(cifar.urllib.request, "urlopen", offline)
    for args in (["--data", str(tiny_cifar), "--models", "nope"],
                 ["--data", str(tmp_path / "empty")],
                 ["--data", str(tiny_cifar), "--weights", str(tmp_path / "missing.pt")],
                 ["--dataset", "no-such-dataset"]):
        r = invoke("eval", *args)
        assert r.exit_code == 2, (args, r.output)
        assert r.stderr.startswith("error:") and r.stderr.count("\n") == 1, r.stderr


def test_models_lists_every_registered_model_and_every_shipped_tag():
    r = invoke("models", "--json")
    out = json.loads(r.stdout)
    rows = {row["name"]: row for row in out["architectures"]}
    assert rows["seed-student"]["params"] == 499 and rows["enhance"]["task"] == "same-size"
    assert rows["seed-teacher"]["gmac_720p"] > rows["seed-student"]["gmac_720p"]
    tags = {row["name"]: row for row in out["tags"]}
    assert list(tags) == [*loader.shipped(), *loader.pairs()]  # the shipped tags, then the pairs of them
    assert tags["noise-aware"]["members"] == ["student-clean", "student-temporal"]
    assert not tags["student"]["auto"]  # the pair takes its place on the ladder
    for task in ("2x", "same-size"):  # auto's ladder as the table declares it, with the recorded quality
        ladder = sorted((t for t in tags.values() if t["task"] == task and t["auto"]), key=lambda t: t["auto_rank"])
        assert [t["name"] for t in ladder] == loader.auto_candidates(2 if task == "2x" else 1)
        assert all(0 < t["val_ssim"] < 1 and t["gmac_720p"] > 0 for t in ladder)
    text = invoke("models").stdout
    assert "student-wide" in text and "same-size" in text and "val SSIM" in text


def test_bad_option_values_and_commands_are_one_line_errors():
    for args in (["eval", "--limit", "0"], ["eval", "--factor", "9"], ["no-such-command"], ["--bogus"]):
        r = invoke(*args)
        assert r.exit_code == 2, (args, r.output)
        assert r.stderr.startswith("error:") and r.stderr.count("\n") == 1, r.stderr


def test_eval_markdown_and_the_help(tiny_cifar):
    r = invoke("eval", "--data", str(tiny_cifar), "--models", "bilinear", "--limit", "3", "--markdown")
    assert r.exit_code == 0, r.output
    assert r.stdout.splitlines()[0].startswith("| method | SSIM") and "| bilinear |" in r.stdout
    text = invoke("eval", "--help").stdout
    assert "--dataset" in text and " ".join(quality_cli.DATA_HELP.split()[:4]) in " ".join(text.split())


def test_a_grid_that_cannot_be_written_is_a_one_line_error(tiny_cifar, tmp_path):
    r = invoke("eval", "--data", str(tiny_cifar), "--models", "bilinear", "--limit", "2",
               "--grid", str(tmp_path / "grid.notanimage"), "--json")
    assert r.exit_code == 2 and r.stderr.startswith("error: --grid") and "grid.png" in r.stderr, r.output
    assert r.stderr.count("\n") == 1 and "Traceback" not in r.output


def test_compare_without_arguments_works_away_from_the_checkout(tmp_path, monkeypatch):
    monkeypatch.setattr(bench, "DEFAULT_VIDEO", tmp_path / "no-shared-data" / "face.mp4")
    monkeypatch.chdir(tmp_path)
    r = invoke("compare", "--models", "none,unsharp")
    assert r.exit_code == 0, r.output
    assert "frame 0 of the demo scene" in r.stdout and (tmp_path / "compare.png").is_file()
    img = cv2.imread(str(tmp_path / "compare.png"))
    assert img.shape[1] > 2 * 1280 and img.std() > 10  # two full panels of a real picture, not a blank


def test_eval_grid_without_a_name_writes_grid_png_here(tiny_cifar, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    r = invoke("eval", "--data", str(tiny_cifar), "--models", "bilinear,unsharp", "--limit", "4", "--grid")
    assert r.exit_code == 0, r.output
    assert "grid written to grid.png" in r.stdout and (tmp_path / "grid.png").stat().st_size > 0
    r = invoke("eval", "--data", str(tiny_cifar), "--models", "bilinear", "--limit", "2", "--grid", "--json")
    assert r.exit_code == 0 and json.loads(r.stdout)[0]["label"] == "bilinear", r.output


def test_eval_consecutive_frames_of_a_video(tmp_path):
    """--consecutive N scores the first N frames in order through the daemon's path; rows add flicker."""
    from conftest_daemon import write_numbered_video

    clip = write_numbered_video(tmp_path / "clip.avi", n=8, size=(64, 48))
    r = invoke("eval", "--dataset", str(clip), "--consecutive", "5", "--models", "bilinear,auto,atadenoise",
               "--corrupt", "noise:5", "--temporal", "on", "--json")
    assert r.exit_code == 0, r.output
    rows = json.loads(r.stdout)
    assert [row["label"] for row in rows] == ["bilinear", "auto", "atadenoise"]
    assert rows[0]["temporal"] == "on" and rows[1]["temporal"] == "auto" and rows[1]["kind"] == "auto"
    assert rows[1]["model"] not in ("auto", None)  # the resolved model is named
    assert all(row["n"] == 5 and row["flicker"] >= 0 and len(row["frames_ssim"]) == 5 for row in rows)
    text = invoke("eval", "--dataset", str(clip), "--consecutive", "3", "--models", "bilinear")
    assert text.exit_code == 0 and "flicker" in text.stdout and "auto" in text.stdout  # temporal defaults to auto
    for args in (["--dataset", "set5", "--temporal", "on"],
                 ["--dataset", str(tmp_path), "--consecutive", "3", "--models", "bilinear"],
                 ["--dataset", str(clip), "--consecutive", "3", "--models", "all"],
                 ["--dataset", str(clip), "--consecutive", "3", "--models", "bilinear", "--factor", "3"]):
        bad = invoke("eval", *args)
        assert bad.exit_code == 2 and bad.stderr.startswith("error:") and bad.stderr.count("\n") == 1, bad.output
