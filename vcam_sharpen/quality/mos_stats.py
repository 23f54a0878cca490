"""MOS and DMOS per method (ITU-T P.910 absolute category rating), as a table, a CSV and a bar chart.

* **MOS**: the mean of a method's ratings (5 Excellent .. 1 Bad) over raters and contents, with
  the 95 % confidence interval of the t-distribution, ``t(0.975, n - 1) * s / sqrt(n)``.
* **DMOS** (P.910 hidden reference removal): for each rating of a processed stimulus, the same
  rater's rating of the hidden reference (the untouched original) of the same content is
  subtracted and 5 added, ``DV = V(PVS) - V(REF) + 5``; DMOS is the mean DV, with its own
  interval. Ratings whose rater did not rate that content's reference are left out of DMOS.
  Values above 5 mean the method was rated above the original.
* Trap stimuli never enter the figures; raters flagged for missing one are left out unless
  ``include_flagged``.
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

import numpy as np

from ..core.files import atomic_write

REFERENCE = "reference"  # the method name of the hidden reference (the untouched original)
CSV_FIELDS = ("method", "n", "mos", "ci95", "dmos_n", "dmos", "dmos_ci95")


def mean_ci(values) -> tuple[float, float]:
    """``(mean, half-width of the 95 % t interval)``; the half-width is NaN for fewer than two values."""
    v = np.asarray(list(values), np.float64)
    if v.size == 0:
        return math.nan, math.nan
    if v.size < 2:
        return float(v.mean()), math.nan
    from scipy import stats as sstats  # lazy: scipy.stats takes ~0.5 s to import
    half = float(sstats.t.ppf(0.975, v.size - 1) * v.std(ddof=1) / math.sqrt(v.size))
    return float(v.mean()), half


def summarize(ratings: list[dict], include_flagged: bool = False) -> dict:
    """Per-method MOS and DMOS from :meth:`~vcam_sharpen.quality.mos_store.Store.ratings` rows.

    Returns ``{"rows": [...], "raters": n, "flagged_raters": n, "ratings": n, "used": n, "traps": n,
    "excluded_flagged": n}``; rows are ordered by MOS, the reference first.
    """
    flagged = {r["rater"] for r in ratings if r["flagged"]}
    traps = [r for r in ratings if r["kind"] == "trap"]
    used = [r for r in ratings if r["kind"] != "trap" and (include_flagged or r["rater"] not in flagged)]
    ref = {(r["rater"], r["content"]): r["score"] for r in used if r["method"] == REFERENCE}
    by_method: dict[str, list[int]] = {}
    dv: dict[str, list[int]] = {}
    for r in used:
        by_method.setdefault(r["method"], []).append(r["score"])
        base = ref.get((r["rater"], r["content"]))
        if base is not None:
            dv.setdefault(r["method"], []).append(r["score"] - base + 5)
    rows = []
    for method, scores in by_method.items():
        mos, ci = mean_ci(scores)
        dmos, dci = mean_ci(dv.get(method, []))
        rows.append({"method": method, "n": len(scores), "mos": mos, "ci95": ci,
                     "dmos_n": len(dv.get(method, [])), "dmos": dmos, "dmos_ci95": dci})
    rows.sort(key=lambda r: (r["method"] != REFERENCE, -r["mos"], r["method"]))
    return {"rows": rows, "raters": len({r["rater"] for r in ratings}), "flagged_raters": len(flagged),
            "ratings": len(ratings), "used": len(used), "traps": len(traps),
            "excluded_flagged": sum(1 for r in ratings if r["kind"] != "trap" and r["rater"] in flagged
                                    and not include_flagged)}


def _num(x: float) -> str:
    return "" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.4f}"


def csv_text(summary: dict) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_FIELDS)
    for r in summary["rows"]:
        w.writerow([r["method"], r["n"], _num(r["mos"]), _num(r["ci95"]), r["dmos_n"], _num(r["dmos"]),
                    _num(r["dmos_ci95"])])
    return buf.getvalue()


def write_csv(summary: dict, path: Path) -> Path:
    return atomic_write(Path(path), csv_text(summary))


def write_chart(summary: dict, path: Path, title: str = "MOS per method (95 % CI)") -> Path:
    """A PNG bar chart: MOS and DMOS per method with their 95 % intervals as error bars (matplotlib, Agg)."""
    from matplotlib import pyplot as plt  # lazy: ~0.5 s to import, and it makes its cache folder when imported

    fig = chart(summary, title)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return atomic_write(Path(path), buf.getvalue())


def chart(summary: dict, title: str = "MOS per method (95 % CI)"):
    """The matplotlib figure :func:`write_chart` saves (close it with ``pyplot.close``)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    rows = summary["rows"]
    names = [r["method"] for r in rows]
    x = np.arange(len(rows))

    def bars(key):
        return [0.0 if math.isnan(r[key]) else r[key] for r in rows]

    # the bars stand on the scale's floor (1 Bad), the axis shows the whole scale, the legend sits above the plot
    top = min(6.0, max([5.0, *(v + e for v, e in zip(bars("mos") + bars("dmos"), bars("ci95") + bars("dmos_ci95")))]))
    fig, ax = plt.subplots(figsize=(max(5.0, 1.1 * len(rows) + 2), 4.4), dpi=110)

    def up(key):
        return [max(0.0, v - 1.0) for v in bars(key)]

    ax.bar(x - 0.2, up("mos"), 0.4, bottom=1, yerr=bars("ci95"), capsize=4, label="MOS", color="#4c78a8")
    ax.bar(x + 0.2, up("dmos"), 0.4, bottom=1, yerr=bars("dmos_ci95"), capsize=4, label="DMOS", color="#f58518")
    ax.set_xticks(x, names, rotation=20, ha="right")
    ax.set_ylim(1, top + 0.15)
    ax.axhline(5, color="grey", lw=0.6, ls=":")
    ax.set_yticks([1, 2, 3, 4, 5], ["1 Bad", "2 Poor", "3 Fair", "4 Good", "5 Excellent"])
    ax.set_title(f"{title}: {summary['used']} ratings, {summary['raters'] - summary['flagged_raters']} raters",
                 pad=28)
    ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=2, frameon=False)
    ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    return fig
