"""``mcstudy lab --matrix`` without an emulator: the runs, their reuse, a failing kernel,
the matrix dataset and its report section "Kernel profiles against real kernels"."""

from __future__ import annotations

import json

import numpy as np
import pytest
import xarray as xr
from click.testing import CliRunner

from mcstudy.cli import main
from mcstudy.lab.errors import LabError
from mcstudy.lab.kernels import KERNELS
from mcstudy.lab.matrix import matrix_runs, request_key, run_matrix, runs_folder
from mcstudy.lab.section import claim_cell, render_matrix_table
from mcstudy.report.build import write_report
from mcstudy.storage.dataset import FORMAT_NAME, FORMAT_VERSION, open_dataset

# what a lab run's rows hold, by (line, arch): (profile, tlb_remove_table() calls per gather,
# fallbacks, IPIs per fallback (None: no such row), call_rcu share (None: not measurable))
RUNS = {
    ("6.1", "arm64"): ("v6.15", 66.0, 309, 1.0, None),
    ("6.12", "arm64"): ("v6.15", 66.0, 1446, 1.0, None),
    ("7.2", "arm64"): ("v7.0-pt-reclaim", 66.0, 1162, 0.0, 1.0),
    ("6.1", "amd64"): ("v6.3-baremetal", 0.0, 0, None, None),
    ("6.12", "amd64"): ("v6.3-baremetal", 0.0, 0, None, None),
}


def fake_lab_dataset(req, line: str) -> xr.Dataset:
    """A lab dataset with the rows the matrix reads (the long format's columns)."""
    prof, calls, fb, ipi, rcu = RUNS[(line, req.arch)]
    rows = [
        ("munmap", "tables_per_gather", "tables/gather", 66.0, 66.0, True, ""),
        ("munmap", "tlb_remove_table_per_gather", "calls/gather", calls, calls, True, ""),
        ("fallback", "fallbacks_observed", "fallbacks", fb, fb, True, ""),
    ]
    if ipi is not None:
        rows.append(("fallback", "sync_ipis_per_fallback", "IPIs/fallback", ipi, ipi, True, ""))
        rows.append(
            ("fallback", "rcu_frees_per_fallback", "1/fallback", np.nan, 0.0, False, "no cb")
            if rcu is None
            else ("fallback", "rcu_frees_per_fallback", "1/fallback", rcu, rcu, True, "")
        )
        # one row beyond its noise on 6.12 arm64
        ok = line != "6.12"
        rows.append(("fallback", "fail_rule", "1/attempt", 0.99 if not ok else 1.0, 1.0, ok, ""))
    rows.append(("khugepaged", "collapse_rounds", "rounds/collapse", 1.0, 1.0, True, ""))
    n = len(rows)

    def col(i, dtype=object):
        return (("check",), np.array([r[i] for r in rows], dtype=dtype))

    return xr.Dataset(
        {
            "check_phase": col(0),
            "quantity": col(1),
            "label": col(1),
            "unit": col(2),
            "measured": col(3, float),
            "predicted": col(4, float),
            "noise_halfwidth": (("check",), np.zeros(n)),
            "agrees": col(5, bool),
            "not_measurable": col(6),
        },
        coords={"check": np.arange(n)},
        attrs={
            "mcstudy_format": FORMAT_NAME,
            "mcstudy_format_version": FORMAT_VERSION,
            "model": "lab",
            "arch": req.arch,
            "kernel_line": line,
            "kernel_release": f"{line}.0-test-{req.arch}",
            "kernel_package": f"linux-image-{line}-test",
            "kernel_package_version": "1",
            "kernel_profile": prof,
            "params": request_key(req),
            "guest_seconds": 100.0,
            "provenance": json.dumps({"wall_seconds": 120.0}),
        },
    )


class Runner:
    """Stands in for ``run_lab``: 7.2 amd64 fails; counts its calls."""

    def __init__(self):
        self.calls = []

    def __call__(self, req, cache, kernel=None, progress=False, console_log=None):
        self.calls.append((kernel, req.arch))
        if (kernel, req.arch) == ("7.2", "amd64"):
            raise LabError("the guest stopped: test")
        console_log.write_text("console of the run\n")
        manifest = cache / req.arch / "manifest.json"  # a run records its kernel
        manifest.parent.mkdir(parents=True, exist_ok=True)
        manifest.write_text(f"kernel {kernel}\n")
        return fake_lab_dataset(req, kernel)


