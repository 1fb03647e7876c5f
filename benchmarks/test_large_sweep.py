"""Peak memory of reading a large sweep: ``mcstudy run --resume``, ``merge``, ``status``,
``show`` and ``report`` of 1e5 fake gather points (``mcstudy.bench.largesweep``), each in
a fresh process. The peak RSS of each command, in bytes and per point, goes to the
benchmark's ``extra_info`` (``--benchmark-json`` keeps it); nothing is asserted about
time. ``--bench-quick``: 2,000 points, merge and status only."""

from __future__ import annotations

from mcstudy.bench.largesweep import run


def test_large_sweep_memory(benchmark, tmp_path, bench_quick):
    points = 2_000 if bench_quick else 100_000
    commands = (
        ("merge", "status") if bench_quick else ("resume", "merge", "status", "show", "report")
    )
    doc = benchmark.pedantic(run, args=(tmp_path, points, commands), rounds=1, iterations=1)
    for name, got in doc["commands"].items():
        assert got["exit_status"] == 0, (name, got["stderr_tail"])
        benchmark.extra_info[f"{name}_rss_peak_bytes"] = got["rss_peak_bytes"]
        benchmark.extra_info[f"{name}_rss_peak_bytes_per_point"] = got["rss_peak_bytes_per_point"]
        benchmark.extra_info[f"{name}_seconds"] = got["seconds"]
    benchmark.extra_info["points"] = points
