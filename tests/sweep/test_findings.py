"""Findings end to end: recorded per point and in the dataset, printed by run, status
and show, leading the report; --strict exits 3; vacuous points say why."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from mcstudy.cli import main
from mcstudy.findings import Finding, decode_findings, encode_findings, read_findings, read_notes
from mcstudy.storage.dataset import open_dataset

# a fixed start with a 5 s warm-up (transient, disagreements), and a zone that frees
# faster than it allocates (no failure can happen but by rare fluctuation: vacuous)
CONFIG = """
[study]
name = "trust"
model = "pressure"
seed = 3
sequences = 64
block_size = 16

[params]
managed_pages = 3000
wmark_min = 150
wmark_low = 190
wmark_high = 230
alloc_rate = 2000.0
kswapd_rate = 10.0
gather_rate = 20.0
horizon_s = 30.0
initial_free = 3000
warmup_s = 5.0

[sweep]
free_rate = [1850.0, 2500.0]
"""


def _config(tmp_path: Path, text: str = CONFIG) -> Path:
    path = tmp_path / "trust.toml"
    path.write_text(text)
    return path


@pytest.mark.slow
def test_findings_are_recorded_printed_and_strict(tmp_path):
    cfg = _config(tmp_path)
    out = tmp_path / "trust.nc"
    runner = CliRunner()
    res = runner.invoke(main, ["run", str(cfg), "--out", str(out), "--quiet", "--strict"])
    assert res.exit_code == 3, res.output
    assert "findings (" in res.output and "transient: kswapd_awake_frac" in res.output
    assert "vacuous: no gather's batch page failed" in res.output
    assert "allocations never outpace frees" in res.output
    assert "free_rate=1850.0" in res.output
    found = read_findings(open_dataset(out).attrs)
    kinds = {(f.point, f.kind) for f in found}
    assert (0, "transient") in kinds and (0, "disagreement") in kinds and (1, "vacuous") in kinds
    status = runner.invoke(main, ["status", str(out)])
    assert "findings (" in status.output and "transient:" in status.output
    show = runner.invoke(main, ["show", str(out)])
    assert "transient:" in show.output
    html = out.with_suffix(".html").read_text()
    box = html[html.index('id="findings"') : html.index("</section>", html.index('id="findings"'))]
    assert "Findings: read these before the numbers" in box and "transient:" in box
    assert html.index('id="findings"') < html.index('id="summary"')
    assert "Why these numbers can be trusted" not in html


def test_a_run_without_findings_says_so(tmp_path):
    text = CONFIG.replace("initial_free = 3000\nwarmup_s = 5.0\n", "").replace(
        "free_rate = [1850.0, 2500.0]", "free_rate = [1850.0]"
    )
    out = tmp_path / "clean.nc"
    res = CliRunner().invoke(
        main, ["run", str(_config(tmp_path, text)), "--out", str(out), "--quiet", "--strict"]
    )
    assert res.exit_code == 0, res.output
    assert "findings: none" in res.output
    assert read_findings(open_dataset(out).attrs) == []
    html = out.with_suffix(".html").read_text()
    assert "No findings: no estimate disagrees" in html


def test_findings_attribute_round_trip():
    found = [
        Finding(2, "x", "vacuous", "no event"),
        Finding(None, None, "warning", "study-wide"),
        Finding(0, "y", "disagreement", "y = 1 against 2"),
    ]
    back = decode_findings(encode_findings(found))
    assert set(back) == set(found) and back[0].point is None  # the study first


GATHER_ONE = """
[study]
name = "tiny"
model = "gather"
seed = {seed}
sequences = 10_000
block_size = 1024

[params]
kernel = "{kernel}"
gfp_nowait_fail_p = 1e-6
tables_per_gather = 1
ipi_policy = "broadcast"
online_cpus = 64
mm_cpus = 8
"""


def test_one_fallback_where_a_hundredth_was_expected_is_no_disagreement(tmp_path):
    """gather-grid's p = 1e-6 at 10,000 gathers: seed 25 sees one fallback (z = +9.9 on
    the exact standard error; a 2 % chance), which is no disagreement."""
    text = GATHER_ONE.format(seed=25, kernel="v6.15")
    out = tmp_path / "one.nc"
    res = CliRunner().invoke(
        main, ["run", str(_config(tmp_path, text)), "--out", str(out), "--quiet", "--no-report"]
    )
    assert res.exit_code == 0, res.output
    ds = open_dataset(out)
    assert float(ds.fallback_prob) == 1e-4 and float(ds.fallback_prob_exact) == pytest.approx(1e-6)
    assert "disagreement" not in res.output
    assert [f for f in read_findings(ds.attrs) if f.kind == "disagreement"] == []


def test_a_kernel_without_tlb_remove_table_is_a_note_not_a_finding(tmp_path):
    """v6.3-baremetal has no tlb_remove_table(): the config asks for a vacuous point, so
    it is a note and --strict passes."""
    text = GATHER_ONE.format(seed=1, kernel="v6.3-baremetal")
    out = tmp_path / "bare.nc"
    runner = CliRunner()
    res = runner.invoke(
        main, ["run", str(_config(tmp_path, text)), "--out", str(out), "--quiet", "--strict"]
    )
    assert res.exit_code == 0, res.output
    assert "findings: none" in res.output
    assert "notes (1): information, not findings" in res.output
    assert "note: kernel v6.3-baremetal frees page tables without tlb_remove_table()" in res.output
    ds = open_dataset(out)
    assert read_findings(ds.attrs) == []
    assert [f.kind for f in read_notes(ds.attrs)] == ["note"]
    status = runner.invoke(main, ["status", str(out)])
    assert "notes (1):" in status.output and "findings (" not in status.output
    show = runner.invoke(main, ["show", str(out)])
    assert "Findings: none recorded." in show.output and "Notes (1)" in show.output
    html = out.with_suffix(".html").read_text()
    assert "No findings" in html and "Note (information, not a finding)" in html
