"""The probe's answers (entry-point group ``mcstudy.answers``): the verdict of the live
kernel against the model, and the measured-vs-predicted rows as the summary table."""

from __future__ import annotations

import xarray as xr

from mcstudy.document.answers import Answers, Item, Table
from mcstudy.document.checks import HEADER, check_rows
from mcstudy.probe.table import verdict


def probe_answers(ds: xr.Dataset) -> Answers:
    """Does the running kernel do what the model says: the verdict and every row."""
    lines = verdict(ds)
    items = [Item("Does the running kernel do what the model says?", " ".join(lines))]
    rows = [[(c, None) for c in row] for row in check_rows(ds)]
    table = Table(
        f"Measured on this machine against the model (profile {ds.attrs.get('kernel_profile')}; "
        "noise: predictive half-width from the no-work windows).",
        list(HEADER),
        rows,
    )
    return Answers(
        "Answers: the live kernel against the model",
        items,
        [table],
        [
            "The probe never creates memory pressure, so the fallback path itself is not "
            "exercised here; the Monte Carlo studies are for that."
        ],
    )
