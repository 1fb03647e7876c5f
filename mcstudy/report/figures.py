"""Report figures as ``matplotlib.figure.Figure`` objects (never pyplot's global state).

Every plotting function returns a new Figure; :func:`png_bytes` and :func:`svg_bytes`
render one without a GUI backend. Estimates are drawn as markers inside a shaded 95 %
interval band, exact values as a line of the same colour.
"""

from __future__ import annotations

import functools
import io
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

import numpy as np
import xarray as xr
from matplotlib import colormaps
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import NullLocator

from mcstudy.report.fmt import coord
from mcstudy.report.layout import Layout, is_numeric, select, wants_log
from mcstudy.report.variables import Estimate, bounds

if TYPE_CHECKING:
    from mcstudy.report.convergence import Trace
    from mcstudy.report.curves import ExactCurves
    from mcstudy.report.sensitivity import Sensitivity
    from mcstudy.report.variables import Agreement

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
    """What one panel drew (for shared axis limits and caption notes)."""

    pos_min: float = math.inf
    pos_max: float = 0.0
    zero_lines: int = 0


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
    """One panel: per hue level, the 95 % band, the estimates and the exact curve."""
    x, labels = _xvals(sub, layout.x)
    lo_all, hi_all = bounds(sub, est)
    out = _Panel()
    for colour, h in zip(colours, hues, strict=True):
        sel = {layout.facet or "": facet_value, layout.hue or "": h}
        y = np.asarray(_sel(sub[est.name], **sel).values, dtype=float).ravel()
        lo = np.asarray(_sel(lo_all, **sel).values, dtype=float).ravel()
        hi = np.asarray(_sel(hi_all, **sel).values, dtype=float).ravel()
        exact = None
        if est.exact is not None:
            exact = np.asarray(_sel(sub[est.exact], **sel).values, dtype=float).ravel()
        if logy and _all_zero([y] + ([exact] if exact is not None else [])):
            out.zero_lines += 1
            continue
        for arr in (y, lo, hi) + ((exact,) if exact is not None else ()):
            pos = arr[np.isfinite(arr) & (arr > 0)]
            if pos.size:
                out.pos_min = min(out.pos_min, float(pos.min()))
                out.pos_max = max(out.pos_max, float(pos.max()))
        ax.fill_between(x, lo, hi, color=colour, alpha=0.22, linewidth=0)
        ax.plot(x, y, "o", ms=3.2, color=colour, zorder=3)
        if exact is not None:
            dense = None
            if curves is not None and labels is None and layout.x is not None:
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
        ax.set_xticks(x, labels, rotation=30, ha="right")
    if logx:
        _log(ax, "x")
    ax.grid(True, which="major", alpha=0.3)
    return out


def _finish_log_y(axes: Sequence[Any], panels: Sequence[_Panel]) -> None:
    for ax in axes:
        _log(ax, "y")
    pos_min = min(p.pos_min for p in panels)
    pos_max = max(p.pos_max for p in panels)
    if pos_max > 0:
        # at most 15 decades: a denormal or tiny value must not squash the figure
        axes[0].set_ylim(max(pos_min / 2.0, pos_max * 1e-15), pos_max * 2.0)


def _legend(
    fig: Figure, layout: Layout, colours: list[Any], hues: list[Any], exact: bool, x0: float
) -> None:
    handles: list[Any] = []
    if layout.hue is not None:
        handles += [
            Line2D([], [], color=c, marker="o", ms=4, lw=1.0, label=coord(h))
            for c, h in zip(colours, hues, strict=True)
        ]
    handles += [
        Patch(color="0.5", alpha=0.3, label="95 % interval"),
        Line2D([], [], color="0.2", marker="o", ms=3.2, lw=0, label="Monte Carlo"),
    ]
    if exact:
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
    shown = []
    facets = _levels(sub, layout.facet)
    for f in facets:
        arrays = [_sel(sub[est.name], **{layout.facet or "": f}).values]
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
    width = min(3.3 * ncols + 0.9 + LEGEND_IN, 13.0)
    fig = new_figure(width, 3.4)
    axes = fig.subplots(1, ncols, sharey=True, squeeze=False)[0]
    margins(
        fig,
        left=0.8,
        right=LEGEND_IN,
        bottom=1.0 if labels is not None else 0.55,
        top=0.3 if layout.facet is not None else 0.15,
        wspace=0.08,
    )
    panels = []
    for ax, f in zip(axes, shown, strict=True):
        panels.append(_draw_panel(ax, sub, est, layout, f, colours, hues, curves, logx, logy))
        if layout.facet is not None:
            ax.set_title(f"{layout.facet} = {coord(f)}")
    if logy:
        _finish_log_y(axes, panels)
    axes[0].set_ylabel(est.label)
    zero_lines = sum(p.zero_lines for p in panels)
    if zero_lines:
        notes.append(f"{zero_lines} line(s) exactly 0 at every point not drawn (log axis)")
    if logy:
        notes.append("log axis: intervals reaching 0 are drawn down to the bottom edge")
    _legend(fig, layout, colours, hues, est.exact is not None, 1.0 - (LEGEND_IN - 0.1) / width)
    return fig, notes


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
    row_h = 2.5 + (0.45 if labels is not None else 0.0)
    fig = new_figure(width, row_h * nrows + 0.1)
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    margins(
        fig,
        left=0.65,
        right=LEGEND_IN,
        bottom=1.0 if labels is not None else 0.55,
        top=0.3,
        wspace=0.42,
        hspace=0.75 if labels is not None else 0.6,
    )
    notes = []
    for ax, est in zip(axes, ests, strict=False):
        logx, logy = _scales(sub, est, layout)
        panel = _draw_panel(ax, sub, est, layout, None, colours, hues, curves, logx, logy)
        if logy:
            _finish_log_y([ax], [panel])
            notes.append(f"`{est.name}` on a log axis")
        ax.set_title(est.name + _units(sub, est.name), loc="left", pad=11)
    for ax in axes[len(ests) :]:
        ax.set_visible(False)
    exact = any(e.exact is not None for e in ests)
    _legend(fig, layout, colours, hues, exact, 1.0 - (LEGEND_IN - 0.1) / width)
    return fig, notes


