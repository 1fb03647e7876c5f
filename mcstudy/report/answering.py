"""Which answers a dataset gives: the builder its model names in the entry-point group
``mcstudy.answers`` (``pyproject.toml``): ``answers_host`` for the host study,
``answers_models`` for the other models, the probe's own for its measurements."""

from __future__ import annotations

from collections.abc import Callable

import xarray as xr

from mcstudy.document.answers import Answers
from mcstudy.plugins import ANSWERS, load_group

AnswerBuilder = Callable[[xr.Dataset], Answers]

_BUILDERS: dict[str, AnswerBuilder] = {}


def builders() -> dict[str, AnswerBuilder]:
    """The answer builder of each dataset kind (a model name, ``probe``), read from the
    entry points on first use."""
    if not _BUILDERS:
        _BUILDERS.update({p.name: p.value for p in load_group(ANSWERS)})
    return _BUILDERS


def answers_for(ds: xr.Dataset) -> Answers | None:
    """The answers of any mcstudy dataset (None for a model this mcstudy does not know)."""
    build = builders().get(str(ds.attrs.get("model", "")))
    if build is None:
        return None
    try:
        return build(ds)
    except (KeyError, ValueError, IndexError) as exc:  # a dataset without what we read
        return Answers("Answers", [], notes=[f"No answers: the dataset lacks {exc}."])
    except Exception as exc:  # never lose a finished run to a sentence that fails
        return Answers(
            "Answers",
            [],
            notes=[
                f"No answers: building them failed ({type(exc).__name__}: {exc}); the "
                "dataset is complete, and `mcstudy show` lists every estimate."
            ],
        )
