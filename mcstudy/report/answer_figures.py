"""Figures of the Answers section: what a kernel developer compares, in human units.

* IPIs per hour at one isolated CPU, grouped by IPI policy, one bar per collapse policy;
* deposit against on-demand: page-table memory held for splits and failed split-time
  allocations per hour for every table policy, ordered by memory (a frontier);
* any table of (label, estimate, interval) rows as horizontal bars.

Every bar or point carries its 95 % interval; a zero estimate is drawn as its upper
bound (an open marker, or "0 (upper bound X)" over an empty bar), never as an empty bar
with no bound. Legends sit to the right of the axes, where they cover nothing.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from mcstudy.report.figures import margins, new_figure, styled

ZERO_LABEL = "0 (upper bound)"
COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b")


def _err(y: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    return np.vstack([np.nan_to_num(y - lo), np.nan_to_num(hi - y)]).clip(min=0)


@styled
def plot_grouped(
    groups: Sequence[str],
    series: Sequence[str],
    values: np.ndarray,
    ylabel: str,
    legend_title: str,
) -> Figure:
    """Bars: ``values[s, g, 0..2]`` = (estimate, low, high) of series s in group g."""
    ng, ns = len(groups), len(series)
    legend_in = 1.45
    fig = new_figure(7.4 + legend_in, 3.6)
    ax = fig.subplots()
    margins(fig, left=0.85, right=legend_in, bottom=0.55, top=0.25)
    width = 0.8 / ns
    x = np.arange(ng)
    top = float(np.nanmax(values[:, :, 2])) if np.isfinite(values[:, :, 2]).any() else 1.0
    for s in range(ns):
        xs = x - 0.4 + width * (s + 0.5)
        y, lo, hi = values[s, :, 0], values[s, :, 1], values[s, :, 2]
        c = COLOURS[s % len(COLOURS)]
        ax.bar(xs, np.nan_to_num(y), width * 0.9, color=c, label=series[s], alpha=0.85)
        ax.errorbar(
            xs, np.nan_to_num(y), yerr=_err(y, lo, hi), fmt="none", ecolor="k", capsize=2, lw=0.8
        )
        for xi, yi, hii in zip(xs, y, hi, strict=True):
            if not math.isfinite(yi):
                continue
            text = (
                f"{yi:,.0f}"
                if yi >= 10
                else (f"{yi:.2g}" if yi > 0 else f"0 (upper bound {hii:.2g})")
            )
            above = hii if math.isfinite(hii) else yi
            ax.text(
                xi,
                max(yi, above) + 0.02 * top,
                text,
                ha="center",
                va="bottom",
                fontsize=6.5,
                rotation=90 if ns > 2 else 0,
            )
    ax.set_xticks(x, list(groups))
    ax.set_ylabel(ylabel)
    ax.set_ylim(0, top * 1.35 if top > 0 else 1.0)
    ax.grid(True, axis="y", alpha=0.3)
    _outside_legend(fig, ax, legend_in, title=legend_title)
    return fig


def _points(
    ax: Any, xs: np.ndarray, yl: np.ndarray, c: str, label: str, fmt: str, cap: int, drawn: list
) -> bool:
    """Estimates ``yl[:, 0]`` with their intervals ``yl[:, 1..2]`` at ``xs`` on a log axis:
    positive ones as points with error bars, zeros as open triangles at their upper
    bound; the values drawn go to ``drawn`` (for the axis limits). True if a zero was
    drawn."""
    y, lo, hi = yl[:, 0], yl[:, 1], yl[:, 2]
    pos = y > 0
    ax.errorbar(
        xs[pos], y[pos], yerr=_err(y[pos], lo[pos], hi[pos]), fmt=fmt, ms=4, color=c,
        capsize=cap, lw=1.0, label=label,
    )  # fmt: skip
    zero = (y == 0) & np.isfinite(hi) & (hi > 0)
    ax.plot(xs[zero], hi[zero], "v", ms=5, mfc="none", color=c)
    for arr in (y[pos], lo[pos & (lo > 0)], hi[np.isfinite(hi) & (hi > 0)]):
        drawn.extend(float(v) for v in arr)
    return bool(zero.any())


def _outside_legend(fig: Figure, ax: Any, legend_in: float, **kw: Any) -> None:
    """The legend of ``ax`` in the figure's right margin of ``legend_in`` inches, level
    with the top of ``ax``."""
    w = fig.get_size_inches()[0]
    handles, names = ax.get_legend_handles_labels()
    order = sorted(range(len(names)), key=lambda i: names[i] == ZERO_LABEL)  # zeros last
    fig.legend(
        [handles[i] for i in order],
        [names[i] for i in order],
        loc="upper left",
        bbox_to_anchor=(1.0 - (legend_in - 0.1) / w, ax.get_position().y1),
        frameon=False,
        **kw,
    )


@styled
def plot_frontier(
    labels: Sequence[str],
    held_bytes: Sequence[float],
    loads: Sequence[str],
    fails: np.ndarray,
) -> Figure:
    """Two panels over the table policies (ordered by memory): memory held (MiB, log) and
    failed split-time allocations per hour per load (``fails[l, p, 0..2]``)."""
    n = len(labels)
    legend_in = 1.9
    fig = new_figure(7.4 + legend_in, 5.0)
    ax_m, ax_f = fig.subplots(2, 1, sharex=True)
    margins(fig, left=0.95, right=legend_in, bottom=0.95, top=0.25, hspace=0.12)
    x = np.arange(n)
    mib = np.array(held_bytes, dtype=float) / (1 << 20)
    pos_m = mib > 0
    held = mib[pos_m]
    if held.size:  # a log axis needs positive values (no warning, no empty log axis)
        ax_m.bar(x[pos_m], held, 0.6, color="#7f7f7f")
        m_lo, m_hi = float(held.min()) / 4.0, float(held.max()) * 8.0
        ax_m.set_yscale("log")
    else:
        m_lo, m_hi = 0.0, 1.0
    for xi, m in zip(x, mib, strict=True):
        label = "none" if m == 0 else (f"{m / 1024:.3g} GiB" if m >= 1024 else f"{m:.3g} MiB")
        y0 = m if m > 0 else (m_lo * 1.2 if held.size else 0.02)
        ax_m.text(xi, y0, label, ha="center", va="bottom", fontsize=7)
    ax_m.set_ylim(m_lo, m_hi)
    ax_m.set_ylabel("tables held (MiB)")
    ax_m.grid(True, axis="y", alpha=0.3)
    nl = len(loads)
    width = 0.8 / max(nl, 1)
    drawn: list[float] = []
    zero_seen = False
    for li, load in enumerate(loads):
        xs = x - 0.4 + width * (li + 0.5)
        c = COLOURS[li % len(COLOURS)]
        zero_seen |= _points(ax_f, xs, fails[li], c, load, "o", 0, drawn)
    if zero_seen:
        ax_f.plot([], [], "v", ms=5, mfc="none", color="k", label=ZERO_LABEL)
    ax_f.set_yscale("log")
    f_lo = min(drawn) / 4.0 if drawn else 0.01
    f_hi = max(drawn) * 4.0 if drawn else 1.0
    ax_f.set_ylim(f_lo, f_hi)
    never = np.all((fails[:, :, 0] == 0) & (fails[:, :, 2] == 0), axis=0)
    for xi in x[never]:
        ax_f.text(xi, f_lo * 1.3, "never fails", ha="center", va="bottom", fontsize=7)
    ax_f.set_ylabel("split-time allocation\nfailures per hour")
    ax_f.grid(True, axis="y", alpha=0.3)
    ax_f.set_xticks(x, list(labels), rotation=25, ha="right")
    _outside_legend(fig, ax_f, legend_in, title="load", fontsize=7.5)
    return fig


@styled
def plot_against(
    x: Sequence[float],
    series: Sequence[str],
    values: np.ndarray,
    xlabel: str,
    ylabel: str,
) -> Figure:
    """Lines over a swept parameter, both axes log: ``values[s, i, 0..2]`` = (estimate,
    low, high) of series s at ``x[i]``; a zero estimate is an open triangle at its upper
    bound."""
    legend_in = 2.2
    fig = new_figure(7.4 + legend_in, 3.6)
    ax = fig.subplots()
    margins(fig, left=0.85, right=legend_in, bottom=0.6, top=0.25)
    xs = np.asarray(x, dtype=float)
    drawn: list[float] = []
    zero_seen = False
    for s, name in enumerate(series):
        c = COLOURS[s % len(COLOURS)]
        zero_seen |= _points(ax, xs, values[s], c, name, "o-", 2, drawn)
    if zero_seen:
        ax.plot([], [], "v", ms=5, mfc="none", color="k", label=ZERO_LABEL)
    ax.set_xscale("log")
    if drawn:
        ax.set_yscale("log")
        ax.set_ylim(min(drawn) / 3.0, max(drawn) * 3.0)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(True, which="both", alpha=0.3)
    _outside_legend(fig, ax, legend_in, fontsize=7.5)
    return fig
