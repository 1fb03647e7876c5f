"""Which section builders make the report of each kind of dataset, in order.

A dataset's kinds are its model name (``ds.attrs["model"]``) and its ``dataset_kind``
attribute (e.g. ``probe``, live-kernel measurements). Kind-specific builders run first,
then the generic ones (``GENERIC``) for every dataset. Each returned section has an
``order`` that places it (design 10, headline answers 20, measured 25, estimates 30,
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
from mcstudy.report.sections.convergence import convergence
from mcstudy.report.sections.design import design
from mcstudy.report.sections.estimates import estimates
from mcstudy.report.sections.exactcheck import exact_check
from mcstudy.report.sections.gather import gather_headline
from mcstudy.report.sections.health import health
from mcstudy.report.sections.pressure import pressure_headline
from mcstudy.report.sections.provenance import provenance
from mcstudy.report.sections.sensitivity import sensitivity
from mcstudy.report.sections.thp import thp_headline

GENERIC = "*"

BUILTIN: dict[str, tuple[SectionBuilder, ...]] = {
    "gather": (gather_headline,),
    "pressure": (pressure_headline,),
    "thp": (thp_headline,),
    PROBE: (probe_measured,),
    LAB: (lab_measured,),
    GENERIC: (design, estimates, exact_check, convergence, sensitivity, health, provenance),
}

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
    """Kind-specific builders first (built-in, then registered), then generic ones."""
    out: list[SectionBuilder] = []
    for kind in (*kinds, GENERIC):
        out.extend(BUILTIN.get(kind, ()))
        out.extend(_EXTRA.get(kind, ()))
    return out
