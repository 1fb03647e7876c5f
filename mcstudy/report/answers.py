"""The answers of a dataset, as plain data: questions, one-sentence answers with their
95 % intervals and conditions, and one summary table.

:func:`mcstudy.report.answering.answers_for` picks the builder of a dataset's model.
The same :class:`Answers` feed the report's first section (``sections/answers.py``), the
block ``mcstudy run`` prints at its end and ``mcstudy show`` (``summary.py``), so the
three never disagree. Numbers are read through the estimates' declarations
(``mcstudy.report.variables``), never by parsing names; a zero estimate is written
"0 (upper bound X)", never "[0, 0]".
"""

from __future__ import annotations

import json
import math
import textwrap
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import xarray as xr

from mcstudy.report.fmt import digits_for, num
from mcstudy.report.layout import sweep_dims
from mcstudy.report.variables import Estimate, bounds, find_estimates

WIDTH = 100
GIB = float(1 << 30)
MIB = float(1 << 20)


@dataclass
class Item:
    """One question of the review and its answer (backticks mark code)."""

    question: str
    answer: str


@dataclass
class Table:
    """A summary table: cells are (estimate, interval or None)."""

    caption: str
    header: list[str]
    rows: list[list[tuple[str, str | None]]]
    note: str = ""


@dataclass
class Answers:
    """What a dataset answers, first."""

    title: str
    items: list[Item]
    tables: list[Table] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def plain(value: Any) -> Any:
    """A coordinate value as a plain Python value."""
    return value.item() if isinstance(value, np.generic) else value


class Reader:
    """Estimates of a dataset at given coordinates, with their intervals."""

    def __init__(self, ds: xr.Dataset) -> None:
        self.ds = ds
        self.dims = sweep_dims(ds)
        self.estimates: dict[str, Estimate] = {e.name: e for e in find_estimates(ds)}
        try:
            self.params: dict[str, Any] = json.loads(str(ds.attrs.get("params", "{}")))
        except json.JSONDecodeError:
            self.params = {}

    def values(self, dim: str) -> list[Any]:
        """The swept values of ``dim`` (or its fixed value, or [] when unknown)."""
        if dim in self.dims:
            return [plain(v) for v in self.ds[dim].values]
        return [self.params[dim]] if dim in self.params else []

    def has(self, name: str) -> bool:
        return name in self.ds.data_vars

    def _sel(self, da: xr.DataArray, at: dict[str, Any]) -> float:
        keep = {k: v for k, v in at.items() if k in da.dims}
        sel = da.sel(keep) if keep else da
        if sel.ndim:  # dimensions not pinned down: the first value of each
            sel = sel.isel({d: 0 for d in sel.dims})
        return float(sel)

    def value(self, name: str, **at: Any) -> float:
        if name not in self.ds.data_vars:
            return math.nan
        return self._sel(self.ds[name], at)

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
        lo, hi = bounds(self.ds, est)
        # every mcstudy estimate is a non-negative quantity (probabilities, rates, counts,
        # bytes): a normal interval is clipped at 0
        return y, max(self._sel(lo, at), 0.0), self._sel(hi, at)

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


def _fixed(x: float, decimals: int) -> str:
    text = f"{x:,.{decimals}f}"
    return "0" if float(x) == 0.0 else text


def short(y: float, lo: float, hi: float) -> tuple[str, str]:
    """An estimate and its interval with the few digits that tell the ends apart (the
    same decimals for all three, so 1.600 [1.599, 1.601] reads as it should)."""
    d = digits_for(lo, hi, least=2, most=4)
    top = max(abs(y), abs(lo), abs(hi))
    if 1e-3 <= top < 1e5:
        decimals = max(0, d - 1 - math.floor(math.log10(top)))
        return _fixed(y, decimals), f"[{_fixed(lo, decimals)}, {_fixed(hi, decimals)}]"
    return num(y, d), f"[{num(lo, d)}, {num(hi, d)}]"


def quote(y: float, lo: float, hi: float, unit: str = "") -> str:
    """One number for a sentence, with its interval (never "[0, 0]")."""
    u = f" {unit}" if unit else ""
    if math.isnan(y):
        return "not computed"
    if y == 0.0 and (math.isnan(lo) or lo <= 0.0):
        if math.isfinite(hi) and hi > 0.0:
            return f"0 (upper bound {num(hi, 2)}){u}"
        return f"0{u} (none seen)"
    if math.isnan(lo) or math.isnan(hi):
        return f"{num(y, 3)}{u} (no interval)"
    text, ci = short(y, lo, hi)
    return f"{text} {ci}{u}"


def cell(y: float, lo: float, hi: float) -> tuple[str, str | None]:
    """A table cell: (estimate, interval); a zero estimate carries "< upper bound"."""
    if math.isnan(y):
        return "missing", None
    if y == 0.0 and (math.isnan(lo) or lo <= 0.0):
        if math.isfinite(hi) and hi > 0.0:
            return "0", f"< {num(hi, 2)}"
        return "0", None
    if math.isnan(lo) or math.isnan(hi):
        return num(y, 3), None
    return short(y, lo, hi)


def human_bytes(x: float) -> str:
    """Bytes in GiB, MiB or KiB (3 significant digits)."""
    if math.isnan(x):
        return "missing"
    if abs(x) >= 1000 * GIB:
        return f"{x / GIB:,.0f} GiB"
    if abs(x) >= GIB:
        return f"{x / GIB:.3g} GiB"
    if abs(x) >= MIB:
        return f"{x / MIB:.3g} MiB"
    return f"{x / 1024:.3g} KiB"


def bytes_unit(x: float) -> tuple[str, float]:
    """(unit, scale) that shows ``x`` bytes readably."""
    if abs(x) >= GIB:
        return "GiB", 1.0 / GIB
    if abs(x) >= MIB:
        return "MiB", 1.0 / MIB
    return "KiB", 1.0 / 1024


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
        widths = [max(len(h), *(len(r[j]) for r in cells)) for j, h in enumerate(t.header)]
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


def render_text(ans: Answers, width: int = WIDTH) -> str:
    """The answers as plain text of at most ``width`` columns (tables may shrink)."""
    out = [ans.title, "=" * min(len(ans.title), width)]
    for item in ans.items:
        out += textwrap.wrap(_plain(item.question), width)
        out += textwrap.wrap(
            _plain(item.answer), width, initial_indent="  ", subsequent_indent="  "
        )
    for t in ans.tables:
        out.append("")
        out += table_text(t, width)
    for n in ans.notes:
        out += textwrap.wrap(_plain(n), width)
    return "\n".join(out)
