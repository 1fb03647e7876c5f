"""Every number mcstudy prints: report text and tables, ``mcstudy run``/``show``/``status``.

One formatter, so a number reads the same wherever it appears:

* :func:`num`: one number, ``digits`` significant digits; plain decimals with thousands
  separators from 0.001 up to a million (``6,028``, ``0.01235``, never ``6e+03``),
  ``1.171e6`` / ``5.4e-5`` outside; whole numbers in full (``2,880``);
* :func:`estimate`: an estimate and its 95 % interval in one format with the same
  decimals, as many as tell the interval's ends apart (``76.5 [76.2, 76.7]``,
  ``1.600 [1.599, 1.601]``, ``12,850,000 [12,600,000, 13,110,000]``, ``5.4e-5 [3e-5, 8e-5]``);
* :func:`quote` / :func:`cell`: the same for a sentence / a table cell, never ``[0, 0]``
  (a zero estimate is ``0 (upper bound X)``);
* :func:`human_bytes`, :func:`quote_bytes`: bytes in one unit (KiB, MiB, GiB), the
  interval in the unit of its estimate;
* :func:`text_width`: the width of text for the terminal (its width, at most 100, when
  the stream is a terminal; else 100).
"""

from __future__ import annotations

import math
import shutil
import sys
from typing import Any, TextIO

import numpy as np

MISSING = "missing"
WIDTH = 100
"""Columns of plain text when the output is not a terminal (and at most when it is)."""
FIXED_MIN, FIXED_MAX = 1e-3, 1e6
"""Magnitudes printed as plain decimals; outside, ``1.2e-5`` / ``1.171e6``."""
FIXED_MAX_INTERVAL = 1e9
"""An estimate and its interval stay plain decimals up to here (``12,850,000
[12,600,000, 13,110,000]``): one format for the three numbers."""
GIB = float(1 << 30)
MIB = float(1 << 20)
KIB = 1024.0


def text_width(stream: TextIO | None = None) -> int:
    """Columns for terminal text: the terminal's width (at most :data:`WIDTH`) when
    ``stream`` (default: stdout) is a terminal, else :data:`WIDTH`."""
    stream = sys.stdout if stream is None else stream
    try:
        tty = stream.isatty()
    except (AttributeError, ValueError):
        tty = False
    if not tty:
        return WIDTH
    cols = shutil.get_terminal_size((WIDTH, 24)).columns
    return max(40, min(WIDTH, cols))


def _sci(x: float, digits: int) -> str:
    mant, exp = f"{x:.{max(digits, 1) - 1}e}".split("e")
    mant = mant.rstrip("0").rstrip(".") if "." in mant else mant
    return f"{mant}e{int(exp)}"


def _magnitude(x: float) -> int:
    return math.floor(math.log10(abs(x)))


def num(x: Any, digits: int = 4) -> str:
    """``x`` with ``digits`` significant digits (never fewer integer digits than it has):
    ``6,028``, ``0.01235``, ``1.5e-7``, ``1.171e6``; whole numbers in full."""
    if x is None:
        return MISSING
    if isinstance(x, (bool, np.bool_)):
        return str(bool(x))
    if isinstance(x, (int, np.integer)):
        return f"{int(x):,}"
    x = float(x)
    if math.isnan(x):
        return MISSING
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    if x == 0.0:
        return "0"
    if x.is_integer() and abs(x) < 1e15:
        return f"{int(x):,}"
    if FIXED_MIN <= abs(x) < FIXED_MAX:
        decimals = max(0, digits - 1 - _magnitude(x))
        text = f"{x:,.{decimals}f}"
        if "." in text:
            text = text.rstrip("0").rstrip(".")
        return "0" if text in ("0", "-0") else text
    return _sci(x, digits)


def digits_for(lo: Any, hi: Any, least: int = 3, most: int = 7) -> int:
    """Significant digits that tell ``lo`` and ``hi`` apart (between ``least`` and ``most``)."""
    try:
        lo, hi = float(lo), float(hi)
    except (TypeError, ValueError):
        return least
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return least
    scale = max(abs(lo), abs(hi))
    need = math.ceil(math.log10(scale / (hi - lo))) + 2
    return max(least, min(most, need))


def interval(lo: Any, hi: Any, digits: int | None = None) -> str:
    """A 95 % interval as ``[lo, hi]``, with enough digits to tell its ends apart."""
    d = digits_for(lo, hi) if digits is None else digits
    return f"[{num(lo, d)}, {num(hi, d)}]"


def _resolution(width: float) -> int:
    """Power of ten of the last digit that tells ends ``width`` apart (one digit of the
    width, two when it starts with 1)."""
    m = _magnitude(width)
    return m - 1 if width / 10.0**m < 2.0 else m


