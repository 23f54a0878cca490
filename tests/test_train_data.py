"""Training data (train/data.py) and the robust recipe: photo crops, corruption, exact resume."""

import json

import cv2
import numpy as np
import pytest
import torch

from conftest import CIFAR_DIR, interrupt_at, requires_data
from train import data, recipe
from vcam_sharpen.core import checkpoint
from vcam_sharpen.core.corrupt import corrupt_tensor, parse_corruption
from vcam_sharpen.core.degrade import degrade_pair, downscale, model_input, upscale
from vcam_sharpen.core.models import create_model


def make_photos(folder, sizes=((70, 90), (64, 64), (100, 80), (20, 30))):
    """Smooth colour photos of the given (h, w); the last one is too small for a 64 crop."""
    folder.mkdir()
    rng = np.random.default_rng(5)
    for i, (h, w) in enumerate(sizes):
        img = cv2.resize(rng.integers(0, 256, (h // 8 + 1, w // 8 + 1, 3), dtype=np.uint8), (w, h),
                         interpolation=cv2.INTER_CUBIC)
        cv2.imwrite(str(folder / f"p{i}.png"), img)
    return folder


@pytest.fixture
def photos(tmp_path):
    return make_photos(tmp_path / "photos")


def run(tiny_cifar, out, *extra):
    args = ["--data", str(tiny_cifar), "--out", str(out), "--val-size", "20", "--batch-size", "16", "--threads", "1"]
    return recipe.main([*args, *extra])


def weights(path):
    return checkpoint.read(path)["state_dict"]


# ------------------------------------------------------------------ the plan


def test_cifar_plan_draws_what_the_recipe_always_drew():
    x = torch.zeros(50, 32, 32, 3, dtype=torch.uint8)
    plan = data.Plan(3, 7, 16, x, rot90=True)
    gen = torch.Generator().manual_seed(7 * 1000 + 3)
    assert torch.equal(plan.draws["cifar"]["order"], torch.randperm(50, generator=gen))
    assert torch.equal(plan.draws["cifar"]["flips"], torch.rand(50, generator=gen) < 0.5)
    assert torch.equal(plan.draws["cifar"]["turns"], torch.randint(0, 4, (50,), generator=gen))
    assert plan.steps == [("cifar", j) for j in range(4)] and plan.span(3) == ("cifar", 48, 50)


def test_patch_plan_crops_inside_is_reproducible_and_interleaves(photos):
    imgs = data.load_patch_images([photos], 32)
    assert len(imgs) == 3  # the 20x30 photo is too small for a 32 crop
    x = torch.zeros(40, 32, 32, 3, dtype=torch.uint8)
    plan = data.Plan(1, 0, 16, x, imgs, count=45, size=32)
    again, other = data.Plan(1, 0, 16, x, imgs, count=45, size=32), data.Plan(2, 0, 16, x, imgs, count=45, size=32)
    d = plan.draws["patches"]
    for i, t, left in zip(d["img"].tolist(), d["top"].tolist(), d["left"].tolist()):
        assert 0 <= t <= imgs[i].shape[0] - 32 and 0 <= left <= imgs[i].shape[1] - 32
    assert all(torch.equal(d[k], again.draws["patches"][k]) for k in ("img", "top", "left", "flips"))
    assert not torch.equal(d["top"], other.draws["patches"]["top"])
    assert len(set(d["img"].tolist())) == 3  # every photo is used
    kinds = [k for k, _ in plan.steps]
    assert sorted(kinds) == ["cifar"] * 3 + ["patches"] * 3 and len(plan.steps) == data.Plan.steps_per_epoch(16, 40, 45)
    step = kinds.index("patches")
    kind, lo, hi = plan.span(step)
    b = plan.take(kind, lo, hi, flip=False)
    i, t, left = d["img"][0].item(), d["top"][0].item(), d["left"][0].item()
    want = torch.from_numpy(imgs[i][t:t + 32, left:left + 32].copy()).permute(2, 0, 1).float() / 255
    assert b.ids is None and b.x.shape == (16, 3, 32, 32) and torch.equal(b.x[0], want)
    # every sample of the run has its own corruption index: epochs and kinds never overlap
    offsets = set()
    for p in (plan, other):
        for s in range(len(p.steps)):
            kind, lo, hi = p.span(s)
            start = p.take(kind, lo, hi, flip=True).offset
            offsets.update(range(start, start + hi - lo))
    assert len(offsets) == 2 * (40 + 45)


def test_patch_dirs_default_beside_cifar_and_errors(tiny_cifar, tmp_path):
    with pytest.raises(recipe.UserError, match="--patch-dirs"):
        data.patch_dirs("", str(tiny_cifar))
    with pytest.raises(recipe.UserError, match="64x64"):
        data.load_patch_images([make_photos(tmp_path / "small", [(20, 30)])], 64)


@requires_data
def test_default_patch_dirs_are_the_shared_photo_folders():
    dirs = data.patch_dirs("", str(CIFAR_DIR))
    assert [d.relative_to(CIFAR_DIR.parent).as_posix() for d in dirs] == ["sr/t91", "hr", "people"]


# ------------------------------------------------------------------ corruption in training


def test_corrupted_degrade_pair_is_the_half_size_image_corrupted_per_sample():
    x = torch.rand(5, 3, 16, 20)
    assert all(torch.equal(a, b) for a, b in zip(degrade_pair(x, 2, "clean", 3), degrade_pair(x, 2)))
    small, degraded = degrade_pair(x, 2, "noise:4+jpeg:60", seed=3, offset=10)
    want = corrupt_tensor(downscale(x, 2), "noise:4+jpeg:60", 3, 10)
    assert torch.equal(small, want) and torch.equal(degraded, upscale(want, (16, 20)))
    part = degrade_pair(x[2:], 2, "noise:4+jpeg:60", seed=3, offset=12)[0]
    assert torch.equal(part, small[2:])  # the same sample gets the same corruption in any batch


def test_teacher_cache_sees_the_corrupted_input_and_refuses_random_noise():
    torch.manual_seed(0)
    teacher = create_model("seed-teacher").eval()
    images = torch.randint(0, 256, (4, 16, 16, 3), dtype=torch.uint8)
    jpeg = parse_corruption("jpeg:40")
    plain, mirrored = data.teacher_targets(teacher, images, 2, mirrored=True, corrupt=jpeg, progress=False)
    x = images.permute(0, 3, 1, 2).float() / 255
    with torch.no_grad():
        for got, inp in ((plain, x), (mirrored, x.flip(-1))):
            small, degraded = degrade_pair(inp, 2, jpeg)
            assert torch.allclose(got.float(), teacher(model_input(teacher, small, degraded)), atol=2e-3)
    clean = data.teacher_targets(teacher, images, 2, mirrored=False, progress=False)[0]
    assert (clean.float() - plain.float()).abs().max() > 0.01
    with pytest.raises(ValueError):
        data.teacher_targets(teacher, images, 2, mirrored=False, corrupt=parse_corruption("noise:2"))


# ------------------------------------------------------------------ the recipe


@pytest.mark.parametrize("mix", ["patches", "mix"])
def test_robust_recipe_runs_and_resume_replays_exactly(tiny_cifar, photos, tmp_path, monkeypatch, mix):
    opts = ["student", "--alpha", "0", "--epochs", "2", "--data-mix", mix, "--patch-dirs", str(photos),
            "--patch-size", "32", "--patches", "40", "--corrupt", "camera"]
    assert run(tiny_cifar, tmp_path / "a", *opts) == 0
    history = json.loads((tmp_path / "a" / "metrics.json").read_text())["history"]
    assert len(history) == 2 and all(h["val_ssim_corrupt"] != h["val_ssim"] for h in history)
    steps = 3 + (12 if mix == "mix" else 0)  # 40 crops and 180 CIFAR-10 images in batches of 16
    restore = interrupt_at(monkeypatch, steps + 2)  # the second batch of the second epoch
    assert run(tiny_cifar, tmp_path / "b", *opts) == 130
    assert checkpoint.read(tmp_path / "b" / "checkpoint.pt")["train_state"]["step"] == 1
    restore()
    assert run(tiny_cifar, tmp_path / "b", *opts, "--resume") == 0
    a, b = weights(tmp_path / "a" / "model.pt"), weights(tmp_path / "b" / "model.pt")
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert run(tiny_cifar, tmp_path / "c", *opts[:-1], "noise:3") == 0  # another corruption, other weights
    c = weights(tmp_path / "c" / "model.pt")
    assert not all(torch.equal(a[k], c[k]) for k in a)


def test_distillation_under_corruption(tiny_cifar, photos, tmp_path, capsys):
    teacher = create_model("teacher", channels=4, blocks=1, ensemble=1)
    checkpoint.save(tmp_path / "t.pt", teacher)
    common = ["student", "--epochs", "1", "--teacher", str(tmp_path / "t.pt")]
    assert run(tiny_cifar, tmp_path / "s1", *common, "--corrupt", "jpeg:50") == 0
    out = capsys.readouterr().out
    assert "teacher outputs for 180 images" in out and "every step" not in out  # deterministic: cached
    assert run(tiny_cifar, tmp_path / "s2", *common, "--corrupt", "noise:2", "--data-mix", "mix",
               "--patch-dirs", str(photos), "--patch-size", "32", "--patches", "16") == 0
    out = capsys.readouterr().out
    assert "teacher outputs" not in out and "the teacher runs at every step" in out


@pytest.mark.parametrize("bad", [["--data-mix", "webcam"], ["--corrupt", "jpeg:0"], ["--corrupt", "fog"],
                                 ["--data-mix", "patches"],  # no photo folders beside the tiny CIFAR-10
                                 ["--data-mix", "mix", "--patch-size", "31", "--patch-dirs", "."]])
def test_bad_robust_options_are_one_line_errors(tiny_cifar, tmp_path, capsys, bad):
    assert run(tiny_cifar, tmp_path / "x", "student", "--alpha", "0", *bad) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "\n" not in err
