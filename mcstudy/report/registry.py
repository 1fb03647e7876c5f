"""Section builders, keyed by dataset kind: the report's extension point.

A *section builder* is a function ``build(ctx: ReportContext) -> list[Section]``. It is
registered for a *kind* with :func:`register_section`:

* ``"*"``: every dataset (the generic sections: design, estimates, exact checks,
  convergence, sensitivity, run health, provenance);
* a model name (``"gather"``, ``"pressure"``, ...): datasets of that model
  (``ds.attrs["model"]``), e.g. its headline answers;
* any other word: datasets whose ``dataset_kind`` attribute names it, e.g. a future
  ``"probe"`` kind for live-kernel measurements ("measured on this machine").

Each returned :class:`~mcstudy.report.document.Section` has an ``order`` that places it
(design 10, headline answers 20, measured 25, estimates 30, exact 40, convergence 50,
sensitivity 60, run health 70, provenance 90). A builder may mark the variables it
covered in ``ctx.covered`` so the generic sections do not draw them twice.

Builders are imported lazily by :func:`load_builtin_sections`; a new one only needs a
module that calls ``register_section`` and its name in ``BUILTIN_SECTION_MODULES``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import xarray as xr

    from mcstudy.models.base import Model
    from mcstudy.report.convergence import Trace
    from mcstudy.report.curves import ExactCurves
    from mcstudy.report.document import Section
    from mcstudy.report.variables import Agreement, Estimate

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
            from mcstudy.report.variables import agreement

            found = (agreement(self.ds, e) for e in self.estimates)
            self._agreements = [a for a in found if a is not None]
        return self._agreements

    def convergence(self) -> list[Trace]:
        """Convergence traces of a few points (memoised; empty when they cannot be made)."""
        if self.traces is None:
            self.traces = []
            self.convergence_note = ""
            from mcstudy.report.convergence import convergence_traces
            from mcstudy.report.meta import has_block_size

            budget = float(self.options.get("convergence_seconds", 6.0))
            main = self.main_estimate()
            if budget <= 0:
                self.convergence_note = "convergence traces were switched off for this report"
            elif self.model is None:
                self.convergence_note = (
                    f"model {self.ds.attrs.get('model')!r} is not known to this mcstudy, "
                    "so its points cannot be re-run"
                )
            elif not has_block_size(self.ds) or "seed" not in self.ds.attrs:
                self.convergence_note = "the dataset does not record its seed and block size"
            elif main is None:
                self.convergence_note = "the dataset has no estimate with an interval"
            else:
                names = [e.name for e in self.estimates]
                self.traces = convergence_traces(self.ds, self.model, main, names, budget)
                if not self.traces:
                    self.convergence_note = (
                        f"no point has a non-zero {main.name} with a finite standard error"
                    )
        return self.traces

    def main_estimate(self) -> Estimate | None:
        """The model's main estimate, else the first estimate."""
        if self.model is not None:
            found = self.estimate(self.model.main_estimate)
            if found is not None:
                return found
        return self.estimates[0] if self.estimates else None

    def estimate(self, name: str) -> Estimate | None:
        for e in self.estimates:
            if e.name == name:
                return e
        return None


SectionBuilder = Callable[[ReportContext], list["Section"]]
_BUILDERS: dict[str, list[SectionBuilder]] = {}


def register_section(kind: str) -> Callable[[SectionBuilder], SectionBuilder]:
    """Decorator: run this builder for datasets of ``kind`` (``"*"`` for all)."""

    def deco(fn: SectionBuilder) -> SectionBuilder:
        _BUILDERS.setdefault(kind, [])
        if fn not in _BUILDERS[kind]:
            _BUILDERS[kind].append(fn)
        return fn

    return deco


def builders_for(kinds: tuple[str, ...]) -> list[SectionBuilder]:
    """Model- and kind-specific builders first (in registration order), then generic ones."""
    load_builtin_sections()
    out: list[SectionBuilder] = []
    for k in kinds:
        out.extend(_BUILDERS.get(k, []))
    out.extend(_BUILDERS.get(GENERIC, []))
    return out


# Modules that register builders, imported in this order (kind-specific first).
BUILTIN_SECTION_MODULES = (
    "mcstudy.report.sections.gather",
    "mcstudy.report.sections.pressure",
    "mcstudy.report.sections.thp",
    "mcstudy.probe.section",
    "mcstudy.report.sections.design",
    "mcstudy.report.sections.estimates",
    "mcstudy.report.sections.exactcheck",
    "mcstudy.report.sections.convergence",
    "mcstudy.report.sections.sensitivity",
    "mcstudy.report.sections.health",
    "mcstudy.report.sections.provenance",
)


def load_builtin_sections() -> None:
    """Import every module that registers section builders."""
    import importlib

    for name in BUILTIN_SECTION_MODULES:
        importlib.import_module(name)
