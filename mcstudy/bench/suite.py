"""``mcstudy bench``: every measurement in one run, as one JSON-ready dict.

See the package docstring for what is measured and the definitions. Sizes and
durations come from ``Settings`` (``QUICK`` is a smoke run of a few seconds per part).
"""

from __future__ import annotations

import datetime as _dt
import os
import platform
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numba

from mcstudy.bench import jitcost, limits, load, scaling, targets
from mcstudy.bench.baselines.registry import BASELINES
from mcstudy.bench.cases import BenchCase, bench_cases
from mcstudy.bench.throughput import measure_model, warmup
from mcstudy.bench.timing import autorange
from mcstudy.kernel.procfs import parse_cpuinfo, parse_meminfo
from mcstudy.storage.provenance import environment

SCHEMA = "mcstudy-bench/1"
DEFAULT_STUDY = "default study"
FIRST_POINT = "first point"


@dataclass(frozen=True)
class Settings:
    """Durations (s), repeats and sizes of one bench run."""

    quick: bool
    limit_seconds: float
    model_seconds: float
    baseline_seconds: float
    repeats: int
    decades: tuple[int, ...]
    """sequence counts 10**d of the scaling runs"""
    max_scaling_seconds: float
    """largest expected duration of one scaling run (s)"""
    one_probe_process: bool
    """all scaling runs in one subprocess (quick) or a fresh one per run (full)"""
    jit_uncached: bool


FULL = Settings(False, 1.0, 2.0, 2.0, 3, (6, 7, 8, 9), 60.0, False, True)
QUICK = Settings(True, 0.05, 0.1, 0.1, 1, (5, 6), 1.0, True, False)

Progress = Callable[[str], None]


