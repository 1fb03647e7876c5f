"""The answers of a dataset, as plain data: questions, one-sentence answers with their
95 % intervals and conditions, and one summary table.

:func:`mcstudy.report.answering.answers_for` picks the builder of a dataset's model.
The same :class:`Answers` feed the report's first section (``sections/answers.py``), the
block ``mcstudy run`` prints at its end and ``mcstudy show`` (``summary.py``), so the
three never disagree. Numbers are read through the estimates' declarations
(``mcstudy.document.variables``), never by parsing names; a zero estimate is written
"0 (upper bound X)", never "[0, 0]".
"""

from __future__ import annotations

import math
import textwrap
from dataclasses import dataclass
from typing import Any

import numpy as np
import xarray as xr

from mcstudy.document.answers import Answers, Item, Table
from mcstudy.document.layout import sweep_dims
from mcstudy.document.variables import Estimate, bounds, find_estimates
from mcstudy.fmt import (
    GIB,
    MIB,
    WIDTH,
    alike,
    bytes_unit,
    cell,
    coord,
    duration,
    human_bytes,
    num,
    plural,
    quote,
    quote_bytes,
    text_width,
)
from mcstudy.storage.meaning import Meaning
from mcstudy.units import shown_units

__all__ = [
    "GIB",
    "MIB",
    "WIDTH",
    "Answers",
    "Item",
    "Reader",
    "Table",
    "Unseen",
    "bytes_unit",
    "cell",
    "condition",
    "grid",
    "human_bytes",
    "quote",
    "quote_bytes",
    "render_text",
    "said",
    "sample_text",
    "table_text",
    "text_width",
    "unseen",
]

NEVER = 1e9
"""A value that a run of more than this many sequences would be expected to show once
is "never in practice" (the sentence still gives the exact value and that length)."""


def plain(value: Any) -> Any:
    """A coordinate value as a plain Python value."""
    return value.item() if isinstance(value, np.generic) else value


