"""What mcstudy finds through entry points: models, report sections, answer builders.

mcstudy's own models and report parts are listed as entry points in ``pyproject.toml``
(as xarray lists its backends), so the packages that use them never import the packages
that provide them: ``mcstudy.report`` does not import ``mcstudy.probe`` or ``mcstudy.lab``,
it loads their sections by name. A plug-in distribution adds its own entry points to the
same groups. The groups:

* ``mcstudy.models``: a model's name -> its :class:`mcstudy.models.base.Model` class;
* ``mcstudy.report_sections``: a section's name -> its
  :class:`mcstudy.document.context.SectionEntry` (builder, dataset kinds, run order);
* ``mcstudy.answers``: a dataset's model name -> the function that builds its
  :class:`mcstudy.document.answers.Answers`.

Entry points are read from the installed distribution's metadata: a source tree that was
never installed has none, which :func:`load_group` reports as one error.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any

from mcstudy.errors import McStudyError

MODELS = "mcstudy.models"
REPORT_SECTIONS = "mcstudy.report_sections"
ANSWERS = "mcstudy.answers"
DISTRIBUTION = "mcstudy"


class PluginError(McStudyError):
    """An entry-point group is empty (mcstudy not installed) or an entry point is broken."""


@dataclass(frozen=True)
class Plugin:
    """One loaded entry point: its name, the object it names, and the distribution (the
    Python package that was installed) that declares it."""

    name: str
    value: Any
    distribution: str


def load_group(group: str) -> list[Plugin]:
    """Every entry point of ``group``, loaded, in the order the distributions declare
    them (mcstudy's own first). One :class:`PluginError` when there is none, or when one
    cannot be loaded."""
    found = _declared(group)
    return [_load(ep, group) for ep in found]


def load_entry(group: str, name: str) -> Plugin | None:
    """The one entry point ``name`` of ``group``, loaded (mcstudy's own first when several
    distributions declare the name), or None when none does; nothing else of the group is
    imported. The same errors as :func:`load_group`."""
    named = [ep for ep in _declared(group) if ep.name == name]
    return _load(named[0], group) if named else None


def _declared(group: str) -> list[Any]:
    """The entry points of ``group``, mcstudy's own first (stable: declared order kept);
    the one error of an uninstalled tree when mcstudy declares none."""
    found = list(entry_points(group=group))
    if not any(_dist(ep) == DISTRIBUTION for ep in found):
        raise PluginError(
            f"no entry points of mcstudy in group {group!r}: mcstudy is not installed "
            "(run `python -m pip install -e .` in its source tree)"
        )
    found.sort(key=lambda ep: _dist(ep) != DISTRIBUTION)
    return found


def _load(ep: Any, group: str) -> Plugin:
    try:
        value = ep.load()
    except Exception as exc:
        raise PluginError(
            f"entry point {ep.name!r} of group {group!r} ({ep.value}) cannot be loaded: "
            f"{type(exc).__name__}: {exc}"
        ) from exc
    return Plugin(ep.name, value, _dist(ep))


def _dist(ep: Any) -> str:
    dist = getattr(ep, "dist", None)
    return str(dist.name) if dist is not None else ""
