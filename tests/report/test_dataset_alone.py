"""A stored dataset carries its meaning: ``mcstudy show``, the Answers and the HTML report
work from the file alone, with the model registry emptied and the kernel profiles and
load presets out of reach (issue 20, item 4)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import xarray as xr

from mcstudy.report.answering import answers_for
from mcstudy.report.answers import render_text
from mcstudy.report.summary import summarize
from mcstudy.storage.dataset import open_dataset
from mcstudy.storage.meaning import Meaning
from tests.paths import REPO
from tests.report.conftest import run_to_file, small_study_toml
from tests.report.htmlcheck import parse

DEFAULT_SMALL = ["study.sequences=2", "params.horizon_s=60.0", "study.block_size=1"]


def _default_small(directory: Path) -> Path:
    from mcstudy.storage.dataset import write_dataset
    from mcstudy.study import load_study
    from mcstudy.sweep.coordinator import run_study

    study = load_study(REPO / "configs" / "default.toml", DEFAULT_SMALL)
    return write_dataset(run_study(study, show_progress=False), directory / "default.nc")


@pytest.fixture(scope="module", params=["default", "gather", "pressure", "thp", "host"])
def stored(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    d = tmp_path_factory.mktemp(f"alone-{request.param}")
    if request.param == "default":
        return request.param, _default_small(d)
    text = small_study_toml(request.param, sequences=200, block_size=100)
    return request.param, run_to_file(text, d, request.param)


def _no_internals(monkeypatch: pytest.MonkeyPatch) -> None:
    """Empty the model registry; make every kernel profile and load preset unreachable."""
    import mcstudy.kernel.profiles as profiles
    import mcstudy.models.host.scenarios as scenarios
    import mcstudy.models.registry as registry

    def refuse(*args: object, **kw: object) -> None:
        raise AssertionError("a report read a model's internals")

    monkeypatch.setattr(registry, "_registry", dict)
    monkeypatch.setattr(registry, "_lookup", lambda name: None)
    monkeypatch.setattr(registry, "get_model", refuse)
    monkeypatch.setattr(profiles, "get_profile", refuse)
    monkeypatch.setattr(profiles, "PROFILES", {})
    monkeypatch.setattr(scenarios, "LOADS", {})


def test_the_dataset_records_its_resolved_parameters_and_kernel_facts(stored) -> None:
    _, path = stored
    ds = open_dataset(path)
    m = Meaning(ds)
    assert m.recorded
    params = json.loads(ds.attrs["parameters"])
    info = json.loads(ds.attrs["parameter_info"])
    # every parameter of the schema is described; defaults are recorded with their value
    from mcstudy.models.registry import get_model

    schema = get_model(ds.attrs["model"]).Params.model_fields
    assert list(info) == list(schema)
    for key in schema:
        assert m.has(key) or params.get(key, "absent") is None or key in ds.data_vars, key
    assert m.value("kernel") in {"v6.3-baremetal", "v6.3-kvm-pv", "v6.14-pt-reclaim", "v6.15"}
    assert isinstance(m.value("kernel_uses_tlb_remove_table"), bool)
    assert int(m.value("max_table_batch")) >= 1
    assert m.source("max_table_batch") in ("config", "derived from kernel (its profile)")
    assert ds.attrs["main_estimate"] in ds.data_vars
    assert ds.attrs["model_description"]


def test_show_answers_and_report_work_from_the_file_alone(
    stored, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from mcstudy.report.build import write_report

    name, path = stored
    _no_internals(monkeypatch)
    ds = open_dataset(path)
    ans = answers_for(ds)
    assert ans is not None and ans.items, render_text(ans) if ans else None
    assert not any(n.startswith("No answers") for n in ans.notes), ans.notes
    shown = summarize(ds, path, width=100)
    assert "No answers" not in shown
    out = write_report(path, tmp_path / "r.html", convergence_seconds=0, exact_curve_seconds=0)
    page = parse(out)
    design = page.text("design")
    assert "Kernel profiles:" in design  # the profile's description, from the dataset
    assert "derived from kernel (its profile)" in design or "max_table_batch" in design
    assert "No answers" not in page.text("answers") if name != "probe" else True


@pytest.mark.parametrize("stored", ["default"], indirect=True)  # it sweeps the kernel
def test_a_kernel_sweep_records_the_facts_of_each_kernel(stored) -> None:
    _, path = stored
    ds = xr.open_dataset(path)
    m = Meaning(ds)
    flags = {
        str(k): m.value("kernel_fallback_sends_ipi", {"kernel": k}) for k in ds["kernel"].values
    }
    assert flags["v6.14-pt-reclaim"] is False and flags["v6.15"] is True
    assert ds["kernel_fallback_sends_ipi"].dims == ("kernel",)
    assert ds["kernel_fallback_sends_ipi"].attrs["mcstudy_role"] == "kernel_fact"