class Reader:
    """Estimates of a dataset at given coordinates, with their intervals."""

    def __init__(self, ds: xr.Dataset) -> None:
        self.ds = ds
        self.dims = sweep_dims(ds)
        self.estimates: dict[str, Estimate] = {e.name: e for e in find_estimates(ds)}
        self._index: dict[str, dict[Any, int]] = {}
        self._vars: dict[str, xr.DataArray] = {}
        self._bounds_cache: dict[str, tuple[xr.DataArray, xr.DataArray]] = {}
        self.meaning = Meaning(ds)

    def values(self, dim: str) -> list[Any]:
        """The swept values of ``dim`` (or its one value as the dataset records it; []
        when it is not set or not a parameter of this dataset)."""
        if dim in self.dims:
            return [plain(v) for v in self.ds[dim].values]
        v = self.meaning.value(dim)
        return [] if v is None else [v]

    def param(self, name: str) -> Any:
        """A parameter's or kernel fact's value as the dataset records it, at the first
        point (None: not set, or not a parameter of this model). KeyError for a dataset
        that records no parameters (written by an mcstudy from before they were)."""
        if not self.meaning.recorded:
            raise KeyError(f"the resolved parameters ({name} among them)")
        return self.meaning.value(name)

    def value_of(self, name: str, at: dict[str, Any]) -> Any:
        """Parameter or kernel fact ``name`` at point ``at``."""
        if name in at:
            return at[name]
        if not self.meaning.recorded:
            raise KeyError(f"the resolved parameters ({name} among them)")
        return self.meaning.value(name, at)

    def swept(self, dim: str) -> bool:
        """``dim`` is a sweep dimension with more than one value."""
        return dim in self.dims and self.ds.sizes[dim] > 1

    def pick(self, dim: str, *preferred: Any) -> Any:
        """The first of ``preferred`` that ``dim`` takes, else its last value (None
        when ``dim`` has no value)."""
        vals = self.values(dim)
        for p in preferred:
            if p in vals:
                return p
        return vals[-1] if vals else None

    def has(self, name: str) -> bool:
        return name in self.ds.data_vars

    def _position(self, dim: str, value: Any) -> int | None:
        """Index of coordinate ``value`` along ``dim`` (None when not a plain match)."""
        index = self._index.get(dim)
        if index is None:
            index = {plain(v): i for i, v in enumerate(self.ds[dim].values)}
            self._index[dim] = index
        try:
            return index.get(plain(value))
        except TypeError:  # an unhashable value: let xarray find it
            return None

    def _sel(self, da: xr.DataArray, at: dict[str, Any]) -> float:
        """``da`` at ``at`` (the first value of every dimension ``at`` leaves free): by
        position from a dictionary of coordinates, as xarray's ``sel`` would (a report of
        1e5 points reads every cell so; ``sel`` per cell took minutes)."""
        pos = []
        for d in da.dims:
            if d in at:
                i = self._position(d, at[d]) if d in self.ds.coords else None
                if i is None:
                    return self._sel_slow(da, at)
                pos.append(i)
            else:
                pos.append(0)
        return float(da.values[tuple(pos)])

    @staticmethod
    def _sel_slow(da: xr.DataArray, at: dict[str, Any]) -> float:
        keep = {k: v for k, v in at.items() if k in da.dims}
        sel = da.sel(keep) if keep else da
        if sel.ndim:  # dimensions not pinned down: the first value of each
            sel = sel.isel({d: 0 for d in sel.dims})
        return float(sel)

    def _var(self, name: str) -> xr.DataArray:
        """Data variable ``name``, its values loaded once."""
        da = self._vars.get(name)
        if da is None:
            da = self.ds[name].load()
            self._vars[name] = da
        return da

    def _bounds(self, est: Estimate) -> tuple[xr.DataArray, xr.DataArray]:
        got = self._bounds_cache.get(est.name)
        if got is None:
            lo, hi = bounds(self.ds, est)
            got = (lo.load(), hi.load())
            self._bounds_cache[est.name] = got
        return got

    def value(self, name: str, **at: Any) -> float:
        """Variable ``name`` at point ``at`` (a swept parameter's coordinate there when
        the dataset keeps it as a coordinate; NaN when it has neither)."""
        if name not in self.ds.data_vars:
            if name in at and isinstance(at[name], int | float):
                return float(at[name])
            return math.nan
        return self._sel(self._var(name), at)

    def exact(self, name: str, **at: Any) -> float:
        est = self.estimates.get(name)
        if est is None or est.exact is None:
            return math.nan
        return self.value(est.exact, **at)

    def triple(self, name: str, **at: Any) -> tuple[float, float, float]:
        """(estimate, low, high) of ``name`` at ``at``."""
        est = self.estimates.get(name)
        y = self.value(name, **at)
        if est is None:
            return y, math.nan, math.nan
        lo, hi = self._bounds(est)
        # every mcstudy estimate is a non-negative quantity (probabilities, rates, counts,
        # bytes): a normal interval is clipped at 0
        return y, max(self._sel(lo, at), 0.0), self._sel(hi, at)

    def exact_text(self, name: str, digits: int = 4, **at: Any) -> str:
        """``exact X`` in the format of the estimate beside it ("" without one)."""
        ex = self.exact(name, **at)
        if not math.isfinite(ex):
            return ""
        return f"exact {alike(ex, *self.triple(name, **at), digits=digits)}"

    def sample(self, name: str, **at: Any) -> float:
        est = self.estimates.get(name)
        if est is None or est.n is None:
            return math.nan
        return self.value(est.n, **at)

    def quote(self, name: str, unit: str = "", scale: float = 1.0, **at: Any) -> str:
        """``y [lo, hi] unit``, or ``0 (upper bound hi) unit`` for a zero estimate."""
        y, lo, hi = self.triple(name, **at)
        return quote(y * scale, lo * scale, hi * scale, unit)

    def cell(self, name: str, scale: float = 1.0, **at: Any) -> tuple[str, str | None]:
        y, lo, hi = self.triple(name, **at)
        return cell(y * scale, lo * scale, hi * scale)


# --------------------------------------------------------------------------- words


def condition(at: dict[str, Any], skip: tuple[str, ...] = ()) -> str:
    """``kernel = v6.15, p = 0.01``: the pinned coordinates of a sentence."""
    return ", ".join(f"{k} = {coord(v)}" for k, v in at.items() if k not in skip)


