"""The code version that a model's results depend on.

Two point results may be mixed in one dataset only if they were computed by the same
code. "Same code version" means equal

* ``mcstudy``: the package version (``mcstudy.__version__``), and
* ``sources_sha256``: a SHA-256 over the Python source files that compute a point of
  this model: the model's own module and, transitively, every ``mcstudy`` module it
  refers to (engine, kernel facts, exact solvers, statistics, sampling...), plus the
  point pipeline modules the caller names (``mcstudy.sweep.point``: the block loop and
  the adaptive-precision schedule).

The git commit is recorded in the provenance but is *not* compared: a commit that only
changes the README, the CLI, reports or another model must not invalidate a half-done
sweep, while an uncommitted edit of a kernel must. Hashing the files that are actually
imported covers both installed and editable (dirty) trees.
"""

from __future__ import annotations

import hashlib
import inspect
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import mcstudy
from mcstudy.models.base import Model

_PACKAGE_ROOT = Path(mcstudy.__file__).resolve().parent
_CACHE: dict[tuple[type, tuple[str, ...]], dict[str, Any]] = {}


def _mcstudy_module(name: object) -> ModuleType | None:
    if not isinstance(name, str):
        return None
    if name != "mcstudy" and not name.startswith("mcstudy."):
        return None
    return sys.modules.get(name)


def source_modules(model: Model, pipeline: Sequence[ModuleType] = ()) -> list[ModuleType]:
    """The model's module and every ``mcstudy`` module reachable from it through module
    globals (imported modules, functions, classes, JIT dispatchers), plus the
    ``pipeline`` modules themselves (not what they import), sorted by name. Packages are
    not followed (their attributes are whichever submodules happen to be imported)."""
    seen: dict[str, ModuleType] = {m.__name__: m for m in pipeline}
    start = inspect.getmodule(type(model))
    stack = [start] if start is not None else []
    while stack:
        mod = stack.pop()
        if mod.__name__ in seen:
            continue
        seen[mod.__name__] = mod
        if hasattr(mod, "__path__"):
            continue  # a package: its attributes are whatever submodules were imported
        for value in list(vars(mod).values()):
            if isinstance(value, ModuleType):
                ref = _mcstudy_module(value.__name__)
            else:
                try:
                    ref = _mcstudy_module(getattr(value, "__module__", None))
                except Exception:  # exotic objects with failing attribute access
                    ref = None
            if ref is not None and ref.__name__ not in seen:
                stack.append(ref)
    return [seen[name] for name in sorted(seen)]


def _label(path: Path, module: ModuleType) -> str:
    try:
        return "mcstudy/" + path.relative_to(_PACKAGE_ROOT).as_posix()
    except ValueError:
        return f"{module.__name__} ({path.name})"


def code_version(model: Model, pipeline: Sequence[ModuleType] = ()) -> dict[str, Any]:
    """``{"mcstudy": version, "model": name, "sources_sha256": hex, "sources": [...]}``
    of ``model`` computed by the ``pipeline`` modules.

    Computed once per model class, pipeline and process.
    """
    key = (type(model), tuple(m.__name__ for m in pipeline))
    if key in _CACHE:
        return _CACHE[key]
    digest = hashlib.sha256()
    labels = []
    for module in source_modules(model, pipeline):
        file = getattr(module, "__file__", None)
        if not file or not file.endswith(".py"):
            continue
        path = Path(file).resolve()
        label = _label(path, module)
        labels.append(label)
        digest.update(label.encode() + b"\0" + hashlib.sha256(path.read_bytes()).digest())
    version = {
        "mcstudy": mcstudy.__version__,
        "model": model.name,
        "sources_sha256": digest.hexdigest(),
        "sources": labels,
    }
    _CACHE[key] = version
    return version


def same_code(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Whether two code versions are the same (package version and source hash)."""
    return (a.get("mcstudy"), a.get("model"), a.get("sources_sha256")) == (
        b.get("mcstudy"),
        b.get("model"),
        b.get("sources_sha256"),
    )


def describe(version: dict[str, Any]) -> str:
    """Short human form, e.g. ``mcstudy 0.1.0, gather sources 1a2b3c4d5e6f``."""
    return (
        f"mcstudy {version.get('mcstudy')}, {version.get('model')} sources "
        f"{str(version.get('sources_sha256'))[:12]}"
    )
