"""Which answers a dataset gives: the builder of its model (``answers_host`` for the host
study, ``answers_models`` for the others and the live-kernel probe)."""

from __future__ import annotations

import xarray as xr

from mcstudy.report.answers import Answers
from mcstudy.report.answers_host import host_answers
from mcstudy.report.answers_models import (
    gather_answers,
    pressure_answers,
    probe_answers,
    thp_answers,
)

BUILDERS = {
    "host": host_answers,
    "gather": gather_answers,
    "pressure": pressure_answers,
    "thp": thp_answers,
    "probe": probe_answers,
}


def answers_for(ds: xr.Dataset) -> Answers | None:
    """The answers of any mcstudy dataset (None for a model this mcstudy does not know)."""
    build = BUILDERS.get(str(ds.attrs.get("model", "")))
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