def _units(ds: xr.Dataset, dim: str) -> str:
    units = str(ds[dim].attrs.get("units", ""))
    return "" if units in ("", "1") else f" ({units})"


@styled
def plot_convergence(traces: Sequence[Trace], est: Estimate, others: Sequence[Estimate]) -> Figure:
    """Running estimate (95 % band, exact line) and relative error versus sequences."""

    fig = new_figure(10.5, 2.8 * len(traces) + 0.2)
    axes = fig.subplots(len(traces), 2, squeeze=False)
    margins(fig, left=0.8, right=0.15, bottom=0.5, top=0.3, wspace=0.3, hspace=0.55)
    for row, tr in zip(axes, traces, strict=True):
        ax, axr = row
        n = tr.sequences.astype(float)
        y = tr.values[est.name]
        lo, hi = tr.bounds(est)
        ax.fill_between(n, lo, hi, color="C0", alpha=0.22, linewidth=0, label="95 % interval")
        ax.plot(n, y, "-", color="C0", lw=1.2, label="running estimate")
        if tr.exact.get(est.name) is not None and math.isfinite(tr.exact[est.name]):
            ax.axhline(tr.exact[est.name], color="k", lw=1.0, ls="--", label="exact")
        _log(ax, "x")
        ax.set_xlabel("sequences")
        ax.set_ylabel(est.name)
        ax.set_title(tr.title(), loc="left")
        ax.grid(True, alpha=0.3)
        ax.legend(loc="best", frameon=False)
        for i, e in enumerate([est, *others]):
            rel = tr.relative_error(e)
            ok = np.isfinite(rel) & (rel > 0)
            if np.any(ok):
                axr.plot(n[ok], rel[ok], "-", lw=1.2, color=f"C{i}", label=e.name)
        ref = tr.relative_error(est)
        ok = np.isfinite(ref) & (ref > 0)
        if np.any(ok):
            k = int(np.flatnonzero(ok)[-1])
            guide = ref[k] * np.sqrt(n[k] / n)
            axr.plot(n, guide, ":", color="0.3", lw=1.0, label="∝ 1/√n")
        _log(axr, "x")
        _log(axr, "y")
        axr.set_xlabel("sequences")
        axr.set_ylabel("relative error")
        axr.grid(True, alpha=0.3)
        axr.legend(loc="best", frameon=False)
    return fig


@styled
def plot_sensitivity(results: Sequence[Sensitivity]) -> Figure:
    """First-order and total grid indices per parameter, one panel per estimate."""
    n = len(results)
    ncols = min(n, 2)
    nrows = -(-n // ncols)
    fig = new_figure(5.2 * ncols + 0.3, 3.0 * nrows + 0.2)
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    margins(fig, left=0.7, right=0.15, bottom=0.8, top=0.3, wspace=0.2, hspace=0.75)
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
        ax.legend(loc="upper right", frameon=False)
    for ax in axes[n:]:
        ax.set_visible(False)
    return fig


@styled
def plot_zscores(agreements: Sequence[Agreement]) -> Figure:
    """Histogram of (Monte Carlo - exact) / standard error against the standard normal."""
    fig = new_figure(7.0, 3.2)
    ax = fig.subplots()
    margins(fig, left=0.7, right=0.15, bottom=0.55, top=0.15)
    edges = np.linspace(-5.0, 5.0, 41)
    zs = []
    for ag in agreements:
        z = ag.z[ag.status == "tested"]
        zs.append(np.clip(z, -4.99, 4.99))
    labels = [f"{ag.estimate.name} ({int(z.size)})" for ag, z in zip(agreements, zs, strict=True)]
    ax.hist(zs, bins=edges, density=False, stacked=True, label=labels, alpha=0.8)
    total = sum(int(z.size) for z in zs)
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
    ax.legend(loc="upper right", frameon=False)
    return fig


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
    fig = new_figure(7.6 if colour_dim is not None else 6.2, 3.8)
    ax = fig.subplots()
    margins(
        fig, left=0.85, right=LEGEND_IN if colour_dim is not None else 0.2, bottom=0.6, top=0.15
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
    ax.set_xlabel(x_est.label)
    ax.set_ylabel(y_est.label)
    ax.grid(True, alpha=0.3)
    if colour_dim is not None:
        fig.legend(
            loc="upper left",
            bbox_to_anchor=(1.0 - (LEGEND_IN - 0.1) / 7.6, 0.98),
            title=colour_dim,
            frameon=False,
        )
    return fig, notes
