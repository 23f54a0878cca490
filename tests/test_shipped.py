"""The shipped weights still score what docs/quality.md says, on the full real test sets."""

import re

import pytest

from conftest import CIFAR_DIR, REPO, SHARED_DATA, requires_data
from vcam_sharpen.cli.text import parse_eval_markdown
from vcam_sharpen.core import loader
from vcam_sharpen.quality.report import run_eval


def readme_table(dataset: str) -> dict[str, float]:
    text = (REPO / "docs" / "quality.md").read_text()
    m = re.search(rf"<!-- eval:{dataset} -->(.*?)<!-- /eval -->", text, re.S)
    assert m, f"docs/quality.md has no <!-- eval:{dataset} --> table"
    return parse_eval_markdown(m.group(1))


def test_every_shipped_checkpoint_is_in_the_readme():
    """2x checkpoints in the 2x table, same-size (enhance) ones in the soft table."""
    shipped = loader.shipped()
    soft = {t for t, p in shipped.items() if loader.same_size_trained(p)}
    table, soft_table = readme_table("cifar10"), readme_table("soft-cifar10")
    assert set(shipped) - soft <= set(table), "a shipped 2x checkpoint has no row in docs/quality.md"
    assert soft <= set(soft_table) and {"enhance", "enhance-kd", "enhance-teacher"} <= soft
    assert {"bilinear", "unsharp"} <= set(table) and {"input", "unsharp", "seed-student"} <= set(soft_table)


@requires_data
@pytest.mark.parametrize("dataset", ["cifar10", "set5", "soft-cifar10", "soft-set5"])
def test_shipped_figures_hold(dataset):
    expected = readme_table(dataset)
    name = dataset.removeprefix("soft-")
    data = CIFAR_DIR if name == "cifar10" else SHARED_DATA
    rows = run_eval(dataset=name, data=data, models=",".join(expected).replace("input", "none"), progress=False,
                    degradation="soft" if dataset.startswith("soft-") else "2x")
    got = {r["label"]: r["ssim"] for r in rows}
    for label, ssim in expected.items():
        assert got[label] == pytest.approx(ssim, abs=0.002), label
