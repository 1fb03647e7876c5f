"""Report figures as ``matplotlib.figure.Figure`` objects (never pyplot's global state).

Every plotting function returns a new Figure; :func:`png_bytes` and :func:`svg_bytes`
render one without a GUI backend. Against a numeric sweep axis, estimates are markers
inside a shaded 95 % interval band and exact values a line of the same colour; against a
categorical one (a load, a kernel), estimates are points with interval error bars and exact
values short dashes, never lines joining categories. On a log axis an estimate of 0 is an
open triangle at its 95 % upper bound, and the axis starts near the estimates and their
intervals (exact values far below them are listed in the caption, not drawn). Axis labels
are the estimates' long names with units; legends sit outside the panels.
"""

from __future__ import annotations

import functools
import io
import math
import textwrap
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

import numpy as np
import xarray as xr
from matplotlib import colormaps
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import NullLocator

from mcstudy.document.layout import Layout, is_numeric, select, wants_log
from mcstudy.document.variables import Estimate, bounds
from mcstudy.fmt import coord
from mcstudy.units import shown_units

if TYPE_CHECKING:
    from mcstudy.document.curves import ExactCurves

P = ParamSpec("P")
R = TypeVar("R")
PNG_DPI = 110
_STYLE = {
    "font.size": 9,
    "axes.titlesize": 9,
    "axes.labelsize": 9,
    "legend.fontsize": 8,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "svg.fonttype": "path",
    "svg.hashsalt": "mcstudy",
}


def styled(func: Callable[P, R]) -> Callable[P, R]:
    """Run a plotting function with the report's rc settings (restored afterwards)."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        import matplotlib as mpl

        with mpl.rc_context(_STYLE):
            return func(*args, **kwargs)

    return wrapper


def new_figure(width: float, height: float) -> Figure:
    """A blank Figure (no pyplot, no global state)."""
    return Figure(figsize=(width, height))


def margins(
    fig: Figure,
    left: float = 0.75,
    right: float = 0.2,
    bottom: float = 0.55,
    top: float = 0.35,
    wspace: float = 0.25,
    hspace: float = 0.3,
) -> None:
    """Fixed margins in inches (a fixed layout draws in half the time of a solver)."""
    w, h = fig.get_size_inches()
    fig.subplots_adjust(
        left=left / w,
        right=1.0 - right / w,
        bottom=bottom / h,
        top=1.0 - top / h,
        wspace=wspace,
        hspace=hspace,
    )


def _render(fig: Figure, fmt: str, **kw: Any) -> bytes:
    import matplotlib as mpl

    buf = io.BytesIO()
    with mpl.rc_context(_STYLE):
        fig.savefig(buf, format=fmt, **kw)
    return buf.getvalue()


def png_bytes(fig: Figure, dpi: int = PNG_DPI) -> bytes:
    """The figure as PNG."""
    return _render(fig, "png", dpi=dpi, metadata={"Software": None})


def svg_bytes(fig: Figure) -> bytes:
    """The figure as SVG (text as paths: no fonts needed to view it)."""
    return _render(fig, "svg", metadata={"Date": None})


def _log(ax: Any, axis: str) -> None:
    """Log scale on ``axis`` ("x" or "y"); minor ticks only over less than two decades
    (they are slow to draw and unreadable over many)."""
    lo, hi = ax.dataLim.intervalx if axis == "x" else ax.dataLim.intervaly
    few = bool(np.isfinite(lo) and np.isfinite(hi) and lo > 0 and hi / lo < 100.0)
    if axis == "x":
        ax.set_xscale("log")
        target = ax.xaxis
    else:
        ax.set_yscale("log", nonpositive="clip")
        target = ax.yaxis
    if not few:
        target.set_minor_locator(NullLocator())


def axis_label(est: Estimate, width: int = 34) -> str:
    """An estimate's axis label: its long name in words with its units, wrapped."""
    units = "" if est.units in ("", "1") else f" ({est.units})"
    return "\n".join(textwrap.wrap(est.long_name + units, width)) or est.name


def _colours(n: int, ordered: bool) -> list[Any]:
    if ordered and n > 2:
        cmap = colormaps["viridis"]
        return [cmap(0.9 * i / (n - 1)) for i in range(n)]
    cmap = colormaps["tab10"]
    return [cmap(i % 10) for i in range(n)]


