"""Which section builders make the report of each kind of dataset, in order.

A dataset's kinds are its model name (``ds.attrs["model"]``) and its ``dataset_kind``
attribute (e.g. ``probe``, live-kernel measurements). Kind-specific builders run first,
then the generic ones (``GENERIC``) for every dataset. Each returned section has an
``order`` that places it (answers 5, shown before the summary box; design 10, headline 20, measured 25, estimates 30,
exact 40, convergence 50, sensitivity 60, run health 70, provenance 90); a builder may
mark the variables it covered in ``ctx.covered`` so the generic sections do not draw
them twice.

A new section is a builder function in ``mcstudy/report/sections/`` and one entry
here; plug-ins and tests add builders at run time with :func:`register_section`.
"""

from __future__ import annotations

from collections.abc import Callable

from mcstudy.lab.dataset import MODEL_NAME as LAB
from mcstudy.lab.section import build as lab_measured
from mcstudy.probe.dataset import MODEL_NAME as PROBE
from mcstudy.probe.section import build as probe_measured
from mcstudy.report.context import SectionBuilder
from mcstudy.report.sections.answers import answers
from mcstudy.report.sections.convergence import convergence
from mcstudy.report.sections.design import design
from mcstudy.report.sections.estimates import estimates
from mcstudy.report.sections.exactcheck import exact_check
from mcstudy.report.sections.gather import gather_headline
from mcstudy.report.sections.health import health
from mcstudy.report.sections.host import host_headline
from mcstudy.report.sections.pressure import pressure_headline
from mcstudy.report.sections.provenance import provenance
from mcstudy.report.sections.sensitivity import sensitivity
from mcstudy.report.sections.thp import thp_headline

GENERIC = "*"

BUILTIN: dict[str, tuple[SectionBuilder, ...]] = {
    "gather": (answers, gather_headline),
    "pressure": (answers, pressure_headline),
    "thp": (answers, thp_headline),
    "host": (answers, host_headline),
    PROBE: (answers, probe_measured),
    LAB: (lab_measured,),
    GENERIC: (design, estimates, exact_check, convergence, sensitivity, health, provenance),
}

SKIP_GENERIC: dict[str, tuple[SectionBuilder, ...]] = {
    # measurements, not a Monte Carlo run: no simulated design, estimates with
    # intervals, exact checks, re-runs, sensitivity or point health
    PROBE: (design, estimates, exact_check, convergence, sensitivity, health),
}
"""Generic builders that do not apply to a kind of dataset."""

_EXTRA: dict[str, list[SectionBuilder]] = {}


def register_section(kind: str) -> Callable[[SectionBuilder], SectionBuilder]:
    """Decorator: also run this builder for datasets of ``kind`` (``GENERIC`` for all)."""

    def deco(fn: SectionBuilder) -> SectionBuilder:
        extra = _EXTRA.setdefault(kind, [])
        if fn not in extra:
            extra.append(fn)
        return fn

    return deco


def builders_for(kinds: tuple[str, ...]) -> list[SectionBuilder]:
    """Kind-specific builders first (built-in, then registered), then generic ones (less
    those ``SKIP_GENERIC`` lists for one of ``kinds``)."""
    out: list[SectionBuilder] = []
    skip = {b for kind in kinds for b in SKIP_GENERIC.get(kind, ())}
    for kind in (*kinds, GENERIC):
        found = [*BUILTIN.get(kind, ()), *_EXTRA.get(kind, ())]
        out.extend(b for b in found if kind != GENERIC or b not in skip)
    return out
