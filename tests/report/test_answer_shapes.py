"""The Answers of every model render for every sweep shape (one point, one dimension,
two dimensions) without the defects of template sentences: no "None", no "e+03" counts,
no empty table or empty "Measured (...): .", one unit inside an interval, an Answers
block at all (issue 19, items 7 and 9).

The datasets are built from each model's own declarations (``build_dataset``, as
``mcstudy run`` assembles them) with synthetic values, so every model and shape is
checked in milliseconds and the values can be chosen to provoke the defects: a count
of 6,028.18 THPs, 23.4 MiB deposited, 32,512 per hour, and a study whose every
estimate is 0 while its exact value is not.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pytest

from mcstudy.models.registry import get_model
from mcstudy.report.answering import answers_for
from mcstudy.report.answers import render_text
from mcstudy.report.sections.answers import answer_blocks
from mcstudy.report.summary import answers_block, summarize
from mcstudy.storage.dataset import build_dataset
from tests.report.conftest import load_study_from_text

GATHER = """\
[study]
name = "g"
model = "gather"
seed = 1
sequences = 1000
[params]
{params}
[sweep]
{sweep}
"""

PRESSURE_PARAMS = """\
managed_pages = 5394266
wmark_min = 14769
wmark_low = 20163
wmark_high = 25557
alloc_rate = 10000.0
free_rate = 10000.0
gather_rate = 50.0
tables_per_gather = 8
horizon_s = 30.0
kswapd_rate = 100.0
"""

HOST_PARAMS = "horizon_s = 120.0\nhost_memory_gib = 0.5\nzone_scale = 16\nthp_lifetime_s = 60.0\n"

RT_PARAMS = """\
horizon_s = 3600.0
collapse_rate = 0.8
gather_rate = 20.0
tables_per_gather = 64
kernel = "v6.15"
pressure_fail_p = 1.0
fresh_table_gfp = "kernel"
mm_cpus = 8
"""

#: (model, shape, [params], [sweep]): every model in one point, one and two dimensions,
#: with the shapes issue 19 saw break
CASES: list[tuple[str, str, str, str]] = [
    ("gather", "one", "gfp_nowait_fail_p = 0.01\ntables_per_gather = 64", 'kernel = ["v6.15"]'),
    ("gather", "one-dim", "tables_per_gather = 64", "gfp_nowait_fail_p = [1e-6, 0.01]"),
    (
        "gather",
        "two-dim munmap",
        "gfp_nowait_fail_p = 0.01",
        'kernel = ["v6.3-baremetal", "v6.3-kvm-pv"]\nmunmap_mib = [2.0, 64.0]',
    ),
    (
        "gather",
        "two-dim",
        'kernel = "v6.15"',
        "gfp_nowait_fail_p = [1e-4, 0.3]\ntables_per_gather = [1, 5000]",
    ),
    ("pressure", "one", PRESSURE_PARAMS, "alloc_scale = [1.05]"),
    (
        "pressure",
        "one-dim not a load",
        PRESSURE_PARAMS.replace("kswapd_rate = 100.0\n", ""),
        "kswapd_rate = [50.0, 100.0]",
    ),
    (
        "pressure",
        "two-dim",
        PRESSURE_PARAMS.replace("kswapd_rate = 100.0\n", ""),
        "alloc_scale = [1.02, 1.2]\nkswapd_rate = [50.0, 100.0]",
    ),
    (
        "thp",
        "one sync_ipi",
        'horizon_s = 600.0\ntable_policy = "deposit"',
        'collapse_policy = ["sync_ipi"]',
    ),
    (
        "thp",
        "one rt kernel_mode fresh_table",
        RT_PARAMS,
        'ipi_policy = ["kernel_mode"]\ncollapse_policy = ["fresh_table"]\n'
        "pressure_fraction = [0.01]\nrt_mm_share = [1.0]",
    ),
    ("thp", "one cache", 'fault_rate = 130.0\ntable_policy = "cache_k"', "cache_k = [4]"),
    ("thp", "one-dim pressure", "fault_rate = 130.0", "pressure_fraction = [0.001, 0.01]"),
    (
        "thp",
        "two-dim policies",
        RT_PARAMS,
        'ipi_policy = ["broadcast", "rcu"]\ncollapse_policy = ["sync_ipi", "fresh_table", '
        '"rcu_free"]',
    ),
    (
        "thp",
        "two-dim cache",
        'fault_rate = 130.0\ntable_policy = "cache_k"',
        "pressure_fraction = [0.001, 0.05]\ncache_k = [0, 16]",
    ),
    ("host", "one", HOST_PARAMS, 'load = ["bursts"]'),
    (
        "host",
        "one-dim kernel",
        HOST_PARAMS,
        'kernel = ["v6.3-baremetal", "v6.14-pt-reclaim", "v6.15"]',
    ),
    (
        "host",
        "one-dim not load",
        HOST_PARAMS.replace("host_memory_gib = 0.5\n", ""),
        "host_memory_gib = [0.5, 1.0]",
    ),
    (
        "host",
        "two-dim",
        HOST_PARAMS,
        'load = ["steady", "bursts"]\nkernel = ["v6.14-pt-reclaim", "v6.15"]',
    ),
]

#: synthetic values by unit: numbers that the old templates printed as "6e+03",
#: "3.25e+04" or in two units
BY_UNIT = {
    "bytes": 23.4 * (1 << 20),
    "mappings": 6028.18,
    "THPs": 6028.18,
    "IPIs/h": 32512.3,
    "tables/h": 32512.3,
    "failures/h": 592.4,
    "1": 0.0123,
}


def _values(model: Any, zero: bool, point: int) -> dict[str, Any]:
    """One point's values: every declared variable, estimates with interval and exact."""
    out: dict[str, Any] = {}
    for name, var in model.variables.items():
        if var.dtype == "int64":
            out[name] = 4 if name in ("sequences", "rt_cycles") else 64
    for spec in model.estimate_specs:
        units = model.variables[spec.name].units
        y = BY_UNIT.get(units, 3570.4) * (1.0 + 0.1 * point)
        exact = y * 1.001
        if zero:
            # every estimate 0; the exact value of every other one positive, so the
            # answers must say "too short to see" there and "never" elsewhere
            y, exact = 0.0, (exact * 1e-3 if point % 2 == 0 else 0.0)
        lo, hi = (0.0, 29.0 if units.endswith("/h") else 0.49) if zero else (0.98 * y, 1.02 * y)
        out[spec.name] = y
        if spec.stderr:
            out[spec.stderr] = (hi - lo) / 3.92
        if spec.ci:
            out[spec.ci[0]], out[spec.ci[1]] = lo, hi
        if spec.exact:
            out[spec.exact] = exact
        if spec.exact_var:
            out[spec.exact_var] = 1.0
    return out


