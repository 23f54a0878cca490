import os
import pickle

import pytest
import torch

from vcam_sharpen.core import checkpoint
from vcam_sharpen.core.errors import UserError
from vcam_sharpen.core.models import create_model


def test_round_trip_keeps_outputs_and_description(tmp_path):
    model = create_model("seed-student")
    path = checkpoint.save(tmp_path / "s.pt", model, config={"lr": 1e-3}, metrics={"val_ssim": 0.9})
    loaded, ck = checkpoint.load(path)
    x = torch.rand(1, 3, 16, 16)
    assert torch.equal(model(x), loaded(x))
    assert ck["model"] == "seed-student" and ck["config"]["lr"] == 1e-3 and ck["metrics"]["val_ssim"] == 0.9
    assert not list(tmp_path.glob(".*"))  # no temp files left behind


def test_wrong_architecture_is_one_line_error(tmp_path):
    path = checkpoint.save(tmp_path / "t.pt", create_model("seed-teacher"))
    with pytest.raises(UserError, match="not 'seed-student'"):
        checkpoint.load(path, expect="seed-student")
    ck = torch.load(path, weights_only=True)
    ck["model"] = "seed-student"  # weights of one model under another's name
    torch.save(ck, tmp_path / "bad.pt")
    with pytest.raises(UserError, match="damaged|do not match") as e:
        checkpoint.load(tmp_path / "bad.pt")
    assert "\n" not in str(e.value) and str(tmp_path / "bad.pt") in str(e.value)


class _Evil:
    def __reduce__(self):
        return (os.system, ("touch pwned",))


def test_files_that_are_not_checkpoints(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UserError, match="does not exist"):
        checkpoint.load(tmp_path / "missing.pt")
    (tmp_path / "junk.pt").write_bytes(b"\x00garbage")
    with pytest.raises(UserError, match="not a vcam-sharpen checkpoint"):
        checkpoint.load(tmp_path / "junk.pt")
    with open(tmp_path / "evil.pt", "wb") as f:
        pickle.dump({"model": "seed-student", "state_dict": _Evil()}, f)
    with pytest.raises(UserError):
        checkpoint.load(tmp_path / "evil.pt")
    assert not (tmp_path / "pwned").exists()


def test_checkpoints_from_before_an_argument_existed_keep_their_architecture(tmp_path):
    # a student saved before ``kernels`` existed was all 3x3 convs
    torch.manual_seed(0)
    old = create_model("student", layers=2, kernels="")
    checkpoint.save(tmp_path / "old.pt", old)
    ckpt = torch.load(tmp_path / "old.pt", weights_only=True)
    ckpt["model_args"] = {"channels": 16, "layers": 2, "expand": 0}
    torch.save(ckpt, tmp_path / "old.pt")
    model, _ = checkpoint.load(tmp_path / "old.pt")
    x = torch.rand(1, 3, 6, 7)
    with torch.no_grad():
        assert torch.equal(model(x), old.eval()(x))
    assert [c.kernel_size for c in model.convs] == [(3, 3), (3, 3)]