def _xvals(ds: xr.Dataset, dim: str | None) -> tuple[np.ndarray, list[str] | None]:
    if dim is None:
        return np.zeros(1), None
    if is_numeric(ds, dim):
        return np.asarray(ds[dim].values, dtype=float), None
    labels = [coord(v) for v in ds[dim].values]
    return np.arange(len(labels), dtype=float), labels


def _levels(ds: xr.Dataset, dim: str | None) -> list[Any]:
    return [None] if dim is None else list(ds[dim].values)


def _sel(da: xr.DataArray, **kv: Any) -> xr.DataArray:
    kv = {k: v for k, v in kv.items() if k is not None and v is not None}
    return da.sel(kv) if kv else da


def _all_zero(arrays: Sequence[np.ndarray]) -> bool:
    vals = np.concatenate([np.ravel(a) for a in arrays])
    vals = vals[np.isfinite(vals)]
    return vals.size > 0 and bool(np.all(vals == 0.0))


@dataclass
class _Panel:
    """What one panel drew (for shared axis limits, the legend and caption notes)."""

    pos_min: float = math.inf
    pos_max: float = 0.0
    exact_min: float = math.inf
    zero_lines: int = 0
    zero_marks: int = 0
    exact_below: list[float] = field(default_factory=list)
    """positive exact values of a categorical panel below the log axis (not drawn)"""

    def see(self, *arrays: np.ndarray) -> None:
        for arr in arrays:
            pos = arr[np.isfinite(arr) & (arr > 0)]
            if pos.size:
                self.pos_min = min(self.pos_min, float(pos.min()))
                self.pos_max = max(self.pos_max, float(pos.max()))


EXACT_DECADES = 3.0
"""A log axis reaches down to exact values at most this many decades below the estimates
and their intervals; smaller exact values are noted in the caption."""


def _dodge(n: int) -> np.ndarray:
    """Horizontal offsets of ``n`` hue levels at one category."""
    step = min(0.7 / max(n, 1), 0.22)
    return (np.arange(n) - (n - 1) / 2.0) * step


def _draw_panel(
    ax: Any,
    sub: xr.Dataset,
    est: Estimate,
    layout: Layout,
    facet_value: Any,
    colours: list[Any],
    hues: list[Any],
    curves: ExactCurves | None,
    logx: bool,
    logy: bool,
) -> _Panel:
    """One panel: per hue level, the estimates with their 95 % intervals and the exact
    values (a band and lines over a numeric axis, error bars and dashes over categories)."""
    x, labels = _xvals(sub, layout.x)
    categorical = labels is not None or layout.x is None
    lo_all, hi_all = bounds(sub, est)
    out = _Panel()
    offsets = _dodge(len(hues)) if categorical else np.zeros(len(hues))
    for colour, h, dx in zip(colours, hues, offsets, strict=True):
        sel = {layout.facet or "": facet_value, layout.hue or "": h}
        y = np.asarray(_sel(sub[est.name], **sel).values, dtype=float).ravel()
        lo = np.asarray(_sel(lo_all, **sel).values, dtype=float).ravel()
        hi = np.asarray(_sel(hi_all, **sel).values, dtype=float).ravel()
        exact = None
        if est.exact is not None:
            exact = np.asarray(_sel(sub[est.exact], **sel).values, dtype=float).ravel()
        if logy and _all_zero([y, hi] + ([exact] if exact is not None else [])):
            out.zero_lines += 1
            continue
        out.see(y, lo, hi)
        if exact is not None:
            ex = exact[np.isfinite(exact) & (exact > 0)]
            if ex.size:
                out.exact_min = min(out.exact_min, float(ex.min()))
        zero = (y == 0.0) & np.isfinite(hi) & (hi > 0.0) if logy else np.zeros(y.size, bool)
        xs = x + dx
        if categorical:
            ok = np.isfinite(y) & ~zero
            if logy:
                ok &= y > 0
            err = np.vstack([y - lo, hi - y])[:, ok]
            ax.errorbar(
                xs[ok],
                y[ok],
                yerr=np.nan_to_num(err).clip(min=0),
                fmt="o",
                ms=4,
                color=colour,
                capsize=0,  # no caps: the only dash at a category is the exact value
                lw=1.1,
                zorder=3,
            )
        else:
            # an estimate of 0 on a log axis is its upper-bound triangle, not a band
            band = ~zero
            ax.fill_between(
                x,
                np.where(band, lo, np.nan),
                np.where(band, hi, np.nan),
                color=colour,
                alpha=0.22,
                linewidth=0,
            )
            ax.plot(x, np.where(zero, np.nan, y), "o", ms=3.2, color=colour, zorder=3)
        if np.any(zero):
            out.zero_marks += int(zero.sum())
            ax.plot(xs[zero], hi[zero], "v", ms=5.5, mfc="none", mew=1.1, color=colour, zorder=3)
        if exact is None:
            continue
        if categorical:
            # a dash at each category: an exact value belongs to its category only
            ax.plot(xs, exact, "_", ms=12, mew=1.4, color=colour, zorder=2)
            continue
        dense = None
        if curves is not None and layout.x is not None:
            coords = {**layout.fixed}
            if layout.facet is not None:
                coords[layout.facet] = facet_value
            if layout.hue is not None:
                coords[layout.hue] = h
            dense = curves.curve(layout.x, coords, est.exact, log=logx)
        if dense is not None:
            ax.plot(dense[0], dense[1], "-", lw=1.0, color=colour, zorder=2)
        else:
            ax.plot(x, exact, "-", lw=1.0, color=colour, zorder=2)
    if layout.x is not None:
        ax.set_xlabel(layout.x + _units(sub, layout.x))
    if labels is not None:
        rotate = _rotate(labels, len(x))
        ax.set_xticks(x, labels, rotation=30 if rotate else 0, ha="right" if rotate else "center")
        ax.set_xlim(x[0] - 0.5, x[-1] + 0.5)
    if logx:
        _log(ax, "x")
    ax.grid(True, which="major", alpha=0.3)
    return out


