"""Which section builders make the report of each kind of dataset, in order.

A dataset's kinds are its model name (``ds.attrs["model"]``) and its ``dataset_kind``
attribute. Builders are found through the entry-point group ``mcstudy.report_sections``
(``pyproject.toml``; :mod:`mcstudy.plugins`): each names a
:class:`~mcstudy.document.context.SectionEntry` with its kinds (``GENERIC`` for every
dataset), its rank (run order: kind-specific builders first, then the generic ones) and
the generic sections that do not apply to its kinds. The report's own are in
``mcstudy.report.sections.entries``, the probe's and the lab's in their packages, which
import the base package ``mcstudy.document`` and never this one. A builder may mark the
variables it covered in ``ctx.covered`` so the generic sections do not draw them twice.

A new section is a builder and its ``SectionEntry`` and one entry point; tests add
builders at run time with :func:`register_section`.
"""

from __future__ import annotations

from collections.abc import Callable

from mcstudy.document.context import GENERIC, SectionBuilder, SectionEntry
from mcstudy.plugins import REPORT_SECTIONS, PluginError, load_group

__all__ = ["GENERIC", "builders_for", "entries", "register_section"]

_ENTRIES: dict[str, SectionEntry] = {}


def entries() -> dict[str, SectionEntry]:
    """Every declared section by name, read from the entry points on first use (then
    those registered at run time)."""
    if not _ENTRIES:
        for plugin in load_group(REPORT_SECTIONS):
            if not isinstance(plugin.value, SectionEntry):
                raise PluginError(
                    f"entry point {plugin.name!r} of group {REPORT_SECTIONS!r} is not a "
                    f"SectionEntry: {plugin.value!r}"
                )
            _ENTRIES.setdefault(plugin.name, plugin.value)
    return _ENTRIES


def register_section(
    kind: str, rank: int | None = None
) -> Callable[[SectionBuilder], SectionBuilder]:
    """Decorator: also run this builder for datasets of ``kind`` (``GENERIC`` for all),
    after the declared builders of that kind (``rank``: 50 for a kind, 1000 generic)."""

    def deco(fn: SectionBuilder) -> SectionBuilder:
        r = rank if rank is not None else (1000 if kind == GENERIC else 50)
        name = f"{fn.__module__}.{fn.__qualname__}@{kind}"
        entries().setdefault(name, SectionEntry(fn, (kind,), r))
        return fn

    return deco


def builders_for(kinds: tuple[str, ...]) -> list[SectionBuilder]:
    """The builders of a dataset of ``kinds``, in rank order (declaration order among
    equal ranks): those declared for one of its kinds, and the generic ones less those
    that a builder of its kinds skips."""
    found = entries()
    mine = {name for name, e in found.items() if set(e.kinds) & set(kinds)}
    skip = {s for name in mine for s in found[name].skip}
    chosen = [
        e for name, e in found.items() if name in mine or (GENERIC in e.kinds and name not in skip)
    ]
    chosen.sort(key=lambda e: e.rank)  # stable
    return [e.build for e in chosen]
