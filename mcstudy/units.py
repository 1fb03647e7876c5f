"""Units as declared (for people) and as stored (CF conventions, parsed by UDUNITS).

mcstudy declares a unit the way a kernel engineer reads it: what is counted and per what
(``IPIs/h``, ``tables/s``, ``pages``, ``MiB``), in ``Variable.units`` and in each
parameter's ``json_schema_extra``. A netCDF file that follows the CF conventions needs
units that UDUNITS parses: a count is ``1`` (what is counted is in ``long_name``), a rate
``s-1`` or ``h-1``, binary multiples of bytes a scaled ``byte``. :func:`unit_attrs` writes
both: ``units`` in the CF form and, where it differs, the declared unit in
``mcstudy_units``, which the report and ``mcstudy show`` display (:func:`shown_units`),
so they still say "IPIs/h" and "per hour". A unit not in :data:`CF_UNITS` (e.g. of a
plug-in model) is written as declared; ``tests/storage/test_cf.py`` checks that every
unit mcstudy declares is listed here and that its CF form is a UDUNITS unit.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

CONVENTIONS = "CF-1.10"
"""The ``Conventions`` global attribute of every dataset ``mcstudy run`` writes."""

DECLARED_ATTR = "mcstudy_units"
"""Attribute holding the declared unit where the CF ``units`` differ from it."""

_COUNTS = (
    "IPIs THPs attempts batches collapses cycles entries events failures fallbacks forks "
    "gathers mappings pages rounds runs sequences splits stalls tables CPUs"
).split()

CF_UNITS: dict[str, str] = {
    # a count of something (the thing is in long_name) and a count per trial
    **{c: "1" for c in _COUNTS},
    "IPIs/gather": "1",
    "attempts/gather": "1",
    "fallbacks/gather": "1",
    "fallbacks^2/gather^2": "1",
    "mappings^2": "1",
    "cycles/sequence": "1",
    # rates
    "1/s": "s-1",
    **{f"{c}/s": "s-1" for c in _COUNTS},
    "THPs/s": "s-1",
    **{f"{c}/h": "h-1" for c in _COUNTS},
    "page s/h": "s h-1",  # page-seconds per hour of host time
    # binary multiples of bytes (UDUNITS has no Ki, Mi, Gi prefixes)
    "KiB": "1024 byte",
    "MiB": "1048576 byte",
    "GiB": "1073741824 byte",
    "bytes": "byte",
}
"""Every unit mcstudy declares, and its CF form (a unit not listed is already CF: ``1``,
``s``, ``ms``, ``us``)."""


def cf_units(declared: str) -> str:
    """The CF form of a declared unit (itself when it is not in :data:`CF_UNITS`)."""
    return CF_UNITS.get(declared, declared)


def unit_attrs(declared: str) -> dict[str, str]:
    """The netCDF attributes of a declared unit: ``units`` (CF) and, if that differs,
    ``mcstudy_units`` (as declared). Empty for no unit."""
    if not declared:
        return {}
    cf = cf_units(declared)
    return {"units": cf} if cf == declared else {"units": cf, DECLARED_ATTR: declared}


def shown_units(attrs: Mapping[str, Any]) -> str:
    """The unit to show people: the declared one if the variable records it (else its
    ``units``, as datasets written before CF units were stored them)."""
    return str(attrs.get(DECLARED_ATTR, attrs.get("units", "")))