def _rotate(labels: Sequence[str], n: int) -> bool:
    """Category labels too long to stand side by side are turned by 30 degrees."""
    return sum(len(t) for t in labels) > 8 * max(n, 1) or max(map(len, labels)) > 14


def _finish_log_y(axes: Sequence[Any], panels: Sequence[_Panel]) -> list[str]:
    """Log y on ``axes`` from near the smallest positive estimate or interval end (exact
    values count only within ``EXACT_DECADES`` below them); returns caption notes."""
    for ax in axes:
        _log(ax, "y")
    pos_min = min(p.pos_min for p in panels)
    pos_max = max(p.pos_max for p in panels)
    exact_min = min(p.exact_min for p in panels)
    notes = []
    if pos_max > 0 and math.isfinite(pos_min):
        low = pos_min
        if exact_min < pos_min:
            if exact_min >= pos_min * 10.0**-EXACT_DECADES:
                low = exact_min
            else:
                notes.append(
                    f"exact values down to {exact_min:.2g} lie below the axis and are not drawn"
                )
        # at most 15 decades: a denormal or tiny value must not squash the figure
        axes[0].set_ylim(max(low / 2.5, pos_max * 1e-15), pos_max * 2.5)
    return notes


def _legend(
    fig: Figure,
    layout: Layout,
    colours: list[Any],
    hues: list[Any],
    exact: bool,
    x0: float,
    categorical: bool = False,
    zeros: bool = False,
) -> None:
    handles: list[Any] = []
    if layout.hue is not None:
        handles += [
            Line2D([], [], color=c, marker="o", ms=4, lw=0 if categorical else 1.0, label=coord(h))
            for c, h in zip(colours, hues, strict=True)
        ]
    if categorical:
        handles.append(
            Line2D([], [], color="0.2", marker="|", ms=11, mew=1.1, lw=0, label="95 % interval")
        )
    else:
        handles.append(Patch(color="0.5", alpha=0.3, label="95 % interval"))
    handles.append(Line2D([], [], color="0.2", marker="o", ms=3.5, lw=0, label="Monte Carlo"))
    if zeros:
        handles.append(
            Line2D(
                [], [], color="0.2", marker="v", ms=5.5, mfc="none", lw=0, label="0 (upper bound)"
            )
        )
    if exact:
        if categorical:
            handles.append(
                Line2D([], [], color="0.2", marker="_", ms=12, mew=1.4, lw=0, label="exact")
            )
        else:
            handles.append(Line2D([], [], color="0.2", lw=1.0, label="exact"))
    fig.legend(
        handles=handles,
        loc="upper left",
        bbox_to_anchor=(x0, 0.98),
        title=layout.hue,
        frameon=False,
    )


def _scales(sub: xr.Dataset, est: Estimate, layout: Layout) -> tuple[bool, bool]:
    lo_all, hi_all = bounds(sub, est)
    vals = [sub[est.name].values, lo_all.values, hi_all.values]
    if est.exact is not None:
        vals.append(sub[est.exact].values)
    x, labels = _xvals(sub, layout.x)
    logx = labels is None and layout.x is not None and wants_log(x)
    logy = wants_log(np.concatenate([np.ravel(v) for v in vals]), ratio=100.0)
    return logx, logy