def _dataset(model_name: str, params: str, sweep: str, zero: bool):
    study = load_study_from_text(
        GATHER.replace('"gather"', f'"{model_name}"').format(params=params, sweep=sweep)
    )
    model = get_model(model_name)
    results = [_values(model, zero, i) for i in range(study.n_points)]
    return build_dataset(study, model, results, {})


BAD = [
    (re.compile(r"\bNone\b"), "None"),
    (re.compile(r"\bnan\b", re.I), "nan"),
    (re.compile(r"\d(\.\d+)?e\+"), "a number written e+NN"),
    (re.compile(r"\d(\.\d+)?e[0-5]\b"), "a number below a million in scientific notation"),
    (re.compile(r"\): \.|: \.$|: \.\s", re.M), "an empty list after a colon"),
    (
        re.compile(r"\d ?(KiB|MiB|GiB|%|per hour) \[[^\]]*\]"),
        "a unit between a number and its interval",
    ),
    (re.compile(r"\[[^\]]*(KiB|MiB|GiB)[^\]]*\]"), "a unit inside an interval"),
    (re.compile(r"at any load \("), "'at any load' followed by one load"),
    (re.compile(r"Under the (\w+) load[^.]*none under the \1 load"), "the same load twice"),
    (re.compile(r"`"), "a literal backtick in terminal text"),
    (re.compile(r"host-hours per row"), "sequences counted as host-hours"),
    (re.compile(r"\[0, 0\]"), "an empty interval"),
]


