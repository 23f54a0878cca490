"""The training recipe on tiny generated data: runs, resumes, distils, reproduces; its --help."""

import dataclasses
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from conftest import interrupt_at
from train import recipe
from train.options import HELP
from vcam_sharpen.core import checkpoint
from vcam_sharpen.core.degrade import degrade_pair, model_input
from vcam_sharpen.core.models import create_model


def run(tiny_cifar, out, *extra):
    args = ["--data", str(tiny_cifar), "--out", str(out), "--val-size", "20", "--batch-size", "32", "--threads", "1"]
    return recipe.main([*args, *extra])


def test_teacher_epoch_then_resume(tiny_cifar, tmp_path):
    out = tmp_path / "t"
    assert run(tiny_cifar, out, "teacher", "--epochs", "1") == 0
    ck = checkpoint.read(out / "checkpoint.pt")
    assert ck["train_state"]["epoch"] == 1
    assert run(tiny_cifar, out, "teacher", "--epochs", "2", "--resume") == 0
    history = json.loads((out / "metrics.json").read_text())["history"]
    assert [h["epoch"] for h in history] == [1, 2]
    model, ck = checkpoint.load(out / "model.pt", expect="seed-teacher")
    assert "train_state" not in ck and ck["metrics"]["epoch"] == 2 and ck["config"]["epochs"] == 2


@pytest.mark.parametrize("call", [4, 7])  # mid-epoch, and at the start of the second epoch (6 steps each)
def test_ctrl_c_then_resume_equals_uninterrupted(tiny_cifar, tmp_path, monkeypatch, call):
    assert run(tiny_cifar, tmp_path / "a", "student", "--alpha", "0", "--epochs", "2") == 0
    restore = interrupt_at(monkeypatch, call)
    assert run(tiny_cifar, tmp_path / "b", "student", "--alpha", "0", "--epochs", "2") == 130
    assert not (tmp_path / "b" / "model.pt").exists()
    restore()
    assert run(tiny_cifar, tmp_path / "b", "student", "--alpha", "0", "--epochs", "2", "--resume") == 0
    a = checkpoint.read(tmp_path / "a" / "model.pt")["state_dict"]
    b = checkpoint.read(tmp_path / "b" / "model.pt")["state_dict"]
    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)


def test_ctrl_c_during_validation_resumes_at_validation(tiny_cifar, tmp_path, monkeypatch):
    assert run(tiny_cifar, tmp_path / "a", "student", "--alpha", "0", "--epochs", "2") == 0
    real = recipe.score_arrays

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(recipe, "score_arrays", interrupted)
    assert run(tiny_cifar, tmp_path / "b", "student", "--alpha", "0", "--epochs", "2") == 130
    monkeypatch.setattr(recipe, "score_arrays", real)
    assert run(tiny_cifar, tmp_path / "b", "student", "--alpha", "0", "--epochs", "2", "--resume") == 0
    a = checkpoint.read(tmp_path / "a" / "model.pt")["state_dict"]
    b = checkpoint.read(tmp_path / "b" / "model.pt")["state_dict"]
    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)


def test_same_seed_same_result(tiny_cifar, tmp_path):
    for name in "xy":
        run(tiny_cifar, tmp_path / name, "student", "--alpha", "0", "--epochs", "1")
    a = checkpoint.read(tmp_path / "x" / "model.pt")["state_dict"]
    b = checkpoint.read(tmp_path / "y" / "model.pt")["state_dict"]
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_student_distils_from_teacher_and_learns(tiny_cifar, tmp_path):
    run(tiny_cifar, tmp_path / "t", "teacher", "--epochs", "1")
    code = run(tiny_cifar, tmp_path / "s", "student", "--epochs", "3", "--lr", "0.01",
               "--teacher", str(tmp_path / "t" / "model.pt"), "--alpha", "0.5", "--beta", "0.5")
    assert code == 0
    history = json.loads((tmp_path / "s" / "metrics.json").read_text())["history"]
    assert history[-1]["loss"] < history[0]["loss"]


def test_init_starts_from_trained_weights(tiny_cifar, tmp_path):
    run(tiny_cifar, tmp_path / "t", "teacher", "--epochs", "1")
    trained = checkpoint.read(tmp_path / "t" / "model.pt")["state_dict"]
    # lr ~0: the fine-tuned weights stay where --init put them, not at a fresh initialisation
    run(tiny_cifar, tmp_path / "f", "teacher", "--epochs", "1", "--lr", "1e-12", "--seed", "5",
        "--init", str(tmp_path / "t" / "model.pt"))
    tuned = checkpoint.read(tmp_path / "f" / "model.pt")["state_dict"]
    assert all(torch.allclose(trained[k], tuned[k], atol=1e-6) for k in trained)
    assert run(tiny_cifar, tmp_path / "g", "teacher", "--model", "teacher", "--init",
               str(tmp_path / "t" / "model.pt")) == 2  # another model: a one-line error


