"""The one loader: every name one command accepts, every command accepts, and it loads the same model."""

from __future__ import annotations

import pytest
import torch
from click.testing import CliRunner

from vcam_sharpen.cli import cli
from vcam_sharpen.core import checkpoint, loader
from vcam_sharpen.core.baselines import UnsharpMask
from vcam_sharpen.core.errors import UserError
from vcam_sharpen.core.degrade import model_task
from vcam_sharpen.core.models import create_model, list_models
from vcam_sharpen.core.tags import TASK_SAME
from vcam_sharpen.daemon.settings import effective
from vcam_sharpen.quality.report import methods
from vcam_sharpen.runtime.tuning import resolve
from vcam_sharpen.tools.bench import make_rows



@pytest.fixture(autouse=True)
def private_dirs(tmp_path, monkeypatch):
    """Config, cache and runtime files of these tests stay in the test's folder."""
    for var in ("XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_RUNTIME_DIR"):
        (tmp_path / var).mkdir()
        monkeypatch.setenv(var, str(tmp_path / var))


def test_names_cover_shipped_tags_registered_models_and_baselines():
    names = loader.names()
    assert set(loader.shipped()) <= set(names)
    assert set(list_models()) <= set(names)
    assert {"none", "bilinear", "unsharp", "default", "auto"} <= set(names)
    assert "student-nokd" in names  # a weight tag that is not an architecture name
    assert len(names) == len(set(names))


@pytest.mark.parametrize("name", loader.names())
def test_every_command_accepts_every_name(name):
    # run / start / config: settings validation, then the model the daemon would load
    settings, _ = effective({"model": name})
    assert settings.model == name
    if name == loader.AUTO:  # measured on this machine each time, so each command may land on another candidate
        (row,), ((_, method, _),) = make_rows(name), methods(name)
        assert {row.label, method.model_name} <= set(loader.auto_candidates())
        assert resolve(name).spec in loader.auto_candidates()
        return
    model = loader.load(name)
    degrade = 1 if model_task(model) == TASK_SAME else 2  # a same-size model is refused in the 2x mode
    # bench: a row
    (row,) = make_rows(name, degrade=degrade)
    # eval: a row scoring the same module
    ((label, method, info),) = methods(name, degrade=degrade)
    if degrade == 1:
        with pytest.raises(UserError, match="sharpens at the frame's own size"):
            make_rows(name)
        with pytest.raises(UserError, match="cannot score the 2x task"):
            methods(name)
    if name in loader.NO_MODEL:
        assert model is None and row.engine is None and label == "bilinear"
    elif name == "unsharp":
        assert isinstance(model, UnsharpMask) and info["kind"] == "baseline"
    else:
        assert row.engine.model_name == model.model_name == method.model_name
        for a, b in zip(model.state_dict().values(), method.state_dict().values()):
            assert torch.equal(a, b)


