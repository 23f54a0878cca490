"""The eval rows: every name the loader accepts, the baselines, extra files; scores, the grid, model rows."""

import numpy as np
import pytest
import torch

from vcam_sharpen.core import checkpoint, loader
from vcam_sharpen.core.baselines import Bilinear, UnsharpMask
from vcam_sharpen.core.errors import UserError
from vcam_sharpen.core.models import count_parameters, create_model, list_models
from vcam_sharpen.quality.report import methods, model_rows, run_eval, write_grid

WITH_WEIGHTS = [n for n in loader.names() if n in (*loader.NO_MODEL, "unsharp", "default", *loader.shipped())]


@pytest.mark.parametrize("name", WITH_WEIGHTS)
def test_methods_accept_every_loader_name_with_weights_and_the_baselines(name):
    ((label, module, info),) = methods(name)
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
    assert [r[0] for r in rows] == [*loader.BASELINES, *loader.shipped(), "mine"]
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
    assert img.shape == (24 + 5 * 128, 3 * 128, 3)  # degraded / unsharp / ground truth, one row per image
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
