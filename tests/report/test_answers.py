"""Answers first: the sentences, the summary tables, the text block ``mcstudy run`` ends
with, ``mcstudy show``'s readable summary of every kind of dataset, the probe's report
without Monte Carlo sections, and PDF tables that keep every column."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from mcstudy.report.answering import answers_for
from mcstudy.report.answers import WIDTH, Table, cell, column_parts, quote, render_text, table_text
from mcstudy.report.summary import answers_block, summarize
from mcstudy.storage.dataset import open_dataset, write_dataset
from mcstudy.study import load_study
from mcstudy.sweep.coordinator import run_study
from tests.paths import REPO

HOST_TOML = """\
[study]
name = "tiny-host"
model = "host"
seed = 3
sequences = 6
block_size = 2

[params]
horizon_s = 40.0
host_memory_gib = 0.5
thp_lifetime_s = 60.0
zone_scale = 16

[sweep]
load = ["steady", "bursts"]
kernel = ["v6.3-baremetal", "v6.15"]
"""


TINY_HOST = ["host_memory_gib=0.5", "thp_lifetime_s=60.0", "zone_scale=16"]
"""A 0.5 GiB host whose THPs (80 % of it) turn over faster than khugepaged collapses."""


def _lines_fit(text: str) -> None:
    long = [x for x in text.splitlines() if len(x) > WIDTH]
    assert long == [], long[:3]


@pytest.fixture(scope="module")
def host_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("host")
    cfg = d / "tiny-host.toml"
    cfg.write_text(HOST_TOML)
    return write_dataset(run_study(load_study(cfg), show_progress=False), d / "tiny-host.nc")


def test_a_zero_is_never_printed_as_an_empty_interval():
    assert quote(0.0, 0.0, 0.12, "per hour") == "0 (upper bound 0.12) per hour"
    assert cell(0.0, 0.0, 0.12) == ("0", "< 0.12")
    assert quote(676.0, 527.0, 825.0) == "676 [527, 825]"
    assert "[0, 0]" not in quote(0.0, 0.0, 0.0)
    assert quote(math.nan, math.nan, math.nan) == "not computed"


def test_wide_tables_keep_every_column():
    widths = [20, 30, 30, 30, 30, 30]
    parts = column_parts(widths, 100)
    assert sorted(j for p in parts for j in p) == list(range(1, 6))
    assert all(20 + sum(2 + widths[j] for j in p) <= 100 for p in parts)
    header = ["label", *(f"column {j} " + "x" * 20 for j in range(1, 9))]
    t = Table("wide", header, [[("row", None), *((f"{j}" * 25, "[1, 2]") for j in range(1, 9))]])
    lines = table_text(t, WIDTH)
    assert all(len(x) <= WIDTH for x in lines)
    assert all(any(h in x for x in lines) for h in header)


def test_host_answers_quote_every_question_with_intervals(host_dataset):
    ds = open_dataset(host_dataset)
    ans = answers_for(ds)
    assert ans is not None and len(ans.items) == 6
    text = " ".join(i.question + " " + i.answer for i in ans.items)
    # the 0.5 GiB host: 80 % of it in THPs (205), 820 KiB of deposited tables
    for words in ("tlb_remove_table_one()", "GFP_NOWAIT", "khugepaged", "broadcast", "KiB"):
        assert words in text
    assert "[0, 0]" not in text and "per hour" in text
    assert [t.header[0] for t in ans.tables] == [
        "load / kernel",
        "ipi_policy \\ collapse_policy",
        "table policy",
    ]
    block = answers_block(ds)
    assert block is not None and block.splitlines()[1].startswith("Answers: bursts load")
    _lines_fit(block)
    # kernels the study does not sweep: what 7.x changes is still said
    kern = next(i for i in ans.items if i.question.startswith("What changes from kernel"))
    assert "Not swept here" in kern.answer and "`v7.1-sync-rcu`" in kern.answer
    assert "synchronize_rcu()" in kern.answer
    # a zone with coarse levels (zone_scale=16) says what they are
    notes = " ".join(ans.notes)
    assert "levels of 16 pages" in notes and "page by page near its min mark" in notes


def test_show_prints_a_readable_summary_not_the_repr(host_dataset, capsys):
    from click.testing import CliRunner

    from mcstudy.cli import main

    res = CliRunner().invoke(main, ["show", str(host_dataset)])
    assert res.exit_code == 0, res.output
    out = res.output
    assert "Data variables" not in out and "<xarray" not in out
    for part in ("Answers:", "Findings", "Estimates (", "Provenance:", "fallbacks_per_hour"):
        assert part in out
    main = "isolated_cpu_ipis_per_hour[ipi_policy=broadcast,collapse_policy=sync_ipi] ("
    assert main in out and "load=bursts, kernel=v6.15:" in out
    _lines_fit(out)


def test_host_policies_are_dimensions_that_show_answers_and_report_select(host_dataset, tmp_path):
    """One run computes every policy on the same sequences: the dataset holds them along
    ``ipi_policy``, ``collapse_policy``, ``table_policy`` and ``cache_k``, not in variable
    names; the Answers' per-policy table, ``mcstudy show`` and the report select each cell
    by coordinate."""
    from mcstudy.kernel.policies import COLLAPSE_POLICIES, IPI_POLICIES, SPLIT_TABLE_VARIANTS
    from mcstudy.report.build import write_report
    from tests.report.htmlcheck import parse

    ds = open_dataset(host_dataset)
    iso = ds["isolated_cpu_ipis_per_hour"]
    assert iso.dims == ("load", "kernel", "ipi_policy", "collapse_policy")
    assert list(ds["ipi_policy"].values) == list(IPI_POLICIES)
    assert list(ds["collapse_policy"].values) == list(COLLAPSE_POLICIES)
    assert ds["rt_cycle_ipis_max_exact"].dims[-2:] == ("ipi_policy", "collapse_policy")
    assert ds["collapse_ipis_per_hour"].dims[-1] == "collapse_policy"
    assert ds["split_alloc_failures_per_hour_ci_high"].dims[-1] == "table_policy"
    assert list(ds["table_policy"].values) == [v.name for v in SPLIT_TABLE_VARIANTS]
    assert ds["reserve_bytes_mean"].dims[-1] == "cache_k"
    assert ds.attrs["main_estimate"] == "isolated_cpu_ipis_per_hour"
    policies = (*IPI_POLICIES, *COLLAPSE_POLICIES, *(v.name for v in SPLIT_TABLE_VARIANTS))
    assert not [n for n in ds.data_vars if any(str(n).endswith(f"_{p}") for p in policies)]

    ans = answers_for(ds)
    assert ans is not None
    table = next(t for t in ans.tables if t.header[0] == "ipi_policy \\ collapse_policy")
    assert table.header[1:] == list(COLLAPSE_POLICIES)
    assert [row[0][0] for row in table.rows] == list(IPI_POLICIES)
    for row in table.rows:
        for col, got in zip(COLLAPSE_POLICIES, row[1:], strict=True):
            at = dict(load="bursts", kernel="v6.15", ipi_policy=row[0][0], collapse_policy=col)
            y = float(iso.sel(at))
            lo = float(ds["isolated_cpu_ipis_per_hour_ci_low"].sel(at))
            hi = float(ds["isolated_cpu_ipis_per_hour_ci_high"].sel(at))
            assert got == cell(y, max(lo, 0.0), hi), (at, got)
    assert len({c for row in table.rows for c in row[1:]}) > 1  # the cells differ

    text = summarize(ds, host_dataset, width=WIDTH)
    assert (
        "isolated_cpu_ipis_per_hour[ipi_policy=kernel_mode,collapse_policy=fresh_table] (" in text
    )
    assert "reserve_bytes_mean[cache_k=64] (" in text

    out = write_report(host_dataset, tmp_path / "h.html", convergence_seconds=0)
    html = next(t for t in parse(out).tables if t.header[:1] == ["ipi_policy \\ collapse_policy"])
    assert "answers-ipis-per-policy" in parse(out).captions
    assert "answers-stall-sensitivity" not in parse(out).captions  # no stall_mean_s sweep
    assert [[c.text.strip() for c in r] for r in html.rows] == [
        [c[0] for c in r] for r in table.rows
    ]


def test_run_ends_with_the_answers_block(tmp_path):
    from click.testing import CliRunner

    from mcstudy.cli import main

    cfg = tmp_path / "h.toml"
    cfg.write_text(HOST_TOML.replace('["steady", "bursts"]', '["bursts"]'))
    res = CliRunner().invoke(main, ["run", str(cfg), "--out", str(tmp_path / "h.nc"),
                                    "--no-report", "--quiet"])  # fmt: skip
    assert res.exit_code == 0, res.output
    tail = res.output[res.output.index("-" * WIDTH) :]  # the block, after "wrote ..."
    assert res.output.index("wrote") < res.output.index("-" * WIDTH)
    assert "Answers: bursts load" in tail and "How often does the tlb_remove_table_one()" in tail
    _lines_fit(tail)


def test_the_probe_report_has_no_monte_carlo_sections(tmp_path):
    from mcstudy.report.build import write_report
    from mcstudy.report.catalog import builders_for
    from mcstudy.report.sections.convergence import convergence
    from mcstudy.report.sections.estimates import estimates
    from mcstudy.report.sections.provenance import provenance
    from tests.probe.conftest import PROFILE
    from tests.probe.test_dataset import _dataset

    builders = builders_for(("probe",))
    assert estimates not in builders and convergence not in builders
    assert provenance in builders
    ds, _ = _dataset(PROFILE)
    path = write_dataset(ds, tmp_path / "probe.nc")
    html = write_report(path, tmp_path / "probe.html").read_text()
    assert 'id="answers"' in html and 'id="estimates"' not in html
    assert html.index('id="answers"') < html.index('id="summary"')
    text = summarize(open_dataset(path), path)
    assert "Does the running kernel do what the model says?" in text
    _lines_fit(text)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("config", "overrides"),
    [
        ("default.toml", ["sequences=2", "horizon_s=30.0", *TINY_HOST]),
        ("gather-grid.toml", ["sequences=2000"]),
        ("pressure.toml", ["sequences=4", "warmup_s=1.0", "horizon_s=1.0"]),
        ("thp.toml", ["sequences=2", "horizon_s=20.0"]),
        ("rt.toml", ["sequences=2", "horizon_s=20.0"]),
        ("kernels.toml", ["sequences=2", "horizon_s=30.0", *TINY_HOST]),
    ],
)
def test_show_summarizes_every_shipped_study(config, overrides, tmp_path):
    study = load_study(REPO / "configs" / config, overrides)
    path = write_dataset(run_study(study, show_progress=False), tmp_path / "d.nc")
    ds = open_dataset(path)
    ans = answers_for(ds)
    assert ans is not None and ans.items and ans.tables
    text = summarize(ds, path)
    assert "Data variables" not in text and "Answers:" in text and "Provenance:" in text
    assert "[0, 0]" not in text
    _lines_fit(text)
    assert render_text(ans).startswith("Answers")


def test_pdf_keeps_every_column_on_a4_pages():
    import re

    from mcstudy.document.blocks import Cell, FigureBlock, Report, Section, TableBlock
    from mcstudy.report.figures import new_figure
    from mcstudy.report.pdf import WIDTH as PDF_WIDTH
    from mcstudy.report.pdf import _table_lines, render_pdf

    header = ["p \\ n", *(f"{n:,}" for n in (1, 8, 64, 508, 509, 510, 1018, 5000, 100000))]
    rows = [[Cell("0.5"), *(Cell("0.4999", "[0.4987, 0.5011]") for _ in header[1:])]]
    table = TableBlock("wide", header, rows, kind="estimates")
    lines = _table_lines(table)
    assert all(len(x) <= PDF_WIDTH for x in lines)
    assert all(any(h in x for x in lines) for h in header)  # 100,000 is not cut off
    fig = new_figure(9.0, 3.0)  # not A4
    fig.subplots().plot([0, 1], [0, 1])
    report = Report("t", "s", [], [], [Section("x", "X", [table, FigureBlock("f", "F", "c", fig)])])
    pdf = render_pdf(report)
    boxes = set(re.findall(rb"/MediaBox \[ ?([0-9. ]+)\]", pdf))
    assert len(boxes) == 1 and len(re.findall(rb"/Type /Page\b", pdf)) >= 2


def test_answers_that_rest_on_assumed_values_say_so(host_dataset):
    """khugepaged's default rate is its scan pace (an upper bound), the zero IPIs of the
    mm-only policies follow from rt_mm_share = 0, and instantaneous direct reclaim is an
    assumption: the notes say all three; none appears once the values are given (a
    calibrated rate, a share above 0, a stall time from a config)."""
    import json

    ds = open_dataset(host_dataset)
    notes = " ".join(answers_for(ds).notes)
    assert "Assumed: khugepaged collapses 0.8 times per second" in notes
    assert "upper bounds" in notes and "thp_collapse_alloc" in notes
    assert "`mm_cpumask`" in notes and "follow from rt_mm_share = 0 (its default)" in notes
    assert "Assumed: direct reclaim is instantaneous (stall_mean_s = 0)" in notes
    given = ds.copy()
    info = json.loads(given.attrs["parameter_info"])
    info["khugepaged_collapse_rate"]["source"] = "config"
    info["stall_mean_s"]["source"] = "config"
    params = json.loads(given.attrs["parameters"])
    params["rt_mm_share"] = 0.5
    given.attrs["parameter_info"] = json.dumps(info)
    given.attrs["parameters"] = json.dumps(params)
    notes = " ".join(answers_for(given).notes)
    assert "Assumed: khugepaged" not in notes and "rt_mm_share = 0" not in notes
    assert "instantaneous (stall_mean_s = 0)" not in notes


STALL_TOML = HOST_TOML.replace(
    '[sweep]\nload = ["steady", "bursts"]\nkernel = ["v6.3-baremetal", "v6.15"]',
    '[sweep]\nload = ["bursts"]\nkernel = ["v6.15"]\nstall_mean_s = [0.001, 0.01]',
).replace("zone_scale = 16", "zone_scale = 256\nalloc_tasks = 2")


@pytest.mark.slow
def test_a_stall_sweep_draws_fallbacks_and_ipis_against_the_mean_stall(tmp_path):
    """A study that sweeps stall_mean_s gets the sensitivity figure in its Answers
    section, in milliseconds, with fallbacks and isolated-CPU IPIs per hour."""
    from mcstudy.report.build import write_report
    from tests.report.htmlcheck import parse

    assert "stall_mean_s" in STALL_TOML and "alloc_tasks = 2" in STALL_TOML
    cfg = tmp_path / "stalls.toml"
    cfg.write_text(STALL_TOML)
    path = write_dataset(run_study(load_study(cfg), show_progress=False), tmp_path / "s.nc")
    out = write_report(path, tmp_path / "s.html", convergence_seconds=0)
    doc = parse(out)
    caption = doc.captions.get("answers-stall-sensitivity", "")
    assert "mean direct-reclaim stall" in caption and "assumption" in caption
