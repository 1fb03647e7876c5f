"""The models mcstudy knows, by name.

mcstudy's models are entry points of the group ``mcstudy.models`` (``pyproject.toml``;
:mod:`mcstudy.plugins`), read on first use: a new model is one sub-package of
``mcstudy.models`` and one line there, and a plug-in distribution adds its own. Tests add
models at run time with :func:`register`. No model module imports this one, so the
registry cannot loop back.
"""

from __future__ import annotations

from mcstudy.models.base import Model
from mcstudy.plugins import DISTRIBUTION, MODELS, Plugin, PluginError, load_entry, load_group

LISTED_ORDER = ("gather", "pressure", "thp", "host")
"""The order commands list the built-in models in and ``mcstudy bench`` runs them (the
simplest first; entry points carry no order). A model not named here follows, by name."""

_REGISTRY: dict[str, type[Model]] = {}
_BUILTIN: list[str] = []
_LOADED: list[bool] = []


def _registry() -> dict[str, type[Model]]:
    """The registry, filled from every entry point the first time it is asked for."""
    if not _LOADED:
        found = {}
        builtin = []
        plugins = load_group(MODELS)
        rank = {name: i for i, name in enumerate(LISTED_ORDER)}
        plugins.sort(key=lambda p: (p.distribution != DISTRIBUTION, rank.get(p.name, len(rank))))
        for plugin in plugins:
            found.setdefault(plugin.name, _checked(plugin))
            if plugin.distribution == DISTRIBUTION:
                builtin.append(plugin.name)
        # models looked up one by one before (``_lookup``) are among ``found``: the
        # listing order is the entry points' order
        _REGISTRY.clear()
        _REGISTRY.update(found)
        _BUILTIN[:] = builtin
        _LOADED.append(True)
    return _REGISTRY


def _checked(plugin: Plugin) -> type[Model]:
    cls = plugin.value
    if not (isinstance(cls, type) and issubclass(cls, Model) and cls.name == plugin.name):
        raise PluginError(
            f"entry point {plugin.name!r} of group {MODELS!r} is not a Model "
            f"class named {plugin.name!r}: {cls!r}"
        )
    return cls


def _lookup(name: str) -> type[Model] | None:
    """The model class called ``name``, importing only its own entry point while the
    registry is not yet filled (a run needs one model: a cached start does not import
    the others, about 0.07 s); None when no model has that name."""
    if name in _REGISTRY:
        return _REGISTRY[name]
    if not _LOADED:
        plugin = load_entry(MODELS, name)
        if plugin is not None:
            cls = _checked(plugin)
            _REGISTRY[name] = cls
            return cls
    return _registry().get(name)


def is_model(name: str) -> bool:
    """Whether a model called ``name`` is known (without importing the others)."""
    return _lookup(name) is not None


def register(cls: type[Model]) -> type[Model]:
    """Add a model class under ``cls.name`` (usable as a class decorator)."""
    _registry()[cls.name] = cls
    return cls


def model_names() -> tuple[str, ...]:
    """Names of every registered model."""
    return tuple(_registry())


def builtin_model_names() -> tuple[str, ...]:
    """Models shipped with mcstudy (not ones registered at run time, e.g. by tests, or by
    a plug-in distribution)."""
    _registry()
    return tuple(_BUILTIN)


def get_model(name: str) -> Model:
    """An instance of the model called ``name``."""
    cls = _lookup(name)
    if cls is None:
        raise KeyError(f"unknown model {name!r}; known: {', '.join(_registry())}")
    return cls()