def _hue_colours(sub: xr.Dataset, layout: Layout) -> tuple[list[Any], list[Any]]:
    hues = _levels(sub, layout.hue)
    ordered = layout.hue is not None and is_numeric(sub, layout.hue)
    return hues, _colours(len(hues), ordered)


LEGEND_IN = 1.55


@styled
def plot_estimate(
    ds: xr.Dataset,
    est: Estimate,
    layout: Layout,
    curves: ExactCurves | None = None,
) -> tuple[Figure, list[str]]:
    """``est`` against ``layout.x``: one line per hue level, one panel per facet.

    Returns the figure and notes for its caption (panels or lines left out, scales).
    """
    notes: list[str] = []
    sub = select(ds, layout.fixed)
    logx, logy = _scales(sub, est, layout)
    _, labels = _xvals(sub, layout.x)
    _, hi_all = bounds(sub, est)
    shown = []
    facets = _levels(sub, layout.facet)
    for f in facets:
        arrays = [
            _sel(sub[est.name], **{layout.facet or "": f}).values,
            _sel(hi_all, **{layout.facet or "": f}).values,
        ]
        if est.exact is not None:
            arrays.append(_sel(sub[est.exact], **{layout.facet or "": f}).values)
        if logy and _all_zero(arrays):
            notes.append(f"{layout.facet} = {coord(f)} not drawn: exactly 0 at every point")
            continue
        shown.append(f)
    if not shown:
        shown = facets[:1]
    hues, colours = _hue_colours(sub, layout)
    ncols = len(shown)
    rotated = labels is not None and _rotate(labels, len(labels))
    height, bottom, top = 3.4, (1.0 if rotated else 0.55), 0.3
    ylabel = axis_label(est, _label_chars(height - bottom - top))
    left = 0.5 + 0.16 * (ylabel.count("\n") + 1)
    width = min(3.3 * ncols + left + 0.1 + LEGEND_IN, 13.0)
    fig = new_figure(width, height)
    axes = fig.subplots(1, ncols, sharey=True, squeeze=False)[0]
    margins(fig, left=left, right=LEGEND_IN, bottom=bottom, top=top, wspace=0.08)
    panels = []
    for ax, f in zip(axes, shown, strict=True):
        panels.append(_draw_panel(ax, sub, est, layout, f, colours, hues, curves, logx, logy))
        if layout.facet is not None:
            ax.set_title(f"{layout.facet} = {coord(f)}")
    if logy:
        notes += _finish_log_y(axes, panels)
    axes[0].set_ylabel(ylabel, fontsize=LABEL_SIZE)
    zero_lines = sum(p.zero_lines for p in panels)
    if zero_lines:
        notes.append(f"{zero_lines} line(s) exactly 0 at every point not drawn (log axis)")
    zeros = sum(p.zero_marks for p in panels)
    if zeros:
        notes.append(
            f"log axis: {zeros} estimate(s) of 0 drawn as open triangles at their 95 % upper bound"
        )
    if logy:
        notes.append("log axis: intervals reaching 0 are drawn down to the bottom edge")
    categorical = labels is not None or layout.x is None
    _legend(
        fig,
        layout,
        colours,
        hues,
        est.exact is not None,
        1.0 - (LEGEND_IN - 0.1) / width,
        categorical=categorical,
        zeros=zeros > 0,
    )
    return fig, notes


LABEL_SIZE = 8


def _label_chars(inches: float) -> int:
    """Characters of an axis label (``LABEL_SIZE`` points) that fit along ``inches``."""
    return max(18, int(inches * 72.0 / (0.56 * LABEL_SIZE)))