def estimate(y: Any, lo: Any, hi: Any, least: int = 3) -> tuple[str, str]:
    """An estimate and its interval with the same decimals, as many as tell the ends
    apart (at most 7 significant digits, at least ``least`` of the estimate: 3 in the
    report's tables, 2 in the Answers' sentences and cells)."""
    y, lo, hi = float(y), float(lo), float(hi)
    if not all(math.isfinite(v) for v in (y, lo, hi)) or hi <= lo:
        d = digits_for(lo, hi, least=3)
        return num(y, d), f"[{num(lo, d)}, {num(hi, d)}]"
    top = max(abs(y), abs(lo), abs(hi))
    mag = _magnitude(top)
    last = max(_resolution(hi - lo), mag - 6)  # at most 7 significant digits
    if y != 0.0:
        last = min(last, _magnitude(y) - (least - 1))  # and at least `least` of y
    if FIXED_MIN <= top < FIXED_MAX_INTERVAL:
        decimals = max(0, -last)
        # past a million, digits below the interval's resolution are rounded away
        unit = 10.0**last if top >= FIXED_MAX and last > 0 else 1.0

        def fixed(v: float) -> str:
            v = round(v / unit) * unit if unit > 1.0 else v
            text = f"{v:,.{decimals}f}"
            return "0" if float(v) == 0.0 or text.lstrip("-").strip("0.,") == "" else text

        return fixed(y), f"[{fixed(lo)}, {fixed(hi)}]"
    d = mag - last + 1
    return _sci(y, d), f"[{_sci(lo, d)}, {_sci(hi, d)}]"


def alike(x: Any, y: Any, lo: Any, hi: Any, digits: int = 4) -> str:
    """``x`` (an exact value beside an estimate) in the estimate's format: plain decimals
    when :func:`estimate` prints ``y [lo, hi]`` so (``0.00048 [0.00007, 0.00309]``,
    exact ``0.0003098``, not ``3.098e-4``), else :func:`num`."""
    vals = [abs(float(v)) for v in (y, lo, hi) if v is not None and math.isfinite(float(v))]
    top = max(vals) if vals else math.nan
    x = float(x)
    if (
        math.isfinite(x)
        and x != 0.0
        and 1e-7 <= abs(x) < FIXED_MAX_INTERVAL
        and FIXED_MIN <= top < FIXED_MAX_INTERVAL
        and not (x.is_integer() and abs(x) < 1e15)
    ):
        decimals = max(0, digits - 1 - _magnitude(x))
        text = f"{x:,.{decimals}f}"
        return text.rstrip("0").rstrip(".") if "." in text else text
    return num(x, digits)


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
    text, ci = estimate(y, lo, hi, least=2)
    return f"{text} {ci}{u}"


def cell(y: float, lo: float, hi: float) -> tuple[str, str | None]:
    """A table cell: (estimate, interval); a zero estimate carries "< upper bound"."""
    if math.isnan(y):
        return MISSING, None
    if y == 0.0 and (math.isnan(lo) or lo <= 0.0):
        if math.isfinite(hi) and hi > 0.0:
            return "0", f"< {num(hi, 2)}"
        return "0", None
    if math.isnan(lo) or math.isnan(hi):
        return num(y, 3), None
    return estimate(y, lo, hi, least=2)


def bytes_unit(x: float) -> tuple[str, float]:
    """(unit, scale) that shows ``x`` bytes readably: KiB, MiB or GiB."""
    if math.isfinite(x) and abs(x) >= GIB:
        return "GiB", 1.0 / GIB
    if math.isfinite(x) and abs(x) >= MIB:
        return "MiB", 1.0 / MIB
    return "KiB", 1.0 / KIB


def human_bytes(x: float) -> str:
    """Bytes in GiB, MiB or KiB (3 significant digits)."""
    if math.isnan(x):
        return MISSING
    unit, scale = bytes_unit(x)
    return f"{num(x * scale, 3)} {unit}"


def quote_bytes(y: float, lo: float, hi: float) -> str:
    """Bytes with their interval, all three in the unit of the estimate."""
    unit, scale = bytes_unit(y if y > 0.0 else hi)
    return quote(y * scale, lo * scale, hi * scale, unit)


def coord(value: Any) -> str:
    """A sweep coordinate value as written in a config (``1e-6``, ``0.05``, ``64``)."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        text = f"{value:g}"
        if "e" in text:
            mant, exp = text.split("e")
            text = f"{mant}e{int(exp)}"
        return text
    return str(value)


def count(n: Any) -> str:
    """An integer count with thousands separators."""
    return f"{int(n):,}"


def plural(n: Any, word: str, words: str | None = None) -> str:
    """``1 sequence``, ``4 sequences``, ``1,000 gathers``."""
    return f"{num(n)} {word if n == 1 else (words or word + 's')}"


def seconds(s: Any) -> str:
    """A duration in seconds, rounded for people."""
    if s is None:
        return MISSING
    s = float(s)
    if s < 10:
        return f"{s:.2f} s"
    if s < 600:
        return f"{s:.1f} s"
    return f"{s / 60:.1f} min"


def duration(s: float) -> str:
    """A sequence length for sentences: ``120 s``, ``10 min``, ``1 h``, ``2.5 h``."""
    if s < 600:
        return f"{num(s, 3)} s"
    if s < 7200 and s % 3600:
        return f"{num(s / 60, 3)} min"
    return f"{num(s / 3600, 3)} h"


def findings_count(found: Any, lines: Any) -> str:
    """``1 finding, at 3 points``: how many lines a grouped list of findings has (one per
    distinct finding, ``mcstudy.findings.format_findings``) and where they hold, so the
    count matches the lines printed under it."""
    found = list(found)
    n = len(list(lines))
    points = {getattr(f, "point", None) for f in found} - {None}
    whole = any(getattr(f, "point", None) is None for f in found)
    where = []
    if points:
        where.append(f"at {len(points)} point{'s' if len(points) != 1 else ''}")
    if whole:
        where.append("for the whole study")
    return f"{n} finding{'s' if n != 1 else ''}" + (", " + " and ".join(where) if where else "")
