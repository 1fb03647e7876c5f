"""Number formatting for report text and tables (4 significant digits, ``missing`` for NaN)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

MISSING = "missing"


def num(x: Any, digits: int = 4) -> str:
    """``x`` with ``digits`` significant digits; scientific outside [1e-3, 1e5)."""
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
    ax = abs(x)
    if 1e-3 <= ax < 1e5:
        return f"{x:.{digits}g}"
    mant, exp = f"{x:.{digits - 1}e}".split("e")
    mant = mant.rstrip("0").rstrip(".") if "." in mant else mant
    return f"{mant}e{int(exp)}"


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


def estimate(y: Any, lo: Any, hi: Any) -> tuple[str, str]:
    """An estimate and its interval, both with the digits the interval warrants."""
    d = digits_for(lo, hi)
    return num(y, d), interval(lo, hi, d)


def coord(value: Any) -> str:
    """A sweep coordinate value as written in a config."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def count(n: Any) -> str:
    """An integer count with thousands separators."""
    return f"{int(n):,}"


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
