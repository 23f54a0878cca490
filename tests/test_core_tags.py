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


def test_ladders_are_ranked_per_task_without_gaps_and_get_cheaper_going_down():
    for task in tags.TASKS:
        ladder = tags.ladder(task)
        assert ladder, task
        ranks = [tags.TAGS[t].rank for t in ladder]
        assert ranks == list(range(len(ladder)))
        assert all(tags.TAGS[t].task == task and "teacher" not in tags.TAGS[t].arch for t in ladder)
        gmacs = [count_macs(loader.load(t)) for t in ladder]
        assert gmacs == sorted(gmacs, reverse=True), (task, gmacs)
    assert tags.ladder(tags.TASK_2X)[-1] == tags.DEFAULT_MODEL  # the bottom rung is the default
    assert tags.ENHANCE_MODEL in tags.ladder(tags.TASK_SAME)
    assert loader.auto_candidates(2) == tags.ladder(tags.TASK_2X)
    assert loader.auto_candidates(1, upscale=True) == tags.ladder(tags.TASK_2X)


def test_mode_task_and_default():
    assert tags.mode_task(2) == tags.mode_task(1, upscale=True) == tags.mode_task(2, True) == tags.TASK_2X
    assert tags.mode_task(1) == tags.TASK_SAME
    assert tags.mode_default(1) == tags.ENHANCE_MODEL and tags.mode_default(1, True) == tags.DEFAULT_MODEL
    assert tags.get("student").task == tags.TASK_2X and tags.get("no-such-tag") is None
    assert tags.for_task(tags.TASK_SAME)[0] == "enhance"
