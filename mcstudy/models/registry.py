"""The models mcstudy knows, by name.

mcstudy's models are entry points of the group ``mcstudy.models`` (``pyproject.toml``;
:mod:`mcstudy.plugins`), read on first use: a new model is one sub-package of
``mcstudy.models`` and one line there, and a plug-in distribution adds its own. Tests add
models at run time with :func:`register`. No model module imports this one, so the
registry cannot loop back.
"""

from __future__ import annotations

from mcstudy.models.base import Model
from mcstudy.plugins import DISTRIBUTION, MODELS, PluginError, load_group

LISTED_ORDER = ("gather", "pressure", "thp", "host")
"""The order commands list the built-in models in and ``mcstudy bench`` runs them (the
simplest first; entry points carry no order). A model not named here follows, by name."""

_REGISTRY: dict[str, type[Model]] = {}
_BUILTIN: list[str] = []
_LOADED: list[bool] = []


def _registry() -> dict[str, type[Model]]:
    """The registry, filled from the entry points the first time it is asked for."""
    if not _LOADED:
        found = {}
        builtin = []
        plugins = load_group(MODELS)
        rank = {name: i for i, name in enumerate(LISTED_ORDER)}
        plugins.sort(key=lambda p: (p.distribution != DISTRIBUTION, rank.get(p.name, len(rank))))
        for plugin in plugins:
            cls = plugin.value
            if not (isinstance(cls, type) and issubclass(cls, Model) and cls.name == plugin.name):
                raise PluginError(
                    f"entry point {plugin.name!r} of group {MODELS!r} is not a Model "
                    f"class named {plugin.name!r}: {cls!r}"
                )
            found.setdefault(plugin.name, cls)
            if plugin.distribution == DISTRIBUTION:
                builtin.append(plugin.name)
        _REGISTRY.update(found)
        _BUILTIN[:] = builtin
        _LOADED.append(True)
    return _REGISTRY


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
    models = _registry()
    try:
        return models[name]()
    except KeyError:
        raise KeyError(f"unknown model {name!r}; known: {', '.join(models)}") from None