def test_runs_cover_every_kernel_and_arch_with_its_defaults():
    runs = matrix_runs()
    assert [(r.kernel, r.arch) for r in runs] == [
        (k, a) for a in ("arm64", "amd64") for k in KERNELS
    ]
    by = {(r.kernel, r.arch): r.request for r in runs}
    # every kernel that frees page tables through tlb_remove_table() runs under pressure
    assert by[("6.12", "arm64")].gathers == 4000
    assert by[("7.2", "amd64")].levels == (0, 300, 350)
    assert by[("7.2", "amd64")].gathers == 4000
    assert by[("6.1", "amd64")].levels == (0,) and by[("6.1", "amd64")].gathers == 2000
    # --gathers / --pressure apply to every run
    assert {r.request.gathers for r in matrix_runs(gathers=100, levels=(0,))} == {100}


def test_matrix_keeps_going_past_a_failure_and_resumes(tmp_path):
    out = tmp_path / "lab-matrix.nc"
    runner = Runner()
    ds = run_matrix(out, tmp_path / "cache", matrix_runs(), runner)
    assert len(runner.calls) == 6
    assert ds.attrs["runs"] == 6 and ds.attrs["runs_done"] == 5
    st = ds.status.sel(kernel="7.2", arch="amd64").item()
    assert st == "not run: the guest stopped: test"
    assert ds.status.sel(kernel="6.1", arch="arm64").item() == "ran"
    assert ds.disagreements.sel(kernel="6.12", arch="arm64").item() == 1
    assert ds.attrs["disagreements"] == 1  # fail_rule on 6.12 arm64
    folder = runs_folder(out)
    assert (folder / "lab-arm64-7.2.nc").is_file() and not (folder / "lab-amd64-7.2.nc").exists()
    assert (folder / "console-arm64-7.2.txt.gz").is_file()
    stored = open_dataset(out)
    assert stored.sizes["kernel"] == 3 and stored.sizes["arch"] == 2
    # a second matrix reuses the five runs and tries the failed one again
    again = Runner()
    ds2 = run_matrix(out, tmp_path / "cache", matrix_runs(), again)
    assert again.calls == [("7.2", "amd64")]
    assert ds2.status.sel(kernel="6.1", arch="arm64").item() == "reused"
    # another request is not reused
    third = Runner()
    run_matrix(out, tmp_path / "cache", matrix_runs(gathers=100), third)
    assert len(third.calls) == 6


def test_claim_cells(tmp_path):
    ds = run_matrix(tmp_path / "m.nc", tmp_path, matrix_runs(), Runner())
    c = "fallback"
    assert claim_cell(ds, "7.2", "arm64", c, "sync_ipis_per_fallback") == (
        "0.00 / 0.00 ✓",
        "agrees",
    )
    assert claim_cell(ds, "6.12", "arm64", c, "sync_ipis_per_fallback")[0] == "1.00 / 1.00 ✓"
    assert claim_cell(ds, "7.2", "arm64", c, "rcu_frees_per_fallback")[0] == "1.00 / 1.00 ✓"
    assert claim_cell(ds, "6.1", "arm64", c, "rcu_frees_per_fallback")[1] == "not measurable"
    assert claim_cell(ds, "6.12", "arm64", c, "fail_rule") == ("0.99 / 1.00 ✗", "disagrees")
    assert claim_cell(ds, "6.1", "amd64", c, "sync_ipis_per_fallback") == (
        "none (no tlb_remove_table())",
        "absent",
    )
    assert claim_cell(ds, "7.2", "amd64", c, "fallbacks_observed") == ("not run", "not run")
    assert claim_cell(ds, "6.12", "arm64", c, "fallbacks_observed")[0] == "1446 / 1446 ✓"
    text = render_matrix_table(ds)
    assert "7.2 amd64: not run: the guest stopped: test" in text
    assert "Linux 7.2: arm64 (7.2.0-test-arm64): `v7.0-pt-reclaim`, a fallback frees" in text


def test_matrix_section_in_rendered_html(tmp_path):
    out = tmp_path / "lab-matrix.nc"
    run_matrix(out, tmp_path, matrix_runs(), Runner())
    html = write_report(out, tmp_path / "matrix.html", convergence_seconds=0).read_text()
    assert "Kernel profiles against real kernels" in html
    for col in ("6.1 arm64", "6.12 arm64", "7.2 arm64", "6.1 amd64", "7.2 amd64"):
        assert f"<th>{col}</th>" in html or f">{col}<" in html, col
    assert "fallback sends a sync round (IPIs per fallback)" in html
    assert "0.00 / 0.00 ✓" in html and "1446 / 1446 ✓" in html
    assert "not run: the guest stopped: test" in html
    # a line per version, from the profile table
    assert "a fallback frees its table by call_rcu(): no round, no wait" in html
    assert "page tables bypass tlb_remove_table()" in html
    assert "5 of 6 kernel x architecture runs done; 1 of 22 measured claims beyond" in html
    assert "0.99 / 1.00 ✗" in html  # fail_rule on 6.12 arm64, flagged
    # measurements, not a Monte Carlo run: no simulated design or estimates sections
    assert "What was simulated" not in html and "Monte Carlo sequences" not in html


