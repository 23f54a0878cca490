"""The recipe under torchrun (DistributedDataParallel, gloo on the CPU) equals one process, same global batch."""

import json
import subprocess
import sys

import pytest
import torch

from conftest import REPO
from test_train_data import make_photos
from train import dist, recipe
from vcam_sharpen.core import checkpoint

pytestmark = pytest.mark.slow  # torchrun: several training processes


def test_share_splits_every_global_batch_and_weights_it():
    assert dist.share(5, 9, dist.Dist()) == (5, 9, 1.0)  # one process: the whole batch, weight exactly 1
    for n in (1, 2, 5, 16, 17):
        for world in (2, 3, 4):
            parts = [dist.share(10, 10 + n, dist.Dist(r, world, r, True)) for r in range(world)]
            real = [(a, b, w) for a, b, w in parts if w > 0]
            covered = [i for a, b, _ in real for i in range(a, b)]
            assert covered == list(range(10, 10 + n))  # contiguous, in order, each sample once
            assert max(b - a for a, b, _ in real) - min(b - a for a, b, _ in real) <= 1
            assert sum(w for _, _, w in parts) == pytest.approx(world)  # DDP's mean is the batch mean
            assert all(b - a == 1 and a == 10 for a, b, w in parts if w == 0)  # an empty share: one dummy sample


def test_from_env_is_single_process_without_torchrun():
    assert dist.from_env({}) == dist.Dist() and not dist.Dist().enabled and dist.Dist().main
    d = dist.from_env({"RANK": "1", "WORLD_SIZE": "2", "LOCAL_RANK": "1"})
    assert d == dist.Dist(1, 2, 1, True) and not d.main


def test_torchrun_two_processes_match_one_process(tiny_cifar, tmp_path):
    photos = make_photos(tmp_path / "photos")
    # 180 CIFAR-10 images (5 full batches of 32 and one of 20, split 10 + 10) and 33 crops (a batch of 32 and
    # one of a single crop, which leaves rank 1 an empty share); the random corruption is seeded per sample
    opts = ["student", "--alpha", "0", "--epochs", "1", "--batch-size", "32", "--val-size", "20", "--threads", "1",
            "--data", str(tiny_cifar), "--data-mix", "mix", "--patch-dirs", str(photos), "--patch-size", "32",
            "--patches", "33", "--corrupt", "noise:3", "--ssim-weight", "0.05"]
    assert recipe.main([*opts, "--out", str(tmp_path / "one")]) == 0
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
           "-m", "train", *opts, "--out", str(tmp_path / "two")]
    r = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.count("done:") == 1  # rank 0 alone prints
    assert sorted(p.name for p in (tmp_path / "two").iterdir()) == ["checkpoint.pt", "metrics.json", "model.pt"]
    one, two = checkpoint.read(tmp_path / "one" / "model.pt"), checkpoint.read(tmp_path / "two" / "model.pt")
    # Same samples, corruption and weighting; only float32 rounding differs: DDP averages two half-batch
    # gradients (gloo all-reduce) where one process takes one mean over the batch, a ~1e-7 relative difference
    # that Adam's normalised steps keep at that scale (1.5e-8 measured over these 8 steps). A wrong split,
    # weight or corruption seed moves weights by ~lr = 1e-3 per step, far outside 1e-6.
    for k, a in one["state_dict"].items():
        assert torch.allclose(a, two["state_dict"][k], rtol=0, atol=1e-6), k
    h1 = json.loads((tmp_path / "one" / "metrics.json").read_text())["history"]
    h2 = json.loads((tmp_path / "two" / "metrics.json").read_text())["history"]
    assert len(h2) == 1 and h2[0]["loss"] == pytest.approx(h1[0]["loss"], rel=1e-5)
    assert h2[0]["val_ssim"] == pytest.approx(h1[0]["val_ssim"], abs=1e-5)


def test_torchrun_resumes_and_rejects_an_indivisible_batch(tiny_cifar, tmp_path):
    base = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", "-m",
            "train", "student", "--alpha", "0", "--val-size", "20", "--threads", "1", "--data", str(tiny_cifar),
            "--out", str(tmp_path / "r")]
    r = subprocess.run([*base, "--batch-size", "33"], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert r.returncode != 0 and r.stderr.count("error: --batch-size 33") == 1
    assert recipe.main(["student", "--alpha", "0", "--val-size", "20", "--threads", "1", "--data", str(tiny_cifar),
                        "--out", str(tmp_path / "r"), "--epochs", "1", "--batch-size", "32"]) == 0
    r = subprocess.run([*base, "--batch-size", "32", "--epochs", "2", "--resume"], cwd=REPO, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-3000:]
    history = json.loads((tmp_path / "r" / "metrics.json").read_text())["history"]
    assert [h["epoch"] for h in history] == [1, 2]