def grid(r: Reader, dims: list[str], limit: int = 60) -> list[dict[str, Any]]:
    """Every combination of the values of ``dims`` (first dimension slowest), at most
    ``limit`` of them."""
    combos: list[dict[str, Any]] = [{}]
    for d in dims:
        combos = [{**c, d: v} for c in combos for v in r.values(d)]
    return combos[:limit]


def round2(x: float) -> float:
    """``x`` to two significant digits (a run length is an order of magnitude)."""
    if not math.isfinite(x) or x <= 0.0:
        return x
    m = math.floor(math.log10(x))
    return round(x, -m + 1)


def sample_text(r: Reader, at: dict[str, Any]) -> str:
    """``4 sequences of 120 s (0.133 host-hours)``: the sample of one point."""
    n = r.value("sequences", **at)
    if not math.isfinite(n) or n < 0:
        return "an unknown number of sequences"
    units = shown_units(r.ds["sequences"].attrs) or "sequences" if r.has("sequences") else ""
    word = units[:-1] if units.endswith("s") and units != "sequences" else "sequence"
    h = r.value_of("horizon_s", at)
    if h is None or word != "sequence":
        return plural(int(n), word)
    h = float(h)
    hours = "" if h == 3600.0 else f" ({num(n * h / 3600.0, 3)} host-hours)"
    return f"{plural(int(n), 'sequence')} of {duration(h)}{hours}"


@dataclass
class Unseen:
    """What a zero estimate means against its exact value.

    ``status``: ``seen`` (the estimate is not 0), ``never`` (exact 0, or a run of more
    than :data:`NEVER` sequences would be needed to expect one), ``short`` (exact value
    positive: the run was too short to see it), ``unknown`` (no exact value).
    """

    status: str
    text: str = ""


def said(
    r: Reader, name: str, at: dict[str, Any], unit: str = "", scale: float = 1.0, per: str = "time"
) -> str:
    """The estimate for a sentence; a zero whose exact value is positive says why it is
    0 and what run would show it (:func:`unseen`)."""
    u = unseen(r, name, at, per)
    if u.status == "never":
        return f"none ({u.text})"
    return u.text if u.status == "short" else r.quote(name, unit, scale, **at)


def unseen(r: Reader, name: str, at: dict[str, Any], per: str = "time") -> Unseen:
    """Whether a zero estimate of ``name`` at ``at`` is "never" or "too short to see".

    The run that would be expected to show one event, from the exact value ``x``:

    * a rate (per hour or per second): ``x`` times this run's host-hours are expected
      here; one is expected in ``1 / x`` host-hours if events come one by one, and in
      more if they come in clusters (a gather's tables, a pressure episode), so the
      sentence says "at least";
    * a probability per trial (``per = "gather"``, ...): one in ``1 / x`` trials;
    * a time fraction (``per = "time"``): a sequence spends ``x`` of its time in the
      state on average, so at most ``1 / x`` sequences are needed to expect one that
      reaches it.
    """
    y = r.value(name, **at)
    if not math.isfinite(y):
        return Unseen("unknown", "not computed")
    if y != 0.0:
        return Unseen("seen")
    ex = r.exact(name, **at)
    if not math.isfinite(ex):
        return Unseen("unknown", f"none seen in {sample_text(r, at)}; no exact value")
    if ex <= 0.0:
        return Unseen("never", "exact 0")
    est = r.estimates.get(name)
    units = est.units if est is not None else ""
    n = r.value("sequences", **at)
    horizon = r.value_of("horizon_s", at)
    h = math.nan if horizon is None else float(horizon)
    run_hours = n * h / 3600.0 if math.isfinite(n) else math.nan
    saw = f"these {sample_text(r, at)} saw none ({r.quote(name, **at)})"
    if units.endswith("/h") or units.endswith("/s"):
        per_hour = ex * (3600.0 if units.endswith("/s") else 1.0)
        hours = 1.0 / per_hour
        seqs = hours * 3600.0 / h
        unit = " per hour" if units.endswith("/h") else " per second"
        expected = per_hour * run_hours
        head = f"the exact value is {num(ex, 2)}{unit}"
        if seqs > NEVER:
            return Unseen("never", f"exact {num(ex, 2)}{unit}: never in practice")
        if math.isfinite(expected) and expected >= 1.0:
            return Unseen(
                "short",
                f"{head} ({num(expected, 2)} expected in this run), but {saw}: they come in "
                "clusters, and the run is too short to hold one",
            )
        run = f"{num(round2(seqs), 2)} sequences of {duration(h)}" + (
            f" ({num(round2(hours), 2)} host-hours)" if h != 3600.0 else ""
        )
        return Unseen(
            "short",
            f"{head}, but {saw}: the run is too short to see it; at least about {run} would "
            "be expected to show one",
        )
    trials = 1.0 / ex
    if trials > NEVER:
        return Unseen("never", f"exact {num(ex, 2)}: never in practice")
    if per == "time":
        run = f"at most about {num(round2(trials), 2)} sequences of {duration(h)}"
    else:
        run = f"about {num(round2(trials), 2)} {per}s"
    return Unseen(
        "short",
        f"the exact value is {num(ex, 2)}, but {saw}: the run is too short to see it; {run} "
        "would be expected to show it",
    )


