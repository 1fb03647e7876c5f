"""The models mcstudy knows, by name.

The built-in models are listed once in ``BUILTIN``; a new model is one sub-package of
``mcstudy.models`` and one line here. Tests and plug-ins add models at run time with
:func:`register`. No model module imports this one, so the registry cannot loop back.
"""

from __future__ import annotations

from mcstudy.models.base import Model
from mcstudy.models.gather.model import GatherModel
from mcstudy.models.host.model import HostModel
from mcstudy.models.pressure.model import PressureModel
from mcstudy.models.thp.model import ThpModel

BUILTIN: tuple[type[Model], ...] = (GatherModel, PressureModel, ThpModel, HostModel)

_REGISTRY: dict[str, type[Model]] = {cls.name: cls for cls in BUILTIN}


def register(cls: type[Model]) -> type[Model]:
    """Add a model class under ``cls.name`` (usable as a class decorator)."""
    _REGISTRY[cls.name] = cls
    return cls


def model_names() -> tuple[str, ...]:
    """Names of every registered model."""
    return tuple(_REGISTRY)


def builtin_model_names() -> tuple[str, ...]:
    """Models shipped with mcstudy (not ones registered at run time, e.g. by tests)."""
    return tuple(cls.name for cls in BUILTIN)


def get_model(name: str) -> Model:
    """An instance of the model called ``name``."""
    try:
        return _REGISTRY[name]()
    except KeyError:
        raise KeyError(f"unknown model {name!r}; known: {', '.join(_REGISTRY)}") from None
