"""The pieces of ``mcstudy bench``: timing, draw loops, cases, scaling fit, configs, I/O."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

from mcstudy.bench import limits, scaling
from mcstudy.bench.cases import CASES, bench_cases
from mcstudy.bench.jitcost import tiny_config
from mcstudy.bench.report import read_json, write_json
from mcstudy.bench.targets import evaluate
from mcstudy.bench.timing import autorange
from mcstudy.engine.rng import next_u32, stream_new
from mcstudy.errors import McStudyError
from mcstudy.models.registry import builtin_model_names
from mcstudy.study import load_study


def test_autorange_reaches_min_seconds_and_keeps_best():
    calls = []

    def run(n):
        calls.append(n)
        time.sleep(n * 1e-5)
        return n

    t = autorange(run, 10, 0.02, repeats=2)
    assert t.n >= 2000 and t.seconds >= 0.02
    assert calls[0] == 10 and calls[-1] == calls[-2] == t.n  # calibrated, then repeated
    assert t.repeats == 2 and t.result == t.n and t.rate == t.n / t.seconds
    capped = autorange(run, 10, 10.0, repeats=1, max_n=50)
    assert capped.n == 50 and capped.seconds < 10.0
    with pytest.raises(ValueError):
        autorange(run, 0, 1.0)


def test_draw_loops_really_draw_the_stream():
    n_chunks, per = 3, 100
    got = limits.draw_loop(limits.KIND_U32, 5, 6, n_chunks, per)
    for c in range(n_chunks):
        st = stream_new(5, 6, c, limits.SUBSTREAM_BENCH)
        acc = 0
        for _ in range(per):
            acc ^= int(next_u32(st))
        assert got[c] == float(acc)
    doubles = limits.draw_loop(limits.KIND_DOUBLE, 5, 6, 2, 20_000)
    assert np.allclose(doubles / 20_000, 0.5, atol=4 * (1 / 12 / 20_000) ** 0.5)
    expo = limits.draw_loop(limits.KIND_EXPONENTIAL, 5, 6, 2, 20_000)
    assert np.allclose(expo / 20_000, 1.0, atol=4 * (1 / 20_000) ** 0.5)
    numba_u = limits.draw_loop(limits.KIND_NUMBA, 0, 0, 2, 20_000)
    assert np.allclose(numba_u / 20_000, 0.5, atol=4 * (1 / 12 / 20_000) ** 0.5)


def test_every_registered_model_gets_a_case():
    cases = bench_cases()
    assert [c.model for c in cases] == list(builtin_model_names())
    gather = next(c for c in cases if c.model == "gather")
    assert gather is CASES["gather"]
    with pytest.raises(KeyError, match="unknown model"):
        bench_cases(("no-such-model",))


def test_tiny_config_is_a_valid_study(tmp_path):
    for case in bench_cases():
        path = tmp_path / f"{case.model}.toml"
        path.write_text(tiny_config(case))
        study = load_study(path, (), ())
        assert study.section.model == case.model
        assert study.n_points == 1
        assert study.section.sequences == min(1000, case.block_size)


def test_thread_counts_and_sizes():
    assert scaling.thread_counts(2, quick=True) == [1, 2]
    assert scaling.thread_counts(1, quick=False) == [1]
    assert scaling.thread_counts(4, quick=False) == [1, 2, 3, 4]
    assert scaling.thread_counts(12, quick=False) == [1, 2, 4, 8, 12]
    assert scaling.sequence_sizes(1e8, (6, 7, 8, 9), 120.0, 16384) == [10**6, 10**7, 10**8, 10**9]
    assert scaling.sequence_sizes(1e6, (6, 7, 8, 9), 20.0, 16384) == [10**6, 10**7]
    assert scaling.sequence_sizes(1e3, (6, 7), 10.0, 16384) == [1638, 16384]


def test_scaling_fit_recovers_affine_time():
    pts = [
        {"sequences": n, "seconds": 0.5 + 2e-9 * n, "rss_before_bytes": 100, "rss_peak_bytes": 150}
        for n in (10**6, 10**7, 10**8)
    ]
    s = scaling.summarise(pts)
    assert s["fit_fixed_seconds"] == pytest.approx(0.5)
    assert s["fit_ns_per_sequence"] == pytest.approx(2.0)
    assert s["max_relative_residual"] < 1e-9
    assert s["rss_growth_difference_bytes"] == 0
    assert pts[0]["rss_growth_bytes"] == 50


def _doc(seq_rate, eff, start):
    return {
        "threads": {"max": 2, "measured": [1, 2]},
        "models": [
            {
                "model": "gather",
                "case": "n=513 p=0.01",
                "runs": [
                    {
                        "threads": 1,
                        "sequences_per_second": seq_rate / 2,
                        "parallel_efficiency": 1.0,
                    },
                    {"threads": 2, "sequences_per_second": seq_rate, "parallel_efficiency": eff},
                ],
            }
        ],
        "baselines": [{"model": "gather", "baseline": "python-per-table", "speedup": 5000.0}],
        "jit": [
            {"model": "gather", "mode": "cached", "wall_seconds": start},
            {"model": "gather", "mode": "uncached", "compile_seconds": 3 * start},
            {"model": "default study", "mode": "uncached", "compile_seconds": 5 * start},
            {
                "model": "default study",
                "mode": "first point",
                "first_simulation_seconds": start / 3,
                "first_point_seconds": 10 * start,
            },
        ],
    }


def test_targets_report_met_missed_and_unmeasured():
    by = {t["name"]: t for t in evaluate(_doc(2e8, 0.9, 3.0))}
    assert by["gather.sequences_per_second"]["met"] is True
    assert by["gather.speedup.python-per-table"]["met"] is True
    assert by["gather.speedup.numpy-per-attempt"]["met"] is None
    assert by["gather.parallel_efficiency"]["met"] is True
    assert by["default.compile.uncached"]["met"] is True  # 15 s < 20 s
    assert by["default.first_simulation.cached"]["met"] is True  # 1 s < 1.5 s
    assert by["default.compile.vs_gather"]["value"] == pytest.approx(5 / 3)
    assert by["default.compile.vs_gather"]["met"] is True
    assert by["pressure.events_per_draw_time"]["met"] is None
    assert all(t["reliable"] for t in by.values())
    by = {t["name"]: t for t in evaluate(_doc(5e7, 0.5, 6.0))}
    assert by["gather.sequences_per_second"]["met"] is False
    assert by["gather.parallel_efficiency"]["met"] is False
    assert by["default.compile.uncached"]["met"] is False
    assert by["default.first_simulation.cached"]["met"] is False
    slow = _doc(2e8, 0.9, 3.0)
    slow["jit"][2]["compile_seconds"] = 30.0  # 3.3 x the gather model's 9 s
    assert {t["name"]: t for t in evaluate(slow)}["default.compile.vs_gather"]["met"] is False
    loaded = {**_doc(2e8, 0.9, 3.0), "load": {"loaded": True, "reason": "busy"}}
    assert not any(t["reliable"] for t in evaluate(loaded))


def test_load_of_other_processes_is_measured():
    from mcstudy.bench.load import CpuSnapshot, assess

    quiet = assess(CpuSnapshot(100.0, 1.0), CpuSnapshot(110.0, 10.0), 10.0, 2, [1.9])
    assert quiet["other_cpu_fraction"] == pytest.approx(0.05) and not quiet["loaded"]
    busy = assess(CpuSnapshot(100.0, 1.0), CpuSnapshot(120.0, 10.0), 10.0, 2, [0.1])
    assert busy["other_cpu_fraction"] == pytest.approx(0.55) and busy["loaded"]
    assert "55 % of the 2 CPUs" in busy["reason"]
    late = assess(CpuSnapshot(None, 1.0), CpuSnapshot(None, 2.0), 10.0, 2, [3.5])
    assert late["other_cpu_fraction"] is None and "load average 3.5" in late["reason"]


def test_json_round_trip_and_errors(tmp_path):
    from mcstudy.bench.suite import SCHEMA

    doc = {"schema": SCHEMA, "x": [1, 2.5]}
    out = write_json(doc, tmp_path / "sub" / "r.json")
    assert read_json(out) == doc
    assert not list(out.parent.glob("*.partial"))
    with pytest.raises(McStudyError, match="no such file"):
        read_json(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(McStudyError, match="not a benchmark result"):
        read_json(tmp_path / "bad.json")
    (tmp_path / "other.json").write_text(json.dumps({"schema": "other"}))
    with pytest.raises(McStudyError, match="schema"):
        read_json(tmp_path / "other.json")
    with pytest.raises(McStudyError, match="directory"):
        write_json(doc, tmp_path)


def test_a_broken_model_is_reported_not_fatal(monkeypatch):
    from mcstudy.bench import suite
    from mcstudy.bench.cases import BenchCase

    def boom(case):
        raise RuntimeError("kernel failed to compile\nsecond line")

    monkeypatch.setattr(suite, "warmup", boom)
    case = BenchCase("gather", "x", {"tables_per_gather": 1, "gfp_nowait_fail_p": 0.5}, None, "")
    said = []
    mods = suite.measure_models(suite.QUICK, [case], [1], [], said.append)
    assert mods[0]["error"] == "RuntimeError: kernel failed to compile"
    assert mods[0]["runs"] == [] and suite._ok(mods, [case]) == []
    doc = {"models": mods, "baselines": [], "scaling": [], "jit": []}
    assert suite.errors_of(doc) == ["models gather: RuntimeError: kernel failed to compile"]
    assert any("ERROR" in m for m in said)


def test_every_baseline_runs_on_its_case():
    from mcstudy.bench.baselines.registry import BASELINES
    from mcstudy.bench.cases import BenchCase

    for case in bench_cases():
        assert set(case.baselines) <= set(BASELINES)
        assert all(BASELINES[b].model == case.model for b in case.baselines)
        if case.model != "pressure":
            continue
        small = BenchCase(
            "pressure",
            "small",
            {**case.params, "warmup_s": 0.1, "horizon_s": 0.2},
            case.events_tally,
            case.events_unit,
        )
        for name in case.baselines:
            b = BASELINES[name]
            assert b.unavailable(small) is None
            assert b.unit == "events"
            seqs, events = b.run(small, 5000, 1)
            assert seqs is None and 4000 < events < 6000
        ext = BenchCase("pressure", "ext", {**case.params, "atomic_alloc_rate": 1.0}, None, "")
        assert "reference chain" in BASELINES["simpy"].unavailable(ext)


def test_bytecode_cache_state_is_read_from_the_tree(monkeypatch, tmp_path):
    import importlib.util

    import mcstudy.cli
    from mcstudy.bench import jitcost

    pyc = tmp_path / "cli.pyc"
    monkeypatch.setattr(importlib.util, "cache_from_source", lambda _src: str(pyc))
    assert jitcost.bytecode_cache({"PYTHONDONTWRITEBYTECODE": "1"}).startswith("off: PYTHONDONT")
    assert jitcost.bytecode_cache({}).startswith("off: mcstudy's modules have no bytecode yet")
    pyc.write_bytes(b"")
    assert jitcost.bytecode_cache({"PYTHONDONTWRITEBYTECODE": "1"}) == "on"
    assert mcstudy.cli.__file__.endswith(".py")
