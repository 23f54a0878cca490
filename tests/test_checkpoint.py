import os
import pickle

import pytest
import torch

from vcam_sharpen import checkpoint
from vcam_sharpen.errors import UserError
from vcam_sharpen.models import create_model


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
    with pytest.raises(UserError, match="do not match"):
        checkpoint.load(tmp_path / "bad.pt")


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