def _defects(text: str) -> list[str]:
    return [f"{why}: {m.group(0)!r}" for pat, why in BAD for m in pat.finditer(text)]


@pytest.mark.parametrize("zero", [False, True], ids=["values", "all-zero"])
@pytest.mark.parametrize(
    ("model", "shape", "params", "sweep"), CASES, ids=[c[0] + ": " + c[1] for c in CASES]
)
def test_answers_render_for_every_model_and_sweep_shape(model, shape, params, sweep, zero):
    ds = _dataset(model, params, sweep, zero)
    ans = answers_for(ds)
    assert ans is not None and ans.items, f"no answers for {model} {shape}"
    assert not any("No answers" in n for n in ans.notes), ans.notes
    for t in ans.tables:
        assert t.rows, f"empty table: {t.caption}"
        assert all(len(row) == len(t.header) for row in t.rows), t.caption
    for item in ans.items:
        assert item.answer.strip() and not item.answer.rstrip().endswith(": ."), item
    text = render_text(ans, 100)
    assert _defects(text) == [], text
    assert all(len(line) <= 100 for line in text.splitlines())
    block = answers_block(ds)
    assert block is not None and "Answers" in block
    narrow = render_text(ans, 80)
    assert all(len(line) <= 80 for line in narrow.splitlines()), narrow
    assert answer_blocks(ans)  # the report's section builds from the same answers


def test_a_study_with_every_estimate_zero_says_why_not_never():
    """Item 4: estimate 0 with a positive exact value is "too short to see it", with the
    run that would show it; "never" is kept for an exact value of 0."""
    ds = _dataset("host", HOST_PARAMS, 'load = ["steady", "bursts"]', zero=True)
    text = " ".join(render_text(answers_for(ds), 100).split())
    assert "too short to see it" in text
    assert "would be expected to show" in text
    assert "No: never under" not in text


def test_show_writes_every_number_one_way():
    """Item 9: one formatter everywhere in ``mcstudy show``: no "exact 3570" beside
    "2,880", no "5.285e+04", no interval whose ends print alike."""
    ds = _dataset("host", HOST_PARAMS, 'load = ["steady", "bursts"]', zero=False)
    for name in ("isolated_cpu_ipis_per_hour", "fallbacks_per_hour"):
        ds[name][:] = 1_171_234.0
        ds[name + "_ci_low"][:] = 1_170_900.0
        ds[name + "_ci_high"][:] = 1_171_500.0
    text = summarize(ds, "d.nc")
    assert _defects(text.replace("`", "")) == []
    assert re.search(r"exact \d{4}\b", text) is None  # 3570 without its separator
    for lo, hi in re.findall(r"\[([^\],]+(?:,\d{3})*), ([^\]]+)\]", text):
        assert lo != hi, (lo, hi)
    assert "5.285e" not in text and "1.171e6, 1.171e6" not in text
    assert np.isfinite(ds["fallbacks_per_hour"].values).all()


def _flat(ds) -> str:
    return " ".join(render_text(answers_for(ds), 100).split())


def test_host_sample_is_sequences_and_their_length():
    """Item 2: 4 sequences of 120 s are 0.133 host-hours, not "4 host-hours"."""
    text = _flat(_dataset("host", HOST_PARAMS, 'load = ["steady", "bursts"]', zero=False))
    assert "4 sequences of 120 s (0.133 host-hours) per row" in text
    assert "Sample: 4 sequences of 120 s (0.133 host-hours) per point" in text
    assert "4 host-hours" not in text and "of 4 host-hours" not in text


