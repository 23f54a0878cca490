"""Eval under webcam conditions (``run_eval(corrupt=...)``, ``eval --corrupt``): library and command line."""

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from conftest import SHARED_DATA, requires_data
from vcam_sharpen.cli import cli
from vcam_sharpen.cli.quality import eval_cmd
from vcam_sharpen.cli.text import eval_markdown, eval_table, markdown, parse_eval_markdown
from vcam_sharpen.core import checkpoint
from vcam_sharpen.core.baselines import UnsharpMask
from vcam_sharpen.core.errors import UserError
from vcam_sharpen.core.models import create_model
from vcam_sharpen.quality import cifar, report
from vcam_sharpen.quality.datasets import load_eval_set
from vcam_sharpen.quality.evaluate import score_arrays
from vcam_sharpen.quality.report import conditions, grid_path, run_eval


def invoke(*args):
    return CliRunner().invoke(cli, list(args))


@pytest.fixture
def student(tmp_path):
    torch.manual_seed(0)
    return checkpoint.save(tmp_path / "mine.pt", create_model("student"))


def scores(rows):
    return [(r["label"], r["ssim"], r["psnr"], r["n"]) for r in rows]


def test_clean_equals_the_plain_protocol_and_conditions_change_scores(tiny_cifar, student):
    common = dict(data=tiny_cifar, models="bilinear,unsharp", extra=[student], limit=12, progress=False)
    plain = run_eval(**common)
    assert all("condition" not in r for r in plain)
    rows = run_eval(**common, corrupt=["clean", "noise:8", "jpeg:30"])
    assert [r["condition"] for r in rows] == ["clean"] * 3 + ["noise:8"] * 3 + ["jpeg:30"] * 3
    assert scores(rows[:3]) == scores(plain)
    for block in (rows[3:6], rows[6:]):
        assert all(b["ssim"] < a["ssim"] for a, b in zip(plain, block))  # every row loses


def test_same_seed_same_scores_another_seed_others(tiny_cifar):
    def once(seed):
        return run_eval(data=tiny_cifar, models="bilinear", limit=12, corrupt=["noise:6"], seed=seed,
                        progress=False)
    assert once(3) == once(3) and once(3)[0]["seed"] == 3
    x, _ = cifar.load_split(tiny_cifar, "test", download=False)
    a = score_arrays(UnsharpMask(), x, corrupt="noise:6", seed=3)
    assert a == score_arrays(UnsharpMask(), x, corrupt="noise:6", seed=3)
    assert a["psnr"] != score_arrays(UnsharpMask(), x, corrupt="noise:6", seed=4)["psnr"]


@pytest.mark.parametrize("spec", ["camera", "pg:0.2,2+jpeg:60"])
def test_scores_do_not_depend_on_the_batch_size(tiny_cifar, student, spec):
    x, _ = cifar.load_split(tiny_cifar, "test", download=False)
    whole = score_arrays(UnsharpMask(), x, corrupt=spec, seed=1)
    assert score_arrays(UnsharpMask(), x, batch_size=7, corrupt=spec, seed=1) == whole
    model, _ = checkpoint.load(student)
    a = score_arrays(model, x, corrupt=spec, seed=1)
    b = score_arrays(model, x, batch_size=4, corrupt=spec, seed=1)
    assert a["ssim"] == pytest.approx(b["ssim"], abs=1e-6)  # conv kernels may sum in another order per batch size
    # and a list of images (any size, scored one at a time) gets the corruption of the same index
    assert score_arrays(UnsharpMask(), list(x), corrupt=spec, seed=1)["psnr"] == pytest.approx(whole["psnr"], abs=1e-9)


def test_conditions_parse_dedupe_and_refuse_bad_specs(monkeypatch):
    assert conditions(None) is None and conditions([]) is None
    assert [str(c) for c in conditions(["noise:5.0", "noise:5", "camera"])] == ["noise:5", "camera"]
    with pytest.raises(UserError):
        conditions(["jpeg:101"])
    monkeypatch.setattr(report, "h264_available", lambda: False)
    with pytest.raises(UserError, match="PyAV"):
        conditions(["h264:23"])
    assert conditions(["camera"])  # camera falls back to JPEG without PyAV


