"""'What was simulated' shows the values the model derives for unset parameters (from its
own resolution), and the Answers point to the findings where they are."""

from __future__ import annotations

from pathlib import Path

import pytest

from mcstudy.findings import FINDINGS_ATTR, Finding, encode_findings
from mcstudy.models.gather.params import GatherParams
from mcstudy.models.host.params import HostParams
from mcstudy.storage.dataset import open_dataset, write_dataset
from tests.report.htmlcheck import parse

HOST = """\
[study]
name = "host-design"
model = "host"
seed = 4
sequences = 4
block_size = 2

[params]
horizon_s = 30.0

[sweep]
load = ["idle", "bursts"]
"""


def test_host_resolution_is_its_setup() -> None:
    p = HostParams(load="bursts", kernel="v6.15")
    s = p.setup()
    got = {k: v for k, (v, _) in p.resolved().items()}
    z = s.zone
    assert got["managed_pages"] == z.managed_pages and got["wmark_min"] == z.wmark_min
    assert got["wmark_low"] == z.wmark_low and got["wmark_high"] == z.wmark_high
    assert got["alloc_rate"] == z.alloc_rate and got["burst_alloc_rate"] == z.burst_alloc_rate
    assert got["zone_scale"] == s.scale and got["tables_per_gather"] == s.tables_per_gather
    assert got["max_table_batch"] == p.batch() and got["split_cpus"] == p.n_split_cpus()
    assert got["host_memory_gib"] == s.memory_gib and got["thp_fault_rate"] == s.thp_fault_rate
    # a value given in the config is not "derived"
    given = HostParams(alloc_rate=5.0, managed_pages=10_000, wmark_min=10, wmark_low=20,
                       wmark_high=30, khugepaged_collapse_rate=0.0)  # fmt: skip
    assert "alloc_rate" not in given.resolved() and "managed_pages" not in given.resolved()
    g = GatherParams(munmap_mib=64.0, gfp_nowait_fail_p=0.1)
    assert g.resolved()["tables_per_gather"][0] == g.n_tables()


@pytest.fixture(scope="module")
def host_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The report of a host study whose points are all pending (no kernel runs: the
    design section needs only the study and the model)."""
    from mcstudy.report.build import write_report
    from mcstudy.storage.assemble import dataset_from_records
    from mcstudy.sweep.point import point_code_version
    from tests.report.conftest import load_study_from_text

    d = tmp_path_factory.mktemp("host-design")
    study = load_study_from_text(HOST)
    ds = dataset_from_records(study, {}, point_code_version(study.model))
    path = write_dataset(ds, d / "host.nc")
    return write_report(path, d / "host.html", exact_curve_seconds=0)


def _fixed(p) -> dict[str, list[str]]:
    table = next(t for t in p.tables if t.section == "design" and t.header[0] == "parameter"
                 and "from" in t.header)  # fmt: skip
    return {r[0].text.strip(): [c.text.strip() for c in r[1:]] for r in table.rows}


def test_design_shows_the_derived_values(host_report: Path) -> None:
    p = parse(host_report)
    rows = _fixed(p)
    assert "(not used)" not in p.text("design")
    s = HostParams().setup()
    value, units, source, _ = rows["managed_pages"]
    assert value.startswith(f"{s.zone.managed_pages:,} (") and value.endswith("GiB)")
    assert units == "pages" and source.startswith("derived from host_memory_gib")
    assert rows["wmark_min"][0].startswith(f"{s.zone.wmark_min:,} (")
    # alloc_rate depends on the swept load: one value per load, the model's own
    idle = HostParams(load="idle").setup().zone.alloc_rate
    bursts = HostParams(load="bursts").setup().zone.alloc_rate
    assert rows["alloc_rate"][0] == f"idle: {idle:,.0f}; bursts: {bursts:,.0f} (by load)"
    assert rows["alloc_rate"][2] == "derived from load (its preset rates)"
    assert rows["burst_alloc_rate"][0].startswith("idle: none; bursts: ")
    assert rows["max_table_batch"][2] == "derived from kernel (its profile)"
    assert rows["thp_split_rate"][0] == "not set"  # an alternative input, really unused


def test_answers_point_to_the_findings_above_them(gather_dataset: Path, tmp_path: Path) -> None:
    from mcstudy.report.build import write_report

    ds = open_dataset(gather_dataset)
    ds.attrs[FINDINGS_ATTR] = encode_findings(
        [Finding(0, "fallback_prob", "warning", "a finding the Answers must point to")]
    )
    path = write_dataset(ds, tmp_path / "findings.nc")
    p = parse(write_report(path, tmp_path / "findings.html", convergence_seconds=0))
    assert p.sections.index("findings") < p.sections.index("answers")
    text = p.text("answers")
    assert "see the findings above" in text and "right below" not in text