@pytest.mark.parametrize(
    "args, message",
    [
        (["--matrix", "--kernel", "7.2"], "does not take --kernel"),
        (["--matrix", "--arch", "amd64"], "does not take --arch"),
        (["--rerun"], "--rerun goes with --matrix"),
        (["--matrix", "--pressure", "x"], "--pressure"),
    ],
)
def test_matrix_bad_options_exit_2(args, message, tmp_path):
    res = CliRunner().invoke(main, ["lab", "--cache", str(tmp_path), *args])
    assert res.exit_code == 2, res.output
    assert message in res.output and res.output.count("mcstudy: error:") == 1


@pytest.mark.parametrize(
    "args, gathers, levels",
    [
        (["--kernel", "6.12"], 4000, (0, 300, 400)),
        (["--kernel", "7.2", "--arch", "amd64"], 4000, (0, 300, 350)),
        (["--kernel", "6.12", "--arch", "amd64"], 2000, (0,)),
        (["--kernel", "6.12", "--gathers", "300", "--pressure", "350"], 300, (350,)),
        (["--kernel-package", "linux-image-6.12.118+deb13-cloud-arm64-unsigned"], 4000, None),
    ],
)
def test_single_run_takes_the_kernels_defaults(args, gathers, levels, tmp_path, monkeypatch):
    from mcstudy.lab import cli

    seen = []

    def fake(req, *a, **k):
        seen.append(req)
        raise LabError("stop here")

    monkeypatch.setattr(cli, "run_lab", fake)
    res = CliRunner().invoke(main, ["lab", "--cache", str(tmp_path), *args])
    assert res.exit_code == 2 and "stop here" in res.output
    assert seen[0].gathers == gathers
    if levels is not None:
        assert seen[0].levels == levels


def test_real_matrix_renders_and_every_claim_agrees(tmp_path):
    """The matrix of a real ``mcstudy lab --matrix`` (Debian 6.1.192, 6.12.118, 7.2.13 cloud
    kernels; arm64 and amd64; 32 min 7 s wall on 2 shared cores without KVM)."""
    from shutil import copyfile

    from mcstudy.lab.section import claim_tally
    from tests.lab.conftest import LAB

    path = tmp_path / "lab-matrix.nc"
    copyfile(LAB / "lab-matrix.nc", path)
    ds = open_dataset(path)
    assert ds.attrs["runs_done"] == 6
    measured, bad = claim_tally(ds)
    assert (measured, bad) == (36, 0)
    # at least 100 fallbacks under pressure with the default gathers wherever page tables
    # reach tlb_remove_table()
    fb = ds.measured.sel(row=int(np.flatnonzero(ds.row_quantity.values == "fallbacks_observed")[0]))
    via = ds.measured.sel(
        row=int(np.flatnonzero(ds.row_quantity.values == "tlb_remove_table_per_gather")[0])
    )
    for k in ds.kernel.values:
        for a in ds.arch.values:
            if float(via.sel(kernel=k, arch=a)) > 0:
                assert float(fb.sel(kernel=k, arch=a)) >= 100, (k, a)
    f = "fallback"
    assert claim_cell(ds, "7.2", "arm64", f, "sync_ipis_per_fallback")[0] == "0.00 / 0.00 ✓"
    assert claim_cell(ds, "6.12", "arm64", f, "sync_ipis_per_fallback")[0] == "1.00 / 1.00 ✓"
    assert claim_cell(ds, "7.2", "amd64", f, "rcu_frees_per_fallback")[0] == "1.00 / 1.00 ✓"
    assert claim_cell(ds, "7.2", "amd64", f, "fail_rule")[1] == "agrees"
    html = write_report(path, tmp_path / "m.html", convergence_seconds=0).read_text()
    assert "6 of 6 kernel x architecture runs done; all 36 measured claims agree" in html
    assert "1628 / 1628 ✓" in html and "643 / 643 ✓" in html
    assert "7.2.13+deb14-cloud-amd64" in html and "v7.0-pt-reclaim" in html


def test_matrix_leaves_the_caches_default_kernel(tmp_path):
    cache = tmp_path / "cache"
    (cache / "arm64").mkdir(parents=True)
    (cache / "arm64" / "manifest.json").write_text("kernel 6.1\n")
    run_matrix(tmp_path / "m.nc", cache, matrix_runs(), Runner())
    assert (cache / "arm64" / "manifest.json").read_text() == "kernel 6.1\n"
    # an architecture without a default before has the last run's
    assert (cache / "amd64" / "manifest.json").read_text() == "kernel 6.12\n"
