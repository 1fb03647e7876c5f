"""Smoke test of ``mcstudy bench --quick``: it runs and its results have the documented
structure. Speed is never asserted here (targets are judged by a full run)."""

from __future__ import annotations

import json
import math

import pytest
from click.testing import CliRunner

from mcstudy.bench.baselines.registry import BASELINES
from mcstudy.bench.limits import GENERATORS
from mcstudy.bench.suite import SCHEMA
from mcstudy.cli import main
from mcstudy.models.registry import builtin_model_names, model_names

pytestmark = pytest.mark.bench


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench") / "quick.json"
    result = CliRunner().invoke(main, ["bench", "--quick", "--quiet", "--out", str(out)])
    assert result.exit_code == 0, result.output
    return json.loads(out.read_text()), result.output, out


def _positive(x):
    return isinstance(x, int | float) and math.isfinite(x) and x > 0


def test_header_and_machine(quick):
    doc, _, _ = quick
    assert doc["schema"] == SCHEMA and doc["quick"] is True
    assert {"host", "platform", "cpu_model", "logical_cpus", "usable_cpus"} <= set(doc["machine"])
    for key in ("mcstudy_version", "numba_version", "numpy_version", "numba_threads"):
        assert key in doc["versions"]
    measured = doc["threads"]["measured"]
    assert measured[0] == 1 and measured[-1] == doc["threads"]["max"]
    assert "draw_time" in doc["definitions"]


def test_limits_cover_every_generator_and_thread_count(quick):
    doc, _, _ = quick
    seen = {(r["generator"], r["threads"]) for r in doc["limits"]}
    assert seen == {(g, t) for g in GENERATORS for t in doc["threads"]["measured"]}
    assert all(_positive(r["per_second"]) and r["draws"] > 0 for r in doc["limits"])


def test_every_registered_model_is_measured(quick):
    doc, _, _ = quick
    assert [m["model"] for m in doc["models"]] == list(builtin_model_names())
    for m in doc["models"]:
        assert [r["threads"] for r in m["runs"]] == doc["threads"]["measured"]
        for r in m["runs"]:
            assert _positive(r["sequences_per_second"]) and r["sequences"] > 0
            if m["events_unit"]:
                assert _positive(r["events_per_second"]) and _positive(r["events_per_draw_time"])
            assert _positive(r["parallel_efficiency"])
        assert m["runs"][0]["parallel_efficiency"] == pytest.approx(1.0)


def test_baselines_run_with_speedups(quick):
    doc, _, _ = quick
    gather = {b["baseline"]: b for b in doc["baselines"] if b["model"] == "gather"}
    assert set(gather) == {"python-per-table", "python-per-attempt", "numpy-per-attempt"}
    for b in doc["baselines"]:
        assert b["baseline"] in BASELINES
        if "skipped" in b:
            continue
        assert _positive(b[f"{b['speedup_on']}_per_second"])
        assert _positive(b["speedup"]) and _positive(b["speedup_1_thread"])


def test_scaling_and_memory_measured_in_subprocess(quick):
    doc, _, _ = quick
    assert [s["model"] for s in doc["scaling"]] == list(builtin_model_names())
    for s in doc["scaling"]:
        assert len(s["points"]) >= 2
        for p in s["points"]:
            assert _positive(p["seconds"]) and p["rss_peak_bytes"] >= p["rss_before_bytes"] > 0
            assert p["events"] is None or p["events"] > 0
        assert math.isfinite(s["fit_ns_per_sequence"])


def test_jit_cached_start_measured(quick):
    doc, text, _ = quick
    first = model_names()[0]  # --quick starts only the first model, from the warm cache
    modes = {(j["model"], j["mode"]): j for j in doc["jit"]}
    assert set(modes) == {
        (first, "cached"),
        (first, "uncached"),
        ("default study", "uncached"),
        ("default study", "cached"),
        ("default study", "first point"),
    }
    assert _positive(modes[(first, "cached")]["wall_seconds"])
    assert _positive(modes[(first, "cached")]["first_point_seconds"])
    assert modes[(first, "uncached")]["skipped"] == "--quick"
    assert modes[("default study", "cached")]["compile_seconds"] >= 0
    assert _positive(modes[("default study", "first point")]["first_point_seconds"])
    sim = modes[("default study", "first point")]["first_simulation_seconds"]
    assert _positive(sim) and sim < modes[("default study", "first point")]["first_point_seconds"]
    bytecode = modes[("default study", "first point")]["python_bytecode_cache"]
    assert bytecode == "on" or f"Python bytecode cache of the first-point runs: {bytecode}" in text
    targets = {t["name"]: t for t in doc["targets"]}
    assert targets["default.compile.uncached"]["met"] is None  # not measured by --quick
    assert targets["default.first_simulation.cached"]["met"] in (True, False)
    assert targets["default.compile.vs_gather"]["met"] is None  # not measured by --quick
    assert isinstance(doc["load"]["loaded"], bool) and "other processes" in text


def test_no_measurement_failed(quick):
    doc, _, _ = quick
    assert doc["errors"] == []


def test_targets_and_table(quick):
    doc, text, _ = quick
    names = {t["name"] for t in doc["targets"]}
    assert {"gather.sequences_per_second", "pressure.speedup.simpy"} <= names
    assert all(t["met"] in (True, False, None) for t in doc["targets"])
    for heading in ("Generator limit", "Model kernels", "Baselines", "Scaling", "Targets"):
        assert heading in text


def test_show_reprints_the_table(quick):
    _, text, out = quick
    shown = CliRunner().invoke(main, ["bench", "--show", str(out)])
    assert shown.exit_code == 0
    assert shown.output == text.rsplit("wrote ", 1)[0]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model", "nonexistent"], "unknown model"),
        (["--threads", "100000"], "exceeds"),
        (["--show", "missing.json"], "no such file"),
    ],
)
def test_bad_input_is_one_clear_error(args, message, tmp_path):
    r = CliRunner().invoke(main, ["bench", "--quick", "--out", str(tmp_path / "x.json"), *args])
    assert r.exit_code == 2
    assert message in r.output
    assert not (tmp_path / "x.json").exists()


def test_output_directory_is_refused(tmp_path):
    r = CliRunner().invoke(main, ["bench", "--quick", "--out", str(tmp_path)])
    assert r.exit_code == 2 and "directory" in r.output
