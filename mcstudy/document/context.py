"""What a report section builder sees (the dataset, its model and estimates, computed
once), and how a builder is declared.

A *section builder* is a function ``build(ctx: ReportContext) -> list[Section]``,
declared by a :class:`SectionEntry` that an entry point of the group
``mcstudy.report_sections`` names (``pyproject.toml``); ``mcstudy.report.catalog`` finds
them there, so the packages that provide sections (the report's own, the probe's, the
lab's) import this base package, never the report.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import xarray as xr

from mcstudy.document.blocks import Section
from mcstudy.document.convergence import Trace, convergence_traces, has_running
from mcstudy.document.curves import ExactCurves
from mcstudy.document.variables import Agreement, Estimate, agreement, apply_family
from mcstudy.models.base import Model
from mcstudy.storage.meaning import MAIN_ESTIMATE_ATTR

GENERIC = "*"


@dataclass
class ReportContext:
    """Everything a section builder may use, computed once per report."""

    ds: xr.Dataset
    path: Path
    model: Model | None
    estimates: list[Estimate]
    provenance: dict[str, Any]
    options: dict[str, Any] = field(default_factory=dict)
    curves: ExactCurves | None = None
    covered: set[str] = field(default_factory=set)
    traces: list[Trace] | None = None
    health: list[str] = field(default_factory=list)
    """One-line findings for the summary box (problems first)."""
    trust: list[str] = field(default_factory=list)
    """One-line evidence for the summary box (exact checks, reproduction)."""
    convergence_note: str = ""
    stored: xr.Dataset | None = None
    """The dataset as stored, output dimensions kept (``ds`` is its per-cell view,
    ``mcstudy.document.variables.cell_view``): what the Answers select from by coordinate."""
    _agreements: list[Agreement] | None = None

    @property
    def kind(self) -> tuple[str, ...]:
        """The kinds this dataset belongs to (model name and ``dataset_kind``)."""
        kinds = [str(self.ds.attrs.get("model", ""))]
        extra = self.ds.attrs.get("dataset_kind")
        if extra:
            kinds.append(str(extra))
        return tuple(k for k in kinds if k)

    def agreements(self) -> list[Agreement]:
        """Monte Carlo versus exact for every estimate that has an exact value (memoised)."""
        if self._agreements is None:
            found = (agreement(self.ds, e) for e in self.estimates)
            self._agreements = [a for a in found if a is not None]
            apply_family(self._agreements)
        return self._agreements

    def convergence(self) -> list[Trace]:
        """Convergence traces of a few points, read from the dataset (memoised; empty when
        there are none, ``convergence_note`` says why)."""
        if self.traces is None:
            self.traces = []
            self.convergence_note = ""
            main = self.main_estimate()
            if not self.options.get("convergence", True):
                self.convergence_note = "convergence traces were switched off for this report"
            elif main is None:
                self.convergence_note = "the dataset has no estimate with an interval"
            elif not has_running(self.ds, main):
                self.convergence_note = (
                    "the dataset does not hold the running estimates its points record "
                    "(it was written by an mcstudy from before they were recorded, or by a "
                    "run that records none); run the study again to get them"
                )
            else:
                self.traces = convergence_traces(self.ds, main)
                if not self.traces:
                    self.convergence_note = (
                        f"no point has a non-zero {main.name} with a finite standard error"
                    )
        return self.traces

    def main_estimate(self) -> Estimate | None:
        """The model's main estimate (as the dataset records it), else the first."""
        main = self.ds.attrs.get(MAIN_ESTIMATE_ATTR)
        if main is None and self.model is not None:  # a dataset from before it was recorded
            main = self.model.main_estimate
        found = self.estimate(str(main)) if main is not None else None
        if found is not None:
            return found
        return self.estimates[0] if self.estimates else None

    def estimate(self, name: str) -> Estimate | None:
        for e in self.estimates:
            if e.name == name:
                return e
        return None


SectionBuilder = Callable[[ReportContext], list[Section]]


@dataclass(frozen=True)
class SectionEntry:
    """A section builder, the dataset kinds it is for and when it runs.

    ``kinds``: dataset kinds (a model name, ``probe``, ``lab``) or ``GENERIC`` (every
    dataset). ``rank``: builders run in increasing rank (the kind-specific ones, 10-90,
    before the generic ones, 100 and up), so a headline marks the variables it covered
    (``ctx.covered``) before the generic sections look. Where a section shows in the
    report is its ``Section.order``, not the rank. ``skip``: names of generic sections
    that do not apply to this builder's kinds (a probe dataset is measurements, not a
    Monte Carlo run: no design, estimates, exact checks, re-runs or point health).
    """

    build: SectionBuilder
    kinds: tuple[str, ...]
    rank: int
    skip: tuple[str, ...] = ()