def test_grid_per_condition(tiny_cifar, tmp_path):
    assert grid_path(tmp_path / "g.png", "pg:0.1,2+jpeg:70").name == "g-pg_0.1_2+jpeg_70.png"
    r = invoke("eval", "--data", str(tiny_cifar), "--models", "bilinear,unsharp", "--limit", "6", "--grid",
               str(tmp_path / "g.png"), "--corrupt", "clean", "--corrupt", "blur:1")
    assert r.exit_code == 0, r.output
    assert sorted(p.name for p in tmp_path.glob("g*.png")) == ["g-blur_1.png", "g-clean.png"]
    assert "grid written to " + str(tmp_path / "g-blur_1.png") in r.stdout
    a, b = (tmp_path / "g-clean.png").read_bytes(), (tmp_path / "g-blur_1.png").read_bytes()
    assert a != b


def test_cli_blocks_markdown_and_json(tiny_cifar):
    base = ["eval", "--data", str(tiny_cifar), "--models", "bilinear,unsharp", "--limit", "10"]
    plain = invoke(*base)
    assert plain.exit_code == 0 and "condition" not in plain.stdout
    clean = invoke(*base, "--corrupt", "clean")
    assert clean.stdout == "condition: clean\n" + plain.stdout  # same table, headed by its condition
    md = invoke(*base, "--markdown", "--corrupt", "clean", "--corrupt", "noise:5").stdout
    blocks = md.split("**condition: ")[1:]
    assert [b.split("**")[0] for b in blocks] == ["clean", "noise:5"]
    assert parse_eval_markdown(blocks[0]) == parse_eval_markdown(invoke(*base, "--markdown").stdout)
    assert parse_eval_markdown(blocks[1])["bilinear"] < parse_eval_markdown(blocks[0])["bilinear"]
    rows = json.loads(invoke(*base, "--json", "--corrupt", "camera", "--seed", "2").stdout)
    assert [(r["condition"], r["seed"]) for r in rows] == [("camera", 2)] * 2


def test_plain_tables_keep_their_format():
    rows = [{"label": "bilinear", "ssim": 0.84912, "psnr": 25.061, "n": 10000},
            {"label": "student", "ssim": 0.9175, "psnr": 27.4, "n": 10000, "params": 2188, "gmac_720p": 0.498}]
    want = markdown(["method", "SSIM", "PSNR (dB)", "params", "GMAC/720p", "images"],
                    [["bilinear", "0.8491", "25.06", "-", "-", "10,000"],
                     ["student", "0.9175", "27.40", "2,188", "0.498", "10,000"]], right={1, 2, 3, 4, 5})
    assert eval_markdown(rows) == want
    assert eval_table(rows).splitlines()[2].split() == ["bilinear", "0.8491", "25.06", "-", "-", "10000"]
    tagged = [{**r, "condition": "jpeg:50"} for r in rows]
    assert eval_markdown(tagged) == "**condition: jpeg:50**\n\n" + want


@pytest.mark.parametrize("spec", ["foo", "jpeg:0", "noise:-1", "pg:1", "h264:52", "jpeg:70:1", ""])
def test_bad_specs_are_one_line_errors(tiny_cifar, spec):
    r = invoke("eval", "--data", str(tiny_cifar), "--models", "bilinear", "--corrupt", spec)
    assert r.exit_code == 2, r.output
    assert r.stderr.startswith("error:") and r.stderr.count("\n") == 1, r.stderr


def test_bad_seed_is_a_one_line_error():
    r = invoke("eval", "--seed", "-1")
    assert r.exit_code == 2 and r.stderr.startswith("error:") and r.stderr.count("\n") == 1



def test_folder_of_mixed_sizes_under_a_condition(tiny_cifar, tmp_path):
    from skimage.io import imsave

    assert cli.commands["eval"] is eval_cmd
    folder = tmp_path / "imgs"
    folder.mkdir()
    x, _ = cifar.load_split(tiny_cifar, "test", download=False)
    imsave(folder / "a.png", x[0])
    imsave(folder / "b.png", np.concatenate([x[1], x[2]], axis=1)[:31])  # 64x31: cropped to 64x30
    images = load_eval_set(str(folder), None)
    rows = run_eval(dataset=str(folder), models="unsharp", corrupt=["clean", "jpeg:40"], progress=False)
    assert [r["condition"] for r in rows] == ["clean", "jpeg:40"] and rows[1]["ssim"] < rows[0]["ssim"]
    want = score_arrays(UnsharpMask(), images, corrupt="jpeg:40")
    assert rows[1]["ssim"] == round(want["ssim"], 4) and rows[1]["n"] == 2


@requires_data
def test_set5_under_conditions():
    rows = run_eval(dataset="set5", data=SHARED_DATA, models="bilinear", corrupt=["clean", "camera"], progress=False)
    assert rows[0]["ssim"] == pytest.approx(0.9012, abs=1e-4)  # the README's clean figure
    assert rows[1]["ssim"] < rows[0]["ssim"] and rows[1]["n"] == 5
