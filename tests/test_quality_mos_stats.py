"""MOS with t-intervals, DMOS against the hidden reference (P.910), the CSV and the chart."""

from __future__ import annotations

import csv
import math

import cv2
import pytest

from vcam_sharpen.quality.mos_stats import REFERENCE, chart, csv_text, mean_ci, summarize, write_chart, write_csv


def rating(rater, content, method, score, kind="still", flagged=False):
    return {"rater": rater, "content": content, "method": method, "score": score, "kind": kind, "flagged": flagged}


def test_mean_and_t_interval():
    m, h = mean_ci([4, 5, 3, 4])
    # s = 0.8165, t(0.975, 3) = 3.1824: 3.1824 * 0.8165 / 2
    assert m == 4.0 and h == pytest.approx(1.2992, abs=1e-4)
    assert math.isnan(mean_ci([3])[1]) and math.isnan(mean_ci([])[0])


def test_dmos_is_the_per_rater_difference_to_the_reference_plus_5():
    rows = [rating("a", "c1", REFERENCE, 5), rating("a", "c1", "student", 4), rating("a", "c1", "bilinear", 2),
            rating("b", "c1", REFERENCE, 4), rating("b", "c1", "student", 4), rating("b", "c1", "bilinear", 3),
            rating("b", "c2", "student", 1),  # no reference rating of c2 by b: not in DMOS
            rating("b", "c1", "bilinear", 2, kind="trap")]
    s = summarize(rows)
    by = {r["method"]: r for r in s["rows"]}
    assert s["rows"][0]["method"] == REFERENCE and by[REFERENCE]["dmos"] == 5.0
    assert by["student"]["n"] == 3 and by["student"]["mos"] == pytest.approx(3.0)
    assert by["student"]["dmos_n"] == 2 and by["student"]["dmos"] == pytest.approx((4 + 5) / 2)
    assert by["bilinear"]["dmos"] == pytest.approx((2 + 4) / 2)
    assert s["traps"] == 1 and s["used"] == 7 and s["raters"] == 2


def test_flagged_raters_are_left_out_unless_asked():
    rows = [rating("a", "c", "student", 5), rating("x", "c", "student", 1, flagged=True),
            rating("x", "c", "bilinear", 4, kind="trap", flagged=True)]
    s = summarize(rows)
    assert s["flagged_raters"] == 1 and s["excluded_flagged"] == 1 and s["rows"][0]["mos"] == 5
    assert summarize(rows, include_flagged=True)["rows"][0]["mos"] == 3


def test_csv_and_chart(tmp_path):
    s = summarize([rating("a", "c", REFERENCE, 5), rating("a", "c", "student", 4), rating("b", "c", "student", 3),
                   rating("b", "c", REFERENCE, 4)])
    rows = list(csv.DictReader(csv_text(s).splitlines()))
    assert [r["method"] for r in rows] == [REFERENCE, "student"] and rows[1]["mos"] == "3.5000"
    assert rows[1]["dmos"] == "4.0000" and float(rows[1]["ci95"]) > 0
    write_csv(s, tmp_path / "r.csv")
    png = write_chart(s, tmp_path / "r.png")
    img = cv2.imread(str(png))
    assert img is not None and img.shape[0] > 200 and (tmp_path / "r.csv").read_text().startswith("method,n,mos")


def test_the_chart_shows_the_whole_scale_with_the_legend_clear_of_the_bars():
    from matplotlib import pyplot as plt

    s = summarize([rating("a", "c", REFERENCE, 5), rating("a", "c", "student", 4), rating("b", "c", "student", 5),
                   rating("b", "c", REFERENCE, 5), rating("a", "c", "bilinear", 1), rating("b", "c", "bilinear", 2)])
    fig = chart(s)
    try:
        ax = fig.axes[0]
        assert ax.get_ylim()[0] == 1 and ax.get_ylim()[1] >= 5
        assert [t.get_text() for t in ax.get_yticklabels()] == ["1 Bad", "2 Poor", "3 Fair", "4 Good", "5 Excellent"]
        fig.canvas.draw()
        legend, plot = ax.get_legend().get_window_extent(), ax.get_window_extent()
        assert legend.y0 >= plot.y1 - 1  # above the plot, so over no bar
        assert min(p.get_y() for p in ax.patches) == 1  # the bars stand on "1 Bad"
    finally:
        plt.close(fig)
