"""The report's own sections, declared for the entry-point group ``mcstudy.report_sections``.

Each :class:`~mcstudy.document.context.SectionEntry` names its builder, the dataset
kinds it is for (``GENERIC``: every dataset) and its rank (run order: the answers, a
model's headline, then the generic sections). ``pyproject.toml`` lists one entry point
per object here; the probe and the lab declare theirs in their own packages. Where a
section shows is its ``Section.order`` (answers 5, design 10, headline 20, measured 25,
lab 26, estimates 30, exact 40, convergence 50, sensitivity 60, run health 70,
provenance 90).
"""

from __future__ import annotations

from mcstudy.document.context import GENERIC, SectionEntry
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

# the answers of every dataset whose model has an answer builder (none: no section)
ANSWERS = SectionEntry(answers, (GENERIC,), rank=10)

GATHER_HEADLINE = SectionEntry(gather_headline, ("gather",), rank=20)
PRESSURE_HEADLINE = SectionEntry(pressure_headline, ("pressure",), rank=20)
THP_HEADLINE = SectionEntry(thp_headline, ("thp",), rank=20)
HOST_HEADLINE = SectionEntry(host_headline, ("host",), rank=20)

DESIGN = SectionEntry(design, (GENERIC,), rank=100)
ESTIMATES = SectionEntry(estimates, (GENERIC,), rank=110)
EXACT_CHECK = SectionEntry(exact_check, (GENERIC,), rank=120)
CONVERGENCE = SectionEntry(convergence, (GENERIC,), rank=130)
SENSITIVITY = SectionEntry(sensitivity, (GENERIC,), rank=140)
HEALTH = SectionEntry(health, (GENERIC,), rank=150)
PROVENANCE = SectionEntry(provenance, (GENERIC,), rank=160)