# --------------------------------------------------------------------------- text


def _plain(text: str) -> str:
    return text.replace("`", "")


def column_parts(widths: list[int], width: int = WIDTH) -> list[list[int]]:
    """Columns 1.. split into parts that fit ``width`` next to column 0 (each part has at
    least one column, so every column is shown)."""
    parts: list[list[int]] = []
    current: list[int] = []
    used = widths[0] if widths else 0
    for j in range(1, len(widths)):
        if current and used + 2 + widths[j] > width:
            parts.append(current)
            current, used = [], widths[0]
        current.append(j)
        used += 2 + widths[j]
    if current or not parts:
        parts.append(current)
    return parts


def table_text(t: Table, width: int = WIDTH) -> list[str]:
    """A table in fixed-width text; intervals are dropped (and said so) if too wide, and
    a table still too wide is split into column parts (every column is kept)."""

    def render(with_ci: bool, split: bool = False) -> list[str]:
        cells = [[c[0] + (f" {c[1]}" if with_ci and c[1] else "") for c in row] for row in t.rows]
        widths = [max([len(h), *(len(r[j]) for r in cells)]) for j, h in enumerate(t.header)]
        parts = column_parts(widths, width) if split else [list(range(1, len(widths)))]
        out: list[str] = []
        for part in parts:
            cols = [0, *part]

            def line(xs: list[str], cols: list[int] = cols) -> str:
                return "  ".join(
                    xs[j].ljust(widths[j]) if j == 0 else xs[j].rjust(widths[j]) for j in cols
                ).rstrip()

            out += [line(t.header), line(["-" * w for w in widths])]
            out += [line(r) for r in cells]
        return out

    body = render(True)
    note = t.note
    if max(len(x) for x in body) > width:
        body = render(False)
        note = (note + " " if note else "") + "(95 % intervals: the estimates in `mcstudy show`)"
    if max(len(x) for x in body) > width:
        body = render(False, split=True)
    out = textwrap.wrap(_plain(t.caption), width)
    out += body
    if note:
        out += textwrap.wrap(_plain(note), width)
    return out


def render_text(ans: Answers, width: int | None = None) -> str:
    """The answers as plain text of at most ``width`` columns (default: the terminal's,
    :func:`mcstudy.fmt.text_width`; tables may shrink)."""
    width = text_width() if width is None else width
    title = textwrap.wrap(_plain(ans.title), width) or [""]
    out = [*title, "=" * min(max(len(x) for x in title), width)]
    for item in ans.items:
        out += textwrap.wrap(_plain(item.question), width)
        out += textwrap.wrap(
            _plain(item.answer), width, initial_indent="  ", subsequent_indent="  "
        )
    for t in ans.tables:
        out.append("")
        out += table_text(t, width) if t.rows else textwrap.wrap(_plain(t.caption), width)
    for n in ans.notes:
        out += textwrap.wrap(_plain(n), width)
    return "\n".join(out)
