"""A small probe of the live kernel this test runs on (skipped, with the reason, where the
probe cannot run): deposits, split reuse and collapse IPIs must agree with the model
within the measured noise, and the worker's own page-table counts exactly."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from mcstudy.cli import main
from mcstudy.probe.errors import ProbeError
from mcstudy.probe.host import ProbeRequest, check_counters, host_facts, preflight
from mcstudy.storage.dataset import open_dataset

pytestmark = pytest.mark.live

MIB = 1 << 20
ARGS = ["--thps", "64", "--munmap-mib", "16", "--munmap-offset-kib", "1024", "--baselines", "8"]
REQ = ProbeRequest(thps=64, munmap_bytes=16 * MIB, munmap_offset=MIB, baselines=8)


def _cannot_run() -> str | None:
    try:
        preflight(host_facts(), REQ)
        check_counters()
    except ProbeError as exc:
        return str(exc)
    return None


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    reason = _cannot_run()
    if reason:
        pytest.skip(f"the live-kernel probe cannot run here: {reason}")
    out = tmp_path_factory.mktemp("probe") / "probe.nc"
    result = CliRunner().invoke(main, ["probe", *ARGS, "--out", str(out)])
    assert result.exit_code == 0, result.output
    return open_dataset(out), result.output


def _row(ds, phase, quantity):
    (i,) = [
        i
        for i in range(ds.sizes["check"])
        if ds.check_phase.values[i] == phase and ds.quantity.values[i] == quantity
    ]
    return ds.isel(check=i)


@pytest.mark.parametrize(
    ("phase", "quantity", "expected"),
    [
        ("thp_fault", "deposit_per_thp_fault", 1.0),
        ("thp_split", "deposit_reused_per_split", 1.0),
        ("collapse", "sync_ipis_per_collapse", 1.0),
    ],
)
def test_live_kernel_agrees_with_model(live, phase, quantity, expected):
    ds, output = live
    row = _row(ds, phase, quantity)
    measured, halfwidth = float(row.measured), float(row.noise_halfwidth)
    assert float(row.predicted) == expected
    assert bool(row.agrees), (
        f"{phase} {quantity}: measured {measured:.4f} +- {halfwidth:.4f}, predicted {expected}\n"
        + output
    )
    assert abs(measured - expected) <= halfwidth + 1e-9


def test_live_own_page_tables_are_exact(live):
    # VmPTE counts this process's tables only: deposits, splits, collapses and the
    # free_pgd_range() floor/ceiling rule must hold table for table
    ds, output = live
    own = [i for i in range(ds.sizes["check"]) if ds.scope.values[i] == "this mm"]
    assert len(own) == 8
    for i in own:
        row = ds.isel(check=i)
        assert bool(row.agrees), f"{row.check_phase.item()} {row.label.item()}\n{output}"
    assert float(_row(ds, "munmap_4k_adjacent", "page_tables_freed").predicted) == 7
    assert float(_row(ds, "munmap_4k_isolated", "page_tables_freed").predicted) == 11


def test_live_dataset_describes_the_machine(live):
    ds, output = live
    assert ds.attrs["thps_mapped"] >= 1 and ds.attrs["thps_collapsed"] >= 1
    assert ds.attrs["kernel_profile"] in output
    assert "rows agree" in output