def test_rot90_augmentation_is_reproducible(tiny_cifar, tmp_path):
    for name in "xy":
        assert run(tiny_cifar, tmp_path / name, "student", "--alpha", "0", "--epochs", "1", "--rot90") == 0
    a = checkpoint.read(tmp_path / "x" / "model.pt")["state_dict"]
    b = checkpoint.read(tmp_path / "y" / "model.pt")["state_dict"]
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_teacher_args_change_how_the_teacher_runs(tiny_cifar, tmp_path):
    teacher = create_model("teacher", channels=4, blocks=1, ensemble=2)
    checkpoint.save(tmp_path / "t.pt", teacher)
    one, _ = checkpoint.load(tmp_path / "t.pt", overrides={"ensemble": 1})
    assert one.ensemble == 1 and checkpoint.load(tmp_path / "t.pt")[0].ensemble == 2
    assert run(tiny_cifar, tmp_path / "s", "student", "--epochs", "1", "--teacher", str(tmp_path / "t.pt"),
               "--teacher-args", "ensemble=1") == 0
    assert run(tiny_cifar, tmp_path / "s2", "student", "--epochs", "1", "--teacher", str(tmp_path / "t.pt"),
               "--teacher-args", "ensemble=3") == 2  # one-line error


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a machine without CUDA")
def test_cuda_without_cuda_is_a_one_line_error(tiny_cifar, tmp_path, capsys):
    assert run(tiny_cifar, tmp_path / "x", "teacher", "--device", "cuda") == 2
    assert "cuda" in capsys.readouterr().err


@pytest.mark.parametrize("bad", [["student", "--alpha", "1"], ["teacher", "--alpha", "1"],
                                 ["teacher", "--model", "nope"], ["teacher", "--resume"]])
def test_bad_options_are_one_line_errors(tiny_cifar, tmp_path, capsys, bad):
    assert run(tiny_cifar, tmp_path / "x", *bad) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "\n" not in err


@pytest.mark.slow  # a real process (python -m vcam_sharpen / train): seconds of imports each
def test_sigterm_saves_like_ctrl_c(tiny_cifar, tmp_path):
    import signal
    import subprocess
    import sys
    import time

    from conftest import REPO

    out = tmp_path / "bg"
    cmd = [sys.executable, "-m", "train", "teacher", "--data", str(tiny_cifar), "--out", str(out),
           "--val-size", "20", "--batch-size", "4", "--epochs", "200", "--threads", "1"]
    # started with SIGINT ignored, as a shell's background job is
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    deadline = time.time() + 60
    while not (out / "checkpoint.pt").exists() and time.time() < deadline:
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    stdout, _ = proc.communicate(timeout=30)
    assert proc.returncode == 130, stdout
    assert "--resume" in stdout
    assert checkpoint.read(out / "checkpoint.pt")["train_state"]["epoch"] >= 1


def test_cached_teacher_targets_are_the_teacher_on_each_image_and_its_mirror():
    torch.manual_seed(0)
    teacher = create_model("seed-teacher").eval()
    images = torch.randint(0, 256, (5, 8, 10, 3), dtype=torch.uint8)
    plain, mirrored = recipe.teacher_targets(teacher, images, 2, mirrored=True, batch_size=2)
    x = images.permute(0, 3, 1, 2).float() / 255.0
    with torch.no_grad():
        for got, inp in ((plain, x), (mirrored, x.flip(-1))):
            small, degraded = degrade_pair(inp, 2)
            want = teacher(model_input(teacher, small, degraded))
            assert got.dtype == torch.float16 and got.shape == want.shape
            assert torch.allclose(got.float(), want, atol=2e-3)
    assert len(recipe.teacher_targets(teacher, images, 2, mirrored=False)) == 1


def test_distillation_without_the_cache_still_runs(tiny_cifar, tmp_path):
    # random 90-degree turns are not cached: the teacher runs at every step
    run(tiny_cifar, tmp_path / "t", "teacher", "--epochs", "1")
    assert run(tiny_cifar, tmp_path / "s", "student", "--epochs", "1", "--rot90",
               "--teacher", str(tmp_path / "t" / "model.pt")) == 0


def test_model_args_take_numbers_and_kernel_lists():
    assert recipe.model_args("channels=16, layers=3,kernels=3-3-1,lr=0.5") == \
        {"channels": 16, "layers": 3, "kernels": "3-3-1", "lr": 0.5}
    for bad in ("channels", "kernels=3-x", "kernels=3,3"):
        with pytest.raises(recipe.UserError):
            recipe.model_args(bad)


def test_model_args_the_model_refuses_are_a_one_line_error(tiny_cifar, tmp_path):
    assert run(tiny_cifar, tmp_path / "s", "student", "--model", "student-deep", "--alpha", "0",
               "--model-args", "kernels=3-3") == 2


def test_help_explains_every_option_with_its_default():
    out = subprocess.run([sys.executable, "-m", "train", "--help"], capture_output=True, text=True, timeout=120,
                         cwd=Path(__file__).resolve().parents[1], env={**os.environ, "COLUMNS": "200"})
    assert out.returncode == 0, out.stderr
    fields = [f.name for f in dataclasses.fields(recipe.Config) if f.name != "role"]
    assert set(HELP) == set(fields)
    blocks = {re.match(r"\s+(--[\w-]+)", b).group(1): " ".join(b.split())
              for b in re.split(r"\n(?=  --)", out.stdout) if re.match(r"\s+--", b)}
    for name in fields:
        block = blocks["--" + name.replace("_", "-")]
        assert "(default: " in block and " ".join(HELP[name].split())[:20] in block, block
    assert "(default: 20)" in out.stdout and "(default: 0.001)" in out.stdout  # epochs and lr, from Config
    assert "teacher: learns" in out.stdout
    out = subprocess.run([sys.executable, "-m", "train", "unsharp", "--help"], capture_output=True, text=True,
                         timeout=120, cwd=Path(__file__).resolve().parents[1], env={**os.environ, "COLUMNS": "200"})
    assert out.returncode == 0 and out.stdout.count("(default: ") == 5, out.stdout
