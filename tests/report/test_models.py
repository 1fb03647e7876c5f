"""A report for a small study of every registered model (any model renders)."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest

from mcstudy.document.layout import sweep_dims
from mcstudy.document.variables import cell_view, find_estimates
from mcstudy.models.registry import get_model
from mcstudy.report.build import write_report
from mcstudy.storage.dataset import open_dataset
from tests.report.htmlcheck import check_report


@pytest.mark.slow
def test_every_model_gets_a_complete_report(
    model_dataset: tuple[str, Path], tmp_path: Path
) -> None:
    name, path = model_dataset
    model = get_model(name)
    out = write_report(path, tmp_path / f"{name}.html", convergence_seconds=1.0)
    p = check_report(out)
    ds = cell_view(open_dataset(path))  # one estimate per cell of an output dimension
    ests = find_estimates(ds, ds.attrs["main_estimate"])
    assert ests and ests[0].name == model.main_key()
    # the main estimate is drawn (in the headline or the estimates section)
    word = re.compile(rf"\b{re.escape(model.main_estimate)}\b")
    assert any(word.search(c) for c in p.captions.values()), p.captions
    # every estimate has its full table, one row per point
    n_points = 1
    for d in sweep_dims(ds):  # not the checkpoints of the running estimate
        n_points *= ds.sizes[d]
    tables = [
        t for t in p.tables if "estimates" in t.cls and t.header and t.header[-1] in ("n", "z")
    ]
    assert len(tables) == len(ests)
    assert all(len(t.rows) == n_points for t in tables)
    assert "sensitivity" in p.sections  # a 2 x 2 sweep
    # units as the model declares them (IPIs/h, tables), never the stored CF form
    text = html.unescape(re.sub(r"<[^>]+>", " ", out.read_text()))
    assert not re.search(r"\((?:h-1|s-1|s h-1|\d+ byte)\)", text)
    declared = {e.units for e in ests} - {"", "1"}
    assert not declared or any(f"({u})" in text for u in declared), declared
