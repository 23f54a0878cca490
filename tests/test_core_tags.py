"""The weight-tag table: it matches the files in weights/ both ways, and each file is what its row says."""

from __future__ import annotations

import pytest

from vcam_sharpen.core import checkpoint, loader, tags
from vcam_sharpen.core.degrade import model_task
from vcam_sharpen.core.models import count_macs, create_model, list_models


def test_the_table_and_the_weights_folder_match_both_ways():
    files = {p.stem for p in loader.weights_dir().glob("*.pt")}
    assert files == set(tags.TAGS), (files ^ set(tags.TAGS))
    assert set(loader.shipped()) == set(tags.TAGS)
    assert list(loader.shipped()) == list(tags.TAGS)  # table order


@pytest.mark.parametrize("tag", list(tags.TAGS))
def test_each_file_holds_the_declared_architecture_and_task(tag):
    row = tags.TAGS[tag]
    assert row.arch in list_models() and row.task in tags.TASKS and row.description and row.file == f"{tag}.pt"
    ck = checkpoint.read(loader.shipped()[tag])
    assert ck["model"] == row.arch
    trained_same_size = loader.same_size_trained(loader.shipped()[tag])
    assert trained_same_size == (row.task == tags.TASK_SAME)
    arch_task = model_task(create_model(row.arch))
    assert arch_task in (None, row.task)  # a full-resolution architecture (None) may serve either task


def _rung(name):
    return tags.TAGS.get(name) or tags.PAIRS[name]


def test_ladders_are_ranked_per_task_without_gaps_and_get_cheaper_going_down():
    for task in tags.TASKS:
        ladder = tags.ladder(task)
        assert ladder, task
        ranks = [_rung(t).rank for t in ladder]
        assert ranks == list(range(len(ladder)))
        assert all(_rung(t).task == task for t in ladder)
        assert all("teacher" not in tags.TAGS[m].arch for t in ladder for m in loader.members(t))
        for ladder in (tags.ladder(task), loader.auto_candidates(2 if task == tags.TASK_2X else 1)):
            gmacs = [count_macs(loader.load(t)) for t in ladder]
            assert gmacs == sorted(gmacs, reverse=True), (task, gmacs)
    assert tags.ladder(tags.TASK_2X)[-1] == tags.DEFAULT_MODEL  # the bottom rung is the default
    assert tags.ENHANCE_MODEL in tags.ladder(tags.TASK_SAME)
    # the shipped noise-aware pair takes student's place as auto's bottom 2x rung
    assert loader.auto_candidates(2) == [t for t in tags.ladder(tags.TASK_2X) if t != tags.DEFAULT_MODEL]
    assert loader.auto_candidates(2)[-1] == tags.NOISE_AWARE
    assert loader.auto_candidates(1, upscale=True) == loader.auto_candidates(2)
    assert loader.auto_candidates(1) == tags.ladder(tags.TASK_SAME)


def test_pairs_are_two_shipped_tags_of_their_task_and_replace_a_rung_of_it():
    for name, pair in tags.PAIRS.items():
        assert name not in tags.TAGS and len(pair.members) == 2 and pair.description
        assert all(tags.TAGS[m].task == pair.task and not tags.TAGS[m].auto for m in pair.members)
        assert pair.replaces is None or tags.TAGS[pair.replaces].task == pair.task
        # it costs what its dearer member costs, and no more than the rung it replaces
        macs = count_macs(loader.load(name))
        assert macs == max(count_macs(loader.load(m)) for m in pair.members)
        assert pair.replaces is None or macs <= count_macs(loader.load(pair.replaces))


def test_mode_task_and_default():
    assert tags.mode_task(2) == tags.mode_task(1, upscale=True) == tags.mode_task(2, True) == tags.TASK_2X
    assert tags.mode_task(1) == tags.TASK_SAME
    assert tags.mode_default(1) == tags.ENHANCE_MODEL and tags.mode_default(1, True) == tags.DEFAULT_MODEL
    assert tags.get("student").task == tags.TASK_2X and tags.get("no-such-tag") is None
    assert tags.for_task(tags.TASK_SAME)[0] == "enhance"
