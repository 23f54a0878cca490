"""The shipped weights still score what the README says, on the full real test sets."""

import re

import pytest

from conftest import CIFAR_DIR, REPO, SHARED_DATA, requires_data
from vcam_sharpen.cli.text import parse_eval_markdown
from vcam_sharpen.core import loader
from vcam_sharpen.quality.report import run_eval


def readme_table(dataset: str) -> dict[str, float]:
    text = (REPO / "README.md").read_text()
    m = re.search(rf"<!-- eval:{dataset} -->(.*?)<!-- /eval -->", text, re.S)
    assert m, f"README has no <!-- eval:{dataset} --> table"
    return parse_eval_markdown(m.group(1))


def test_every_shipped_checkpoint_is_in_the_readme():
    table = readme_table("cifar10")
    assert set(loader.shipped()) <= set(table), "a shipped checkpoint has no README row"
    assert {"bilinear", "unsharp"} <= set(table)


@requires_data
@pytest.mark.parametrize("dataset", ["cifar10", "set5"])
def test_shipped_figures_hold(dataset):
    expected = readme_table(dataset)
    data = CIFAR_DIR if dataset == "cifar10" else SHARED_DATA
    rows = run_eval(dataset=dataset, data=data, models=",".join(expected), progress=False)
    got = {r["label"]: r["ssim"] for r in rows}
    for label, ssim in expected.items():
        assert got[label] == pytest.approx(ssim, abs=0.002), label
