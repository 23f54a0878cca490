"""The eval rows: every name the loader accepts, the baselines, extra files; scores, the grid, model rows."""

import cv2
import numpy as np
import pytest
import torch

from vcam_sharpen.core import checkpoint, loader
from vcam_sharpen.core.baselines import UNSHARP_SOFT_AMOUNT, UNSHARP_SOFT_SIGMA, Bilinear, UnsharpMask
from vcam_sharpen.core.errors import UserError
from vcam_sharpen.core.models import count_parameters, create_model, list_models
from vcam_sharpen.core.tags import TAGS, TASK_2X, TASK_SAME
from vcam_sharpen.quality import report
from vcam_sharpen.quality.report import grid_path, label_lines, methods, model_rows, run_eval, write_grid

WITH_WEIGHTS = [n for n in loader.names() if n in (*loader.NO_MODEL, "unsharp", "default", *loader.shipped())]


@pytest.mark.parametrize("name", WITH_WEIGHTS)
def test_methods_accept_every_loader_name_with_weights_and_the_baselines(name):
    same_size = name in loader.shipped() and TAGS[name].task == TASK_SAME
    ((label, module, info),) = methods(name, degrade=1 if same_size else 2)
    if name in loader.NO_MODEL:
        assert label == "bilinear" and isinstance(module, Bilinear) and info == {"kind": "baseline"}
    elif name == "unsharp":
        assert label == "unsharp" and isinstance(module, UnsharpMask) and info["kind"] == "baseline"
    else:
        assert label == loader.label(name) and info["kind"] == "model" and not module.training
        assert info["params"] == count_parameters(module) and info["gmac_720p"] > 0
        assert info["weights"] == f"{loader.label(name)}.pt"


def test_all_is_the_baselines_and_every_shipped_file(tmp_path):
    torch.manual_seed(0)
    extra = checkpoint.save(tmp_path / "mine.pt", create_model("seed-student"))
    rows = methods("all", [extra])
    two_x = [t for t in loader.shipped() if TAGS[t].task == TASK_2X]  # the table's task, by one check_mode
    assert [r[0] for r in rows] == [*loader.BASELINES, *two_x, "mine"] and "student" in two_x
    assert rows[-1][2]["weights"] == "mine.pt" and rows[-1][2]["model"] == "seed-student"
    with pytest.raises(UserError, match="--models is empty"):
        methods(" , ")
    with pytest.raises(UserError, match="unknown model"):
        methods("bilinear,nope")


def test_run_eval_rows_and_grid(tiny_cifar, tmp_path):
    grid = tmp_path / "grid.png"
    rows = run_eval("cifar10", tiny_cifar, models="bilinear,unsharp", limit=5, grid=grid, progress=False)
    assert [(r["label"], r["n"], r["dataset"]) for r in rows] == [("bilinear", 5, "cifar10"), ("unsharp", 5, "cifar10")]
    assert 0 < rows[0]["ssim"] < rows[1]["ssim"] <= 1 and rows[0]["psnr"] > 10
    import cv2

    img = cv2.imread(str(grid))
    gap = report.GAP  # degraded / unsharp / ground truth, one row per image, white gaps between them
    assert img.shape == (22 + gap + 5 * 128 + 4 * gap, 3 * 128 + 2 * gap, 3)
    assert (img[30:, 128:128 + gap] == 255).all() and (img[30:, 2 * 128 + gap:2 * 128 + 2 * gap] == 255).all()
    with pytest.raises(UserError, match="does not exist"):
        run_eval("cifar10", tiny_cifar, models="bilinear", grid=tmp_path / "no" / "g.png", progress=False)


def test_write_grid_refuses_an_unwritable_name(tmp_path):
    images = np.zeros((2, 32, 32, 3), np.uint8)
    with pytest.raises(UserError, match="cannot write grid image"):
        write_grid(tmp_path / "grid.notanimage", methods("bilinear"), images, 2)


def test_model_rows_cover_every_registered_model():
    rows = {r["name"]: r for r in model_rows()}
    assert list(rows) == list_models()
    assert rows["seed-student"]["params"] == 499 and rows["seed-student"]["description"]
    assert rows["seed-teacher"]["gmac_720p"] > rows["seed-student"]["gmac_720p"] > 0


def test_soft_degradation_rows_are_the_same_size_task(tiny_cifar, tmp_path):
    """--degradation soft: rows input / unsharp / same-size models, the soft preset on the full-size image."""
    grid = tmp_path / "grid.png"
    rows = run_eval("cifar10", tiny_cifar, models="none,unsharp,seed-student,default", limit=4, progress=False,
                    degradation="soft", grid=grid)
    assert [r["label"] for r in rows] == ["input", "unsharp", "seed-student", loader.ENHANCE_MODEL]
    assert {(r["condition"], r["degradation"], r["n"]) for r in rows} == {("soft", "soft", 4)}
    assert rows[1]["sigma"] == UNSHARP_SOFT_SIGMA and rows[1]["amount"] == UNSHARP_SOFT_AMOUNT
    clean = run_eval("cifar10", tiny_cifar, models="none", limit=4, progress=False, degradation="soft",
                     corrupt=["clean"])
    assert clean[0]["ssim"] == 1.0  # nothing done to a sharp picture: the input is the ground truth
    assert rows[0]["ssim"] < 1.0
    import cv2

    assert cv2.imread(str(grid_path(grid, "soft"))).shape[1] == 5 * 128 + 4 * report.GAP  # in / 3 rows / ground truth


def test_soft_degradation_refuses_2x_models_and_lists_only_same_size_ones():
    with pytest.raises(UserError, match="2x model"):
        methods("student", degrade=1)
    labels = [r[0] for r in methods("all", degrade=1)]
    assert labels[:2] == ["input", "unsharp"] and "student" not in labels and loader.ENHANCE_MODEL in labels
    with pytest.raises(UserError, match="--degradation"):
        run_eval("cifar10", None, models="none", degradation="x3", progress=False)


@pytest.mark.parametrize("cell", [128, 64])
def test_grid_labels_wrap_and_are_never_cut_into_equal_text(cell):
    labels = ["student-deep-clean-nokd", "student-deep-clean", "student-wide-clean-nokd", "in: blur:0.8+noise:3+jpeg:70",
              "x" * 60]
    wrapped = [label_lines(t, cell - 6) for t in labels]
    assert ["".join(lines) for lines in wrapped] == labels  # every character kept
    assert len({tuple(lines) for lines in wrapped}) == len(labels)
    for lines in wrapped:
        assert all(cv2.getTextSize(line, report.FONT, report.FONT_SCALE, 1)[0][0] <= cell - 6 for line in lines)
    assert label_lines("student-deep-clean-nokd", 122) == ["student-deep-clean-", "nokd"]
    header = report.grid_header(labels, cell)
    assert header.shape[1] == len(labels) * cell + (len(labels) - 1) * report.GAP
