"""The probe dataset: written and read back through mcstudy.storage.dataset, rendered as the CLI
table and as the report's "Measured on this machine" section."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mcstudy.document.checks import HEADER, check_rows
from mcstudy.probe.checks import build_checks
from mcstudy.probe.dataset import build_probe_dataset, is_probe_dataset
from mcstudy.probe.host import ProbeRequest
from mcstudy.probe.table import render_probe_table
from mcstudy.storage.dataset import open_dataset, write_dataset

from .conftest import MIB, fake_raw, linux_facts

REQ = ProbeRequest(thps=64, munmap_bytes=64 * MIB, munmap_offset=MIB, baselines=8)


def _dataset(profile, **kw):
    raw = fake_raw(**kw)
    checks = build_checks(raw, profile)
    return build_probe_dataset(raw, checks, linux_facts(), REQ, profile, {"test": True}), checks


@pytest.fixture
def stored(tmp_path, profile):
    ds, checks = _dataset(profile)
    path = write_dataset(ds, tmp_path / "probe.nc")
    return open_dataset(path), checks, path


def test_round_trip_through_the_store(stored):
    ds, checks, _ = stored
    assert is_probe_dataset(ds)
    assert ds.attrs["mcstudy_format"] == "mcstudy-dataset"
    assert ds.sizes["check"] == len(checks) == 28
    assert ds.sizes["baseline"] == 8 and list(ds.cpu.values) == [0, 1]
    np.testing.assert_array_equal(ds.measured.values, [c.measured for c in checks])
    np.testing.assert_array_equal(ds.noise_halfwidth.values, [c.halfwidth for c in checks])
    assert ds.agrees.dtype == bool and bool(ds.agrees.all())
    assert ds.attrs["kernel_profile"] == "v6.14-pt-reclaim"
    assert ds.attrs["disagreements"] == 0
    assert json.loads(ds.attrs["phase_facts"])["collapse"]["collapsed"] == 64
    assert ds.function_call_ipis.sel(phase="collapse", cpu=1).item() == 65
    assert ds.counter_delta.sel(phase="thp_fault", counter="VmPTE_kB").item() == 4 * 66


def test_table_lists_every_row(stored):
    ds, checks, _ = stored
    rows = check_rows(ds)
    assert len(rows) == len(checks) and all(len(r) == len(HEADER) for r in rows)
    text = render_probe_table(ds)
    assert "deposited PTE tables per THP fault" in text
    assert "all 28 rows agree with the model (profile v6.14-pt-reclaim)" in text
    assert "kernel: Linux 6.18.4-test (x86_64), 2 online CPUs; probe pinned to CPU 0" in text


def test_disagreement_is_named(tmp_path, profile):
    ds, _ = _dataset(profile, ipis_per_collapse=0.0)
    ds = open_dataset(write_dataset(ds, tmp_path / "bad.nc"))
    assert ds.attrs["disagreements"] >= 1
    text = render_probe_table(ds)
    assert "DISAGREE: collapse sync IPIs per collapse per other CPU" in text
    assert json.loads(ds.attrs["disagreements_by_scope"])["other CPUs"] >= 1


def test_report_section(stored):
    pytest.importorskip("mcstudy.report.catalog")
    from mcstudy.document.blocks import TableBlock
    from mcstudy.probe import section
    from mcstudy.report.catalog import builders_for

    ds, checks, path = stored
    assert section.build in builders_for(("probe",))
    sec = section.probe_section(ds, path.name)
    assert sec.title == "Measured on this machine" and sec.order == 25
    assert "matches profile `v6.14-pt-reclaim`" in sec.lead
    (table,) = [b for b in sec.blocks if isinstance(b, TableBlock)]
    assert len(table.rows) == len(checks) and table.header[0] == "phase"
