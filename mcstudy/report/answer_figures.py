"""Figures of the Answers section: what a kernel developer compares, in human units.

* IPIs per hour at one isolated CPU, grouped by IPI policy, one bar per collapse policy;
* deposit against on-demand: page-table memory held for splits and failed split-time
  allocations per hour for every table policy, ordered by memory (a frontier);
* any table of (label, estimate, interval) rows as horizontal bars.

Every bar carries its 95 % interval; a zero estimate is drawn as its upper bound (an
open marker), never as an empty bar with no bound.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure

from mcstudy.report.figures import margins, new_figure, styled

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
    fig = new_figure(7.4, 3.6)
    ax = fig.subplots()
    margins(fig, left=0.85, right=0.2, bottom=0.55, top=0.25)
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
            text = f"{yi:,.0f}" if yi >= 10 else (f"{yi:.2g}" if yi > 0 else f"0 (<{hii:.2g})")
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
    ax.legend(title=legend_title, frameon=False, loc="upper right")
    return fig


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
    fig = new_figure(7.4, 5.0)
    ax_m, ax_f = fig.subplots(2, 1, sharex=True)
    margins(fig, left=0.95, right=0.2, bottom=0.95, top=0.25, hspace=0.12)
    x = np.arange(n)
    mib = np.array(held_bytes, dtype=float) / (1 << 20)
    shown = np.where(mib > 0, mib, np.nan)
    ax_m.bar(x, np.nan_to_num(shown), 0.6, color="#7f7f7f")
    for xi, m in zip(x, mib, strict=True):
        label = "none" if m == 0 else (f"{m / 1024:.3g} GiB" if m >= 1024 else f"{m:.3g} MiB")
        ax_m.text(xi, m if m > 0 else 1.5e-2, label, ha="center", va="bottom", fontsize=7)
    ax_m.set_yscale("log")
    ax_m.set_ylim(1e-2, max(float(np.nanmax(shown)) if np.isfinite(shown).any() else 1, 1) * 20)
    ax_m.set_ylabel("tables held (MiB)")
    ax_m.grid(True, axis="y", alpha=0.3)
    nl = len(loads)
    width = 0.8 / max(nl, 1)
    for li, load in enumerate(loads):
        xs = x - 0.4 + width * (li + 0.5)
        y, lo, hi = fails[li, :, 0], fails[li, :, 1], fails[li, :, 2]
        c = COLOURS[li % len(COLOURS)]
        pos = y > 0
        ax_f.errorbar(
            xs[pos],
            y[pos],
            yerr=_err(y[pos], lo[pos], hi[pos]),
            fmt="o",
            ms=4,
            color=c,
            capsize=2,
            lw=0.8,
            label=load,
        )
        zero = (y == 0) & np.isfinite(hi) & (hi > 0)
        ax_f.plot(xs[zero], hi[zero], "v", ms=5, mfc="none", color=c)
        never = (y == 0) & (hi == 0)
        for xi in x[never] if li == 0 else ():
            ax_f.text(xi, 0.0, "never fails", ha="center", va="bottom", fontsize=7)
    ax_f.plot([], [], "v", ms=5, mfc="none", color="k", label="none seen: 95 % upper bound")
    ax_f.set_yscale("symlog", linthresh=0.1)
    ax_f.set_ylabel("split-time allocation\nfailures per hour")
    ax_f.grid(True, axis="y", alpha=0.3)
    ax_f.set_xticks(x, list(labels), rotation=25, ha="right")
    ax_f.legend(frameon=False, fontsize=7, ncol=2, loc="upper right")
    return fig