@styled
def plot_estimates_panels(
    ds: xr.Dataset,
    ests: Sequence[Estimate],
    layout: Layout,
    curves: ExactCurves | None = None,
    ncols: int = 4,
) -> tuple[Figure, list[str]]:
    """Small multiples: one panel per estimate (own y axis), for layouts without facets."""
    if layout.facet is not None:
        raise ValueError("small multiples need a layout without facets")
    sub = select(ds, layout.fixed)
    _, labels = _xvals(sub, layout.x)
    hues, colours = _hue_colours(sub, layout)
    ncols = min(ncols, len(ests))
    nrows = -(-len(ests) // ncols)
    width = 2.9 * ncols + 0.6 + LEGEND_IN
    rotated = labels is not None and _rotate(labels, len(labels))
    row_h = 2.5 + (0.45 if rotated else 0.0)
    fig = new_figure(width, row_h * nrows + 0.1)
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    margins(
        fig,
        left=0.65,
        right=LEGEND_IN,
        bottom=1.0 if rotated else 0.55,
        top=0.3,
        wspace=0.42,
        hspace=0.75 if rotated else 0.6,
    )
    notes = []
    zeros = False
    for ax, est in zip(axes, ests, strict=False):
        logx, logy = _scales(sub, est, layout)
        panel = _draw_panel(ax, sub, est, layout, None, colours, hues, curves, logx, logy)
        zeros = zeros or panel.zero_marks > 0
        if logy:
            notes += [f"`{est.name}`: {n}" for n in _finish_log_y([ax], [panel])]
            notes.append(f"`{est.name}` on a log axis")
        ax.set_title(est.name + _units(sub, est.name), loc="left", pad=11)
    for ax in axes[len(ests) :]:
        ax.set_visible(False)
    exact = any(e.exact is not None for e in ests)
    _legend(
        fig,
        layout,
        colours,
        hues,
        exact,
        1.0 - (LEGEND_IN - 0.1) / width,
        categorical=labels is not None or layout.x is None,
        zeros=zeros,
    )
    return fig, notes


def _units(ds: xr.Dataset, dim: str) -> str:
    units = shown_units(ds[dim].attrs)
    return "" if units in ("", "1") else f" ({units})"


@styled
def plot_tradeoff(
    ds: xr.Dataset, x_est: Estimate, y_est: Estimate, colour_dim: str | None
) -> tuple[Figure, list[str]]:
    """Every point as ``x_est`` against ``y_est`` with both 95 % intervals as error bars."""
    x = np.asarray(ds[x_est.name].values, dtype=float).ravel()
    y = np.asarray(ds[y_est.name].values, dtype=float).ravel()
    xlo, xhi = (np.asarray(b.values, dtype=float).ravel() for b in bounds(ds, x_est))
    ylo, yhi = (np.asarray(b.values, dtype=float).ravel() for b in bounds(ds, y_est))
    if colour_dim is not None:
        levels = list(ds[colour_dim].values)
        dims = list(ds[x_est.name].dims)
        idx = np.indices(ds[x_est.name].shape)[dims.index(colour_dim)].ravel()
    else:
        levels, idx = [None], np.zeros(x.size, dtype=int)
    colours = _colours(len(levels), False)
    xlabel = axis_label(x_est, 70)
    ylabel = axis_label(y_est, _label_chars(3.8 - 0.75))
    fig = new_figure(7.6 if colour_dim is not None else 6.2, 3.8)
    ax = fig.subplots()
    margins(
        fig,
        left=0.5 + 0.16 * (ylabel.count("\n") + 1),
        right=LEGEND_IN if colour_dim is not None else 0.2,
        bottom=0.45 + 0.15 * (xlabel.count("\n") + 1),
        top=0.15,
    )
    for k, (lv, c) in enumerate(zip(levels, colours, strict=True)):
        m = (idx == k) & np.isfinite(x) & np.isfinite(y)
        if not np.any(m):
            continue
        xerr = np.vstack([x[m] - xlo[m], xhi[m] - x[m]]).clip(min=0)
        yerr = np.vstack([y[m] - ylo[m], yhi[m] - y[m]]).clip(min=0)
        ax.errorbar(
            x[m],
            y[m],
            xerr=xerr,
            yerr=yerr,
            fmt="o",
            ms=4,
            color=c,
            capsize=2,
            lw=0.9,
            label=coord(lv) if lv is not None else None,
        )
    notes = []
    for axis, vals in (("x", np.concatenate([x, xlo, xhi])), ("y", np.concatenate([y, ylo, yhi]))):
        if wants_log(vals, ratio=100.0):
            _log(ax, axis)
            notes.append(f"log {axis} axis")
    ax.set_xlabel(xlabel, fontsize=LABEL_SIZE)
    ax.set_ylabel(ylabel, fontsize=LABEL_SIZE)
    ax.grid(True, alpha=0.3)
    if colour_dim is not None:
        fig.legend(
            loc="upper left",
            bbox_to_anchor=(1.0 - (LEGEND_IN - 0.1) / 7.6, 0.98),
            title=colour_dim,
            frameon=False,
        )
    return fig, notes