def machine() -> dict[str, Any]:
    """Facts about the machine that bound the results."""
    info: dict[str, Any] = {
        "host": platform.node(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_model": None,
        "logical_cpus": os.cpu_count(),
        "usable_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "memory_bytes": None,
    }
    try:  # where /proc cannot be read (not Linux) the fields stay None
        cpuinfo = Path("/proc/cpuinfo").read_text()
        meminfo = Path("/proc/meminfo").read_text()
    except OSError:
        return info
    models = [v for k, v in parse_cpuinfo(cpuinfo, "/proc/cpuinfo") if k == "model name"]
    info["cpu_model"] = models[0] if models else None
    mem_kb = parse_meminfo(meminfo, "/proc/meminfo").get("MemTotal")
    info["memory_bytes"] = mem_kb * 1024 if mem_kb is not None else None
    return info


def versions() -> dict[str, Any]:
    import importlib.metadata as md

    out = environment()
    for pkg in ("scipy", "simpy", "pytest-benchmark"):
        try:
            out[f"{pkg.replace('-', '_')}_version"] = md.version(pkg)
        except md.PackageNotFoundError:
            out[f"{pkg.replace('-', '_')}_version"] = None
    return out


def _load() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def measure_limits(s: Settings, threads: list[int], say: Progress) -> list[dict[str, Any]]:
    limits.warmup()
    out = []
    for name in limits.GENERATORS:
        for t in threads:
            r = limits.measure_limit(name, t, s.limit_seconds, s.repeats)
            say(f"limit {name} x{t}: {r.per_second:.3g} {r.unit}/s")
            out.append(r.as_dict())
    return out


def _draw_rate(lims: list[dict[str, Any]], threads: int) -> float | None:
    for r in lims:
        if r["generator"] == "philox_u32" and r["threads"] == threads:
            return r["per_second"]
    return None


def _error(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"


def measure_models(
    s: Settings, cases: list[BenchCase], threads: list[int], lims: list[dict], say: Progress
) -> list[dict[str, Any]]:
    out = []
    for case in cases:
        rec: dict[str, Any] = {
            "model": case.model,
            "case": case.label,
            "params": dict(case.params),
            "events_unit": case.events_unit or None,
            "block_size": case.block_size,
            "note": case.note or None,
            "runs": [],
        }
        out.append(rec)
        try:
            rec["warmup_seconds"] = warmup(case)
            for t in threads:
                r = measure_model(case, t, s.model_seconds, s.repeats).as_dict()
                words = _draw_rate(lims, t)
                ev = r["events_per_second"]
                r["events_per_draw_time"] = None if ev is None or not words else ev / words
                rec["runs"].append(r)
                say(
                    f"model {case.model} x{t}: {r['sequences_per_second']:.3g} seq/s"
                    + ("" if ev is None else f", {ev:.3g} events/s")
                )
        except Exception as exc:  # a broken model must not hide the others' results
            rec["error"] = _error(exc)
            rec["runs"] = []
            say(f"model {case.model}: ERROR {rec['error']}")
            continue
        rate_1 = rec["runs"][0]["sequences_per_second"]
        for r in rec["runs"]:
            r["parallel_efficiency"] = scaling.parallel_efficiency(
                rate_1, r["sequences_per_second"], r["threads"]
            )
    return out


def _kernel_rate(models: list[dict], model: str, threads: int, on: str) -> float | None:
    for m in models:
        if m["model"] != model:
            continue
        for r in m["runs"]:
            if r["threads"] == threads:
                return r[f"{on}_per_second"]
    return None


def _ok(models: list[dict], cases: list[BenchCase]) -> list[BenchCase]:
    broken = {m["model"] for m in models if "error" in m}
    return [c for c in cases if c.model not in broken]


def measure_baselines(
    s: Settings, cases: list[BenchCase], models: list[dict], max_threads: int, say: Progress
) -> list[dict[str, Any]]:
    out = []
    for case in cases:
        for name in case.baselines:
            b = BASELINES[name]
            rec: dict[str, Any] = {
                "model": case.model,
                "baseline": name,
                "description": b.description,
                "speedup_on": b.unit,
            }
            out.append(rec)
            try:
                why = b.unavailable(case)
                if why is not None:
                    rec["skipped"] = why
                    say(f"baseline {case.model}/{name}: skipped ({why})")
                    continue
                t = autorange(
                    lambda n, b=b, case=case: b.run(case, n, 1), b.n0, s.baseline_seconds, 1
                )
            except Exception as exc:
                rec["error"] = _error(exc)
                say(f"baseline {case.model}/{name}: ERROR {rec['error']}")
                continue
            seqs, events = t.result
            rec.update(
                {
                    "work": t.n,
                    "sequences": seqs,
                    "events": events,
                    "seconds": t.seconds,
                    "sequences_per_second": None if seqs is None else seqs / t.seconds,
                    "events_per_second": None if events is None else events / t.seconds,
                }
            )
            mine = rec[f"{b.unit}_per_second"]
            for key, threads in (("speedup", max_threads), ("speedup_1_thread", 1)):
                k = _kernel_rate(models, case.model, threads, b.unit)
                rec[key] = None if k is None or not mine else k / mine
            msg = f"baseline {case.model}/{name}: {mine:.3g} {b.unit}/s"
            say(msg if rec["speedup"] is None else f"{msg}, kernel x{rec['speedup']:.3g}")
    return out


def measure_scaling(
    s: Settings, cases: list[BenchCase], models: list[dict], max_threads: int, say: Progress
) -> list[dict[str, Any]]:
    jobs: list[dict[str, Any]] = []
    budget = 120.0  # start-up and warm-up of the fresh process, plus 10x the expected time
    for case in cases:
        rate = _kernel_rate(models, case.model, max_threads, "sequences") or 1.0
        sizes = scaling.sequence_sizes(rate, s.decades, s.max_scaling_seconds, case.block_size)
        jobs += [scaling.job(case, n, max_threads) for n in sizes]
        budget += 10.0 * sum(sizes) / rate
    if s.one_probe_process:
        groups = [jobs]
    else:
        groups = [[j] for j in jobs]
    points: list[dict[str, Any]] = []
    for group in groups:
        try:
            got = scaling.probe(group, budget)
        except Exception as exc:
            got = [{"model": j["model"], "error": _error(exc)} for j in group]
        for p in got:
            if "error" in p:
                say(f"scaling {p['model']}: ERROR {p['error']}")
                continue
            growth = max(0, p["rss_peak_bytes"] - p["rss_before_bytes"])
            say(
                f"scaling {p['model']} {p['sequences']:.0e} seq: {p['seconds']:.3g} s, "
                f"peak RSS +{growth / 2**20:.1f} MiB"
            )
        points += got
    out = []
    for case in cases:
        mine = [p for p in points if p["model"] == case.model]
        errors = [p["error"] for p in mine if "error" in p]
        if errors:
            out.append(
                {"model": case.model, "threads": max_threads, "points": [], "error": errors[0]}
            )
            continue
        summary = scaling.summarise(mine)
        out.append({"model": case.model, "threads": max_threads, "points": mine, **summary})
    return out


def measure_jit(s: Settings, cases: list[BenchCase], say: Progress) -> list[dict[str, Any]]:
    """Full: uncached and cached start of every model, the default study's compile time
    on an empty and on a warm cache, and its first point; quick: the cached start of the
    first model, and the default study's cached compile time and first point."""
    out: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="mcstudy-bench-") as tmp:
        for case in cases if s.jit_uncached else cases[:1]:
            work = Path(tmp) / case.model
            if s.jit_uncached:
                cache = Path(tmp) / f"numba-cache-{case.model}"
                cache.mkdir()
                plan = [("uncached", cache), ("cached", cache)]
            else:
                out.append({"model": case.model, "mode": "uncached", "skipped": "--quick"})
                plan = [("cached", None)]
            for mode, cache_dir in plan:
                try:
                    r = jitcost.measure_start(case, work, cache_dir, mode)
                    say(f"start {case.model} {mode}: {r['wall_seconds']:.3g} s")
                except Exception as exc:
                    r = {"model": case.model, "mode": mode, "error": _error(exc)}
                    say(f"start {case.model} {mode}: ERROR {r['error']}")
                out.append(r)
        out += _default_study_jit(s, Path(tmp), say)
    return out


def _default_study_jit(s: Settings, tmp: Path, say: Progress) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    if s.jit_uncached:
        cache: Path | None = tmp / "numba-cache-default"
        cache.mkdir()  # type: ignore[union-attr]
        plan = [("uncached", cache), ("cached", cache)]
    else:
        cache = None
        out.append({"model": DEFAULT_STUDY, "mode": "uncached", "skipped": "--quick"})
        plan = [("cached", None)]
    for mode, cache_dir in plan:
        try:
            r = jitcost.measure_default_compile(cache_dir, mode)
            say(f"default study compile {mode}: {r['compile_seconds']:.3g} s")
        except Exception as exc:
            r = {"model": DEFAULT_STUDY, "mode": mode, "error": _error(exc)}
            say(f"default study compile {mode}: ERROR {r['error']}")
        out.append(r)
    try:
        runs = [
            jitcost.measure_default_first_point(tmp / "default", cache) for _ in range(s.repeats)
        ]
        r = min(runs, key=lambda x: x["first_point_seconds"])  # least disturbed, as rates
        r["mode"] = FIRST_POINT
        r["first_point_seconds_all"] = [x["first_point_seconds"] for x in runs]
        sims = [x["first_simulation_seconds"] for x in runs]
        r["first_simulation_seconds"] = None if None in sims else min(sims)
        r["first_simulation_seconds_all"] = sims
        sim = r["first_simulation_seconds"]
        began = "unknown" if sim is None else f"{sim:.3g} s"
        say(
            f"default study first point: {r['first_point_seconds']:.3g} s (simulating from {began})"
        )
    except Exception as exc:
        r = {"model": DEFAULT_STUDY, "mode": FIRST_POINT, "error": _error(exc)}
        say(f"default study first point: ERROR {r['error']}")
    out.append(r)
    return out


def errors_of(doc: dict[str, Any]) -> list[str]:
    """Every measurement that failed, as "section model: message"."""
    out = []
    for section in ("models", "baselines", "scaling", "jit"):
        for rec in doc[section]:
            if "error" in rec:
                what = rec.get("baseline") or rec.get("mode") or ""
                out.append(f"{section} {rec['model']} {what}".rstrip() + f": {rec['error']}")
    return out


def run_bench(
    quick: bool = False,
    max_threads: int | None = None,
    models: tuple[str, ...] | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Run the whole benchmark; returns the result document (schema ``SCHEMA``)."""
    say = progress or (lambda _msg: None)
    s = QUICK if quick else FULL
    cases = bench_cases(models)
    top = max_threads or numba.config.NUMBA_NUM_THREADS
    threads = scaling.thread_counts(top, quick)
    previous = numba.get_num_threads()
    started = time.perf_counter()
    load_start = _load()
    cpu_start = load.snapshot()
    try:
        lims = measure_limits(s, threads, say)
        mods = measure_models(s, cases, threads, lims, say)
        ok = _ok(mods, cases)
        base = measure_baselines(s, ok, mods, top, say)
        scal = measure_scaling(s, ok, mods, top, say)
        jit = measure_jit(s, ok, say)
    finally:
        numba.set_num_threads(previous)
    doc: dict[str, Any] = {
        "schema": SCHEMA,
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "quick": quick,
        "settings": asdict(s),
        "machine": machine(),
        "versions": versions(),
        "threads": {"max": top, "measured": threads},
        "load_average": {"start": load_start, "end": _load()},
        "definitions": DEFINITIONS,
        "limits": lims,
        "models": mods,
        "baselines": base,
        "scaling": scal,
        "jit": jit,
        "wall_seconds": time.perf_counter() - started,
    }
    doc["load"] = load.assess(
        cpu_start,
        load.snapshot(),
        doc["wall_seconds"],
        doc["machine"]["usable_cpus"] or doc["machine"]["logical_cpus"] or 1,
        load_start,
    )
    doc["targets"] = targets.evaluate(doc)
    doc["errors"] = errors_of(doc)
    return doc


DEFINITIONS = {
    "draw": "one 32-bit word of the Philox4x32-10 stream (engine.rng.next_u32)",
    "draw_time": "1 / (philox_u32 words per second of the tight loop) at the same thread count",
    "events_per_draw_time": "model events per second / philox_u32 words per second, same threads",
    "parallel_efficiency": "sequences/s at T threads / (T x sequences/s at 1 thread)",
    "speedup": "kernel rate at max threads / baseline rate (baselines are single-threaded)",
    "speedup_1_thread": "kernel rate at 1 thread / baseline rate",
    "scaling_fit": "time = fit_fixed_seconds + fit_ns_per_sequence x sequences, weights 1/time^2",
    "rss_growth": "peak RSS during a run - RSS just before it (fresh subprocess, warm JIT)",
    "rates": "best of the repeats (least disturbed by other load); medians are kept too",
}