def test_fresh_table_sentence_says_what_the_model_does():
    """Item 8: in the host (fresh GFP_NOWAIT table) a collapse sends a round only when
    the fresh table fails, and the old table's batch page cannot fail then; with a
    blocking fresh table the old table's batch page is what can send one."""
    text = _flat(_dataset("host", HOST_PARAMS, 'load = ["bursts"]', zero=False))
    assert "a collapse sends a round only when that allocation fails" in text
    assert "so it cannot fail" in text and "the two give the same number" in text
    assert "(or the old table's batch page) failed" not in text
    blocking = HOST_PARAMS + 'fresh_table_gfp = "kernel"\n'
    text = _flat(_dataset("host", blocking, 'load = ["bursts"]', zero=False))
    assert (
        "never fails" in text and "whose batch page fails while the zone is at or below min" in text
    )
    rt = _flat(_dataset("thp", RT_PARAMS, 'collapse_policy = ["sync_ipi", "fresh_table"]', False))
    assert "fresh_table_gfp = kernel" in rt and "1 in a pressure episode, 0 outside" in rt


def test_kernels_fallback_difference_has_its_reason():
    """Item 8: fallbacks per hour on a kernel whose fallback waits for its IPI round
    against a call_rcu() kernel: the exact values and the reason."""
    ds = _dataset("host", HOST_PARAMS, 'kernel = ["v6.14-pt-reclaim", "v6.15"]', zero=False)
    ds["fallbacks_per_hour_exact"].loc[{"kernel": "v6.15"}] = 689.56
    ds["fallbacks_per_hour_exact"].loc[{"kernel": "v6.14-pt-reclaim"}] = 713.80
    text = _flat(ds)
    assert "differ in the model by 3.4 %" in text
    assert "exact 689.6 on v6.15 against 713.8 on v6.14-pt-reclaim" in text
    assert "waits for it" in text and "Monte Carlo noise" in text


def test_answers_that_cannot_be_built_say_why(monkeypatch):
    """A sentence that fails never ends a finished run: the block says why instead."""
    from mcstudy.report import answering

    def broken(ds):
        raise TypeError("'int' object is not iterable")

    monkeypatch.setitem(answering.builders(), "thp", broken)
    ds = _dataset("thp", "fault_rate = 130.0", "pressure_fraction = [0.001]", zero=False)
    block = answers_block(ds)
    assert block is not None and "No answers: building them failed (TypeError" in block


ONE_POINT_THP = """\
[study]
name = "thp-one"
model = "thp"
seed = 1
sequences = 4
block_size = 1

[params]
horizon_s = 60.0
collapse_rate = 0.8
table_policy = "deposit"

[sweep]
collapse_policy = ["sync_ipi"]
"""


@pytest.mark.slow
@pytest.mark.parametrize(
    ("config", "overrides"),
    [
        (None, []),  # the one-point THP study that died in answers.py with a TypeError
        (
            "rt.toml",  # printed no Answers block at all
            [
                "sweep.ipi_policy=kernel_mode",
                "sweep.collapse_policy=fresh_table",
                "sweep.pressure_fraction=0.01",
                "sweep.rt_mm_share=1",
                "study.sequences=2",
                "horizon_s=60",
            ],
        ),
        ("gather-munmap", []),  # "Measured (kernel = v6.3-kvm-pv, munmap_mib = 2): ."
    ],
    ids=["thp-one-point", "rt-kernel-mode-fresh-table", "gather-munmap"],
)
def test_issue_runs_end_with_their_answers(config, overrides, tmp_path):
    from click.testing import CliRunner

    from mcstudy.cli import main
    from tests.paths import REPO

    if config is None:
        path = tmp_path / "thp-one.toml"
        path.write_text(ONE_POINT_THP)
    elif config == "gather-munmap":
        path = tmp_path / "g.toml"
        path.write_text(
            GATHER.format(
                params="gfp_nowait_fail_p = 0.01",
                sweep='kernel = ["v6.3-kvm-pv", "v6.15"]\nmunmap_mib = [2.0, 64.0]',
            )
        )
    else:
        path = REPO / "configs" / config
    args = ["run", str(path), "--out", str(tmp_path / "o.nc"), "--no-report", "--quiet"]
    res = CliRunner().invoke(main, args + [a for o in overrides for a in ("--set", o)])
    assert res.exit_code in (0, 3), res.output
    assert "Answers:" in res.output and "Traceback" not in res.output
    assert _defects(res.output.split("findings")[0].replace("`", "")) == []
