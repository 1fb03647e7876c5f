"""Figures read correctly: legends cover nothing, categories are not joined by lines, axis
labels are words with units, log axes start near the data, zeros are upper bounds."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import xarray as xr
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from mcstudy.document.convergence import Trace
from mcstudy.document.layout import Layout
from mcstudy.document.variables import Agreement, Estimate, agreement
from mcstudy.report.answer_figures import plot_frontier, plot_grouped
from mcstudy.report.check_figures import plot_convergence, plot_sensitivity, plot_zscores
from mcstudy.report.figures import plot_estimate, plot_estimates_panels, plot_tradeoff
from mcstudy.report.sensitivity import Index, Sensitivity

LOADS = ["idle", "steady", "bursts"]
KERNELS = ["v6.3-baremetal", "v6.14-pt-reclaim", "v6.15"]
NAME = "fallbacks_per_hour"
LONG = "tlb_remove_table_one() calls from munmap gathers per hour"


def host_like() -> tuple[xr.Dataset, Estimate]:
    """The default study's fallbacks: 0 with upper bound 0.06 except under bursts, exact
    values of 1e-75 under the steady load (a rate no run sees)."""
    y = np.array([[0.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 676.0, 591.6]])
    se = np.array([[0.0] * 3, [0.0] * 3, [0.0, 56.9, 49.6]])
    lo = np.where(y > 0, y - 1.96 * se, 0.0)
    hi = np.where(y > 0, y + 1.96 * se, 0.0577)
    exact = np.array([[0.0] * 3, [0.0, 1.05e-75, 1.04e-75], [0.0, 713.8, 689.6]])
    dims = ["load", "kernel"]
    ds = xr.Dataset(
        {
            NAME: (dims, y, {"units": "tables/h", "long_name": LONG}),
            f"{NAME}_stderr": (dims, se),
            f"{NAME}_ci_low": (dims, lo),
            f"{NAME}_ci_high": (dims, hi),
            f"{NAME}_exact": (dims, exact),
            "sequences": (dims, np.full((3, 3), 64)),
        },
        coords={"load": LOADS, "kernel": KERNELS},
    )
    est = Estimate(
        name=NAME,
        long_name=LONG,
        units="tables/h",
        kind="rate",
        interval="score",
        stderr=f"{NAME}_stderr",
        ci=(f"{NAME}_ci_low", f"{NAME}_ci_high"),
        exact=f"{NAME}_exact",
        exact_var=None,
        n="sequences",
    )
    return ds, est


def numeric_like() -> tuple[xr.Dataset, Estimate]:
    p = np.array([0.001, 0.01, 0.1, 0.5])
    y = np.vstack([p * 0.98, np.zeros(4)])
    se = np.vstack([np.sqrt(p * (1 - p) / 1e4), np.zeros(4)])
    lo, hi = y - 1.96 * se, np.where(y > 0, y + 1.96 * se, 3.7e-4)
    dims = ["kernel", "p"]
    ds = xr.Dataset(
        {
            "prob": (dims, y, {"units": "1", "long_name": "P(>= 1 fallback in a gather)"}),
            "prob_stderr": (dims, se),
            "prob_lo": (dims, lo),
            "prob_hi": (dims, hi),
            "prob_exact": (dims, np.vstack([p, np.zeros(4)])),
        },
        coords={"kernel": ["a", "b"], "p": p},
    )
    est = Estimate("prob", "P(>= 1 fallback in a gather)", "1", "proportion", "wilson",
                   "prob_stderr", ("prob_lo", "prob_hi"), "prob_exact", None, None)  # fmt: skip
    return ds, est


def legend_problems(fig: Figure) -> list[str]:
    """Legends outside the figure, or overlapping an axes' area or labels (tight box)."""
    renderer = FigureCanvasAgg(fig).get_renderer()
    fig.draw(renderer)
    legends = list(fig.legends) + [ax.get_legend() for ax in fig.axes if ax.get_legend()]
    out = []
    page = fig.bbox
    for leg in legends:
        bb = leg.get_window_extent(renderer)
        if bb.x0 < page.x0 - 1 or bb.y0 < page.y0 - 1 or bb.x1 > page.x1 + 1 or bb.y1 > page.y1 + 1:
            out.append(f"legend {bb} outside the figure {page}")
        for ax in fig.axes:
            if not ax.get_visible():
                continue
            tight = ax.get_tightbbox(renderer)
            if tight is not None and bb.overlaps(tight):
                out.append(f"legend {bb} overlaps axes {ax.get_title(loc='left')!r} {tight}")
    # panels (with their labels) must not overlap one another either
    boxes = [ax.get_tightbbox(renderer) for ax in fig.axes if ax.get_visible()]
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            if a.overlaps(b):
                out.append(f"panels overlap: {a} and {b}")
    return out


def data_lines(ax: Any) -> list[Line2D]:
    """Line artists drawn with a line style (not markers only), grid lines excluded."""
    grid = set(ax.get_xgridlines()) | set(ax.get_ygridlines())
    return [
        ln
        for ln in ax.get_lines()
        if ln not in grid
        and ln.get_linestyle() not in ("None", "", " ")
        and len(ln.get_xdata()) > 1
    ]


