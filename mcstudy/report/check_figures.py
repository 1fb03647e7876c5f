"""Figures of the report's checks: convergence of the running estimate, agreement with
the exact values (z-scores), and sensitivity indices. Built with the helpers and style of
``mcstudy.report.figures``; legends sit outside the panels, where they cover nothing."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import NullFormatter

from mcstudy.report.figures import (
    LABEL_SIZE,
    _label_chars,
    _log,
    axis_label,
    margins,
    new_figure,
    styled,
)

if TYPE_CHECKING:
    from mcstudy.document.convergence import Trace
    from mcstudy.document.variables import Agreement, Estimate
    from mcstudy.report.sensitivity import Sensitivity


@styled
def plot_convergence(traces: Sequence[Trace], est: Estimate) -> Figure:
    """Per traced point: the running estimate (95 % band, exact line) and its relative
    error against 1/sqrt(n), versus sequences; one legend above the panels."""
    row_h, top, bottom = 2.55, 0.75, 0.5
    ylabel = axis_label(est, _label_chars(row_h - 0.75))
    left = 0.5 + 0.16 * (ylabel.count("\n") + 1)
    fig = new_figure(10.5, row_h * len(traces) + top + bottom - 0.55)
    axes = fig.subplots(len(traces), 2, squeeze=False)
    margins(fig, left=left, right=0.2, bottom=bottom, top=top, wspace=0.3, hspace=0.55)
    any_exact = False
    for row, tr in zip(axes, traces, strict=True):
        ax, axr = row
        axr.sharex(ax)
        n = tr.sequences.astype(float)
        band = np.isfinite(tr.low) & np.isfinite(tr.high)
        ax.fill_between(
            n, np.where(band, tr.low, np.nan), np.where(band, tr.high, np.nan), color="C0",
            alpha=0.22, linewidth=0,
        )  # fmt: skip
        ax.plot(n, tr.value, "-o", color="C0", lw=1.2, ms=2.5)
        if tr.exact is not None:
            any_exact = True
            ax.axhline(tr.exact, color="k", lw=1.0, ls="--")
        if n.size > 1:
            _log(ax, "x")
        ax.set_xlabel("sequences")
        ax.set_ylabel(ylabel, fontsize=LABEL_SIZE)
        ax.set_title(tr.title(), loc="left")
        ax.grid(True, alpha=0.3)
        rel = tr.relative_error()
        ok = np.isfinite(rel) & (rel > 0)
        if np.any(ok):
            axr.plot(n[ok], rel[ok], "-o", lw=1.2, ms=2.5, color="C1")
            k = int(np.flatnonzero(ok)[-1])
            axr.plot(n[ok], rel[k] * np.sqrt(n[k] / n[ok]), ":", color="0.3", lw=1.0)
            if n.size > 1:
                _log(axr, "x")
            _log(axr, "y")
        else:
            axr.text(
                0.5, 0.5, "no interval at any checkpoint", ha="center", va="center",
                transform=axr.transAxes,
            )  # fmt: skip
        for a in (ax, axr):
            a.xaxis.set_minor_formatter(NullFormatter())  # labelled decades only
        axr.set_xlabel("sequences")
        axr.set_ylabel("relative standard error", fontsize=LABEL_SIZE)
        axr.grid(True, alpha=0.3)
    handles = [
        Patch(color="C0", alpha=0.3, label="95 % interval"),
        Line2D([], [], color="C0", marker="o", ms=2.5, lw=1.2, label="running estimate"),
    ]
    if any_exact:
        handles.append(Line2D([], [], color="k", lw=1.0, ls="--", label="exact"))
    handles += [
        Line2D([], [], color="C1", marker="o", ms=2.5, lw=1.2, label="relative error"),
        Line2D([], [], color="0.3", lw=1.0, ls=":", label="∝ 1/√n"),
    ]
    h = fig.get_size_inches()[1]
    fig.legend(
        handles=handles,
        loc="upper center",
        bbox_to_anchor=(0.5, 1.0 - 0.04 / h),
        ncol=len(handles),
        frameon=False,
    )
    return fig


@styled
def plot_sensitivity(results: Sequence[Sensitivity]) -> Figure:
    """First-order and total grid indices per parameter, one panel per estimate."""
    n = len(results)
    ncols = min(n, 2)
    nrows = -(-n // ncols)
    fig = new_figure(5.2 * ncols + 0.3, 3.0 * nrows + 0.45)
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    margins(fig, left=0.7, right=0.15, bottom=0.8, top=0.55, wspace=0.2, hspace=0.75)
    for ax, res in zip(axes, results, strict=False):
        dims = [ix.dim for ix in res.indices]
        pos = np.arange(len(dims), dtype=float)
        first = np.array([ix.first for ix in res.indices])
        total = np.array([ix.total for ix in res.indices])
        f_err = np.array(
            [
                [ix.first - ix.first_lo for ix in res.indices],
                [ix.first_hi - ix.first for ix in res.indices],
            ]
        )
        t_err = np.array(
            [
                [ix.total - ix.total_lo for ix in res.indices],
                [ix.total_hi - ix.total for ix in res.indices],
            ]
        )
        w = 0.38
        ax.bar(pos - w / 2, first, w, yerr=np.maximum(f_err, 0), capsize=3, label="first order S")
        ax.bar(pos + w / 2, total, w, yerr=np.maximum(t_err, 0), capsize=3, label="total ST")
        ax.set_xticks(pos, dims, rotation=15, ha="right")
        ax.set_ylim(min(0.0, float(np.nanmin(np.concatenate([first, total])))) - 0.02, 1.05)
        ax.axhline(0.0, color="0.3", lw=0.8)
        ax.set_title(res.estimate, loc="left")
        ax.set_ylabel("share of variance")
        ax.grid(True, axis="y", alpha=0.3)
    for ax in axes[n:]:
        ax.set_visible(False)
    h = fig.get_size_inches()[1]
    fig.legend(
        *axes[0].get_legend_handles_labels(),
        loc="upper center",
        bbox_to_anchor=(0.5, 1.0 - 0.03 / h),
        ncol=2,
        frameon=False,
    )  # above the panels: bars reach the top of every panel
    return fig


ZSCORE_STACK = 6
"""Up to this many estimates, the z-score histogram stacks one colour per estimate."""


@styled
def plot_zscores(agreements: Sequence[Agreement]) -> Figure:
    """Histogram of (Monte Carlo - exact) / standard error against the standard normal.

    One colour per estimate when there are at most ``ZSCORE_STACK`` of them, else one
    colour for all (the exact-check table counts them per estimate); the legend is to
    the right of the axes."""
    legend_in = 2.3
    fig = new_figure(7.0 + legend_in - 0.15, 3.2)
    ax = fig.subplots()
    margins(fig, left=0.7, right=legend_in, bottom=0.55, top=0.15)
    edges = np.linspace(-5.0, 5.0, 41)
    zs = []
    for ag in agreements:
        z = ag.z[ag.status == "tested"]
        zs.append(np.clip(z, -4.99, 4.99))
    total = sum(int(z.size) for z in zs)
    if len(zs) <= ZSCORE_STACK:
        labels = [
            f"{ag.estimate.name} ({int(z.size)})" for ag, z in zip(agreements, zs, strict=True)
        ]
        ax.hist(zs, bins=edges, density=False, stacked=True, label=labels, alpha=0.8)
    else:
        every = np.concatenate(zs) if zs else np.zeros(0)
        ax.hist(
            every,
            bins=edges,
            color="C0",
            alpha=0.8,
            label=f"{total} z-scores of {sum(1 for z in zs if z.size)} estimates",
        )
    grid = np.linspace(-5, 5, 400)
    width = edges[1] - edges[0]
    ax.plot(
        grid,
        total * width * np.exp(-0.5 * grid**2) / math.sqrt(2 * math.pi),
        "k-",
        lw=1.2,
        label="N(0, 1) expected",
    )
    ax.set_xlabel("z = (Monte Carlo - exact) / standard error   (clipped to ±5)")
    ax.set_ylabel("points")
    ax.grid(True, alpha=0.3)
    w = fig.get_size_inches()[0]
    fig.legend(
        *ax.get_legend_handles_labels(),
        loc="upper left",
        bbox_to_anchor=(1.0 - (legend_in - 0.1) / w, 0.97),
        frameon=False,
        fontsize=7.5,
    )
    return fig