@pytest.mark.parametrize("name", ["student-nokd", "seed-student", "default"])
def test_export_takes_the_same_names(name, tmp_path):
    out = tmp_path / "m.onnx"
    r = CliRunner().invoke(cli, ["export", "--model", name, "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert out.stat().st_size > 1000


@pytest.mark.parametrize("name", ["none", "unsharp"])
def test_export_of_a_baseline_says_there_is_no_network(name, tmp_path):
    r = CliRunner().invoke(cli, ["export", "--model", name, "--out", str(tmp_path / "m.onnx")])
    assert r.exit_code == 2
    assert "not a network" in r.output and "Traceback" not in r.output
    assert not (tmp_path / "m.onnx").exists()


def test_run_takes_a_weight_tag(tmp_path):
    """The bug that started this: `run --model student-nokd` said "unknown model"."""
    r = CliRunner().invoke(cli, ["run", "--source", "demo", "--model", "student-nokd", "--output", "null",
                                 "--frames", "5", "--size", "128x96"])
    assert r.exit_code == 0, r.output


def test_unknown_name_lists_the_choices():
    with pytest.raises(UserError, match="unknown model 'studnet'.*student-nokd"):
        loader.load("studnet")
    with pytest.raises(UserError, match="unknown model"):
        effective({"model": "studnet"})


def test_tag_and_path_and_weights_load_identical_weights():
    tag = loader.load("student-nokd")
    by_path = loader.load(str(loader.shipped()["student-nokd"]))
    by_weights = loader.load("student", loader.shipped()["student-nokd"])
    for a, b, c in zip(tag.state_dict().values(), by_path.state_dict().values(), by_weights.state_dict().values()):
        assert torch.equal(a, b) and torch.equal(a, c)
    assert not tag.training


def test_weights_for_another_model_are_refused(tmp_path):
    path = checkpoint.save(tmp_path / "s.pt", create_model("seed-student"))
    with pytest.raises(UserError, match="for model 'seed-student', not 'student'"):
        loader.load("student", path)


def test_no_network_with_weights_is_an_error(tmp_path):
    with pytest.raises(UserError, match="would be ignored"):
        loader.load("none", tmp_path / "x.pt")


def test_untrained_only_when_allowed(monkeypatch, tmp_path):
    monkeypatch.setattr(loader, "weights_dir", lambda: tmp_path)  # nothing shipped
    with pytest.raises(UserError, match="no shipped weights for 'student'"):
        loader.load("student")
    a, b = loader.load("student", allow_untrained=True), loader.load("student", allow_untrained=True)
    for x, y in zip(a.state_dict().values(), b.state_dict().values()):
        assert torch.equal(x, y)  # same seed, same weights


def test_labels():
    assert loader.label("default") == loader.DEFAULT_MODEL
    assert loader.label("runs/abc/model.pt") == "abc"
    assert loader.label("x/my-net.pt") == "my-net"
    assert loader.is_path("a.pt") and not loader.is_path("student")


def test_resolve_owns_default_auto_and_the_weights_file(tmp_path):
    """One resolver: default by mode, auto by the ladder and a given cost (best that fits, else the cheapest),
    a --weights file names its own model; names are checked."""
    assert loader.resolve("default").spec == "student" and loader.resolve(None, degrade=1).spec == "enhance"
    assert loader.resolve("default", degrade=1, upscale=True).spec == "student"  # --upscale is a 2x mode
    w = tmp_path / "mine.pt"
    assert loader.resolve("auto", weights=w).spec is None and loader.resolve("auto", weights=w).label == "mine"
    ladder = loader.auto_candidates(2)
    costs = dict(zip(ladder, [0.9, 0.7, 0.5]))
    seen = []

    def cost(tag):
        seen.append(tag)
        return costs[tag]

    c = loader.resolve("auto", cost=cost, budget=0.75)
    assert c.spec == ladder[1] and seen == ladder[:2] and c.ladder == ladder and "fits 0.75" in c.reason
    c = loader.resolve("auto", cost=lambda t: 2.0 + costs[t], budget=0.75)
    assert c.spec == ladder[-1] and "none fits" in c.reason and len(c.cores) == len(ladder)
    with pytest.raises(UserError, match="measuring"):
        loader.resolve("auto")
    with pytest.raises(UserError, match="unknown model"):
        loader.resolve("no-such-model")
    assert loader.resolve(" student-nokd ").spec == "student-nokd"


def test_noise_aware_is_a_name_auto_picks_at_degrade_2_and_the_same_size_mode_refuses():
    """The shipped pair is a model name like a tag, auto's bottom 2x rung in student's place; it loads as a pair
    of the two students and is a 2x model (one line naming it for --degrade 1)."""
    assert loader.pairs() == {"noise-aware": ("student-clean", "student-temporal")}
    assert "noise-aware" in loader.names() and loader.check("noise-aware") == "noise-aware"
    assert loader.members("noise-aware") == ("student-clean", "student-temporal") and loader.members("x") == ("x",)
    pair = loader.load("noise-aware")
    assert isinstance(pair, loader.ModelPair) and pair.input_scale == 2 and pair.model_name == "noise-aware"
    for m, tag in zip(pair.members, pair.names):
        ref = loader.load(tag)
        assert all(torch.equal(a, b) for a, b in zip(m.state_dict().values(), ref.state_dict().values()))
    ladder = loader.auto_candidates(2)
    assert ladder[-1] == "noise-aware" and "student" not in ladder
    c = loader.resolve("auto", cost=lambda t: 0.5 if t == "noise-aware" else 2.0, budget=0.75)
    assert c.spec == c.label == "noise-aware" and c.ladder == ladder
    assert loader.resolve("auto", degrade=1, cost=lambda t: 0.1).spec == "enhance"  # not a same-size rung
    assert loader.describe("noise-aware") == "noise-aware (student-clean | student-temporal)"
    assert loader.describe("student") == "student"
    with pytest.raises(UserError, match="--weights"):
        loader.load("noise-aware", weights=loader.shipped()["student"])
    r = CliRunner().invoke(cli, ["run", "--source", "demo", "--model", "noise-aware", "--degrade", "1", "--output",
                                 "null", "--frames", "3", "--size", "64x48"])
    assert r.exit_code == 2 and "noise-aware is a 2x model" in r.output and "Traceback" not in r.output
    assert r.output.strip().count("\n") == 0, r.output


def test_export_of_the_pair_names_its_two_networks(tmp_path):
    r = CliRunner().invoke(cli, ["export", "--model", "noise-aware", "--out", str(tmp_path / "m.onnx")])
    assert r.exit_code == 2 and "--model student-clean, --model student-temporal" in r.output
    assert not (tmp_path / "m.onnx").exists()