def test_categorical_axis_has_points_not_lines_and_starts_near_the_data() -> None:
    ds, est = host_like()
    fig, notes = plot_estimate(ds, est, Layout("load", "kernel", None))
    ax = fig.axes[0]
    assert data_lines(ax) == []  # no line joins idle, steady and bursts
    assert ax.get_yscale() == "log"
    low, high = ax.get_ylim()
    assert 1e-3 < low < 0.0577 and high > 800  # not the 1e-12 .. 1e2 band
    assert any("1e-75 lie below the axis" in n for n in notes)
    # every zero with an upper bound is an open triangle at that bound
    tri = [ln for ln in ax.get_lines() if ln.get_marker() == "v"]
    ys = np.concatenate([ln.get_ydata() for ln in tri])
    assert ys.size == 7 and np.allclose(ys, 0.0577)
    assert legend_problems(fig) == []


def test_axis_labels_are_words_with_units() -> None:
    ds, est = host_like()
    fig, _ = plot_estimate(ds, est, Layout("load", "kernel", None))
    label = fig.axes[0].get_ylabel()
    assert NAME not in label.replace("\n", "")
    assert " ".join(label.split()).startswith("tlb_remove_table_one() calls from munmap")
    assert label.endswith("(tables/h)")
    ds2, est2 = numeric_like()
    fig, _ = plot_tradeoff(ds2, est2, est2, None)
    assert "prob" not in fig.axes[0].get_xlabel().split()
    assert fig.axes[0].get_ylabel().startswith("P(>= 1 fallback")


def test_numeric_axis_keeps_bands_and_exact_lines() -> None:
    ds, est = numeric_like()
    fig, _ = plot_estimate(ds, est, Layout("p", None, "kernel"))
    lines = data_lines(fig.axes[0])
    assert lines, "the exact curve over a numeric axis is a line"
    assert legend_problems(fig) == []
    fig, _ = plot_estimates_panels(ds, [est, est], Layout("p", "kernel", None))
    assert legend_problems(fig) == []


def test_panels_of_categories_have_no_lines() -> None:
    ds, est = host_like()
    fig, _ = plot_estimates_panels(ds, [est, est, est], Layout("load", "kernel", None))
    for ax in fig.axes:
        if ax.get_visible():
            assert data_lines(ax) == []
    assert legend_problems(fig) == []


def _agreements(n: int) -> list[Agreement]:
    ds, _ = numeric_like()
    out = []
    for i in range(n):
        e = Estimate(f"estimate_number_{i}", "x", "1", "proportion", "wilson",
                     "prob_stderr", ("prob_lo", "prob_hi"), "prob_exact", None, None)  # fmt: skip
        ag = agreement(ds.rename({"prob": e.name}), e)
        assert ag is not None
        out.append(ag)
    return out


@pytest.mark.parametrize("n", [3, 30])
def test_zscore_legend_covers_no_bar_or_label(n: int) -> None:
    fig = plot_zscores(_agreements(n))
    assert legend_problems(fig) == []
    labels = fig.legends[0].get_texts()
    assert len(labels) <= 7  # 30 estimates: one histogram, not 30 legend entries


def _trace(i: int) -> Trace:
    n = np.array([1, 2, 3, 4, 6, 8, 11, 16, 23, 32, 45, 64]) * 1000
    y = 3462.0 + 300.0 / np.sqrt(n / 1000)
    half = 1.96 * 400.0 / np.sqrt(n)
    return Trace(i, {"load": "bursts", "kernel": f"v6.{i}"}, n, y, y - half, y + half,
                 float(y[-1]), int(n[-1]), 3569.6)  # fmt: skip


def test_convergence_legend_spills_into_no_panel() -> None:
    _, est = host_like()
    fig = plot_convergence([_trace(i) for i in range(3)], est)
    assert legend_problems(fig) == []
    assert len(fig.legends) == 1 and not any(ax.get_legend() for ax in fig.axes)
    assert NAME not in fig.axes[0].get_ylabel()


def test_sensitivity_and_answer_figures_legends() -> None:
    idx = [Index("load", 3, 0.9, 0.85, 0.95, 0.97, 0.9, 1.0, 5.0),
           Index("kernel", 3, 0.02, 0.0, 0.05, 0.1, 0.05, 0.15, 1.0)]  # fmt: skip
    fig = plot_sensitivity([Sensitivity("a", idx, 1.0, 0.01), Sensitivity("b", idx, 1.0, 0.0)])
    assert legend_problems(fig) == []
    values = np.zeros((3, 4, 3))
    values[0, 0] = (3462, 3360, 3568)
    values[1:, 0] = (592, 501, 699)
    values[:, 1:, 2] = 0.06
    fig = plot_grouped(["broadcast", "mm_cpumask", "kernel_mode", "rcu"],
                       ["sync_ipi", "fresh_table", "rcu_free"], values, "IPIs per hour",
                       "collapse_policy")  # fmt: skip
    assert legend_problems(fig) == []
    fails = np.zeros((3, 4, 3))
    fails[:, :, 2] = 0.06
    fails[2, 0] = (14.6, 12.2, 17.6)
    fails[2, 1] = (0.0156, 0.0027, 0.091)
    fails[:, 3] = 0.0
    fig = plot_frontier(["on demand", "cache 1/CPU", "cache 4/CPU", "deposit"],
                        [0.0, 2.6e5, 1.2e6, 1.7e9], LOADS, fails)  # fmt: skip
    assert legend_problems(fig) == []
    ax_f = fig.axes[1]
    assert ax_f.get_yscale() == "log" and ax_f.get_ylim()[0] > 1e-4
    tri = [ln for ln in ax_f.get_lines() if ln.get_marker() == "v" and len(ln.get_xdata())]
    assert np.allclose(np.concatenate([ln.get_ydata() for ln in tri]), 0.06)
