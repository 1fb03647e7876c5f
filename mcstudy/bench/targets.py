"""mcstudy's performance targets, checked against one bench result.

Each target reports its measured value, threshold and whether it is met (None when the
quantity was not measured in this run, e.g. a model that is not registered yet), and
``reliable`` False when other work loaded the machine during the run (``bench.load``).
"""

from __future__ import annotations

from typing import Any

GATHER_CASE = "n=513 p=0.01"


def _run(doc: dict[str, Any], model: str, threads: int) -> dict[str, Any] | None:
    for m in doc["models"]:
        if m["model"] == model:
            for r in m["runs"]:
                if r["threads"] == threads:
                    return r | {"case": m["case"]}
    return None


def _baseline(doc: dict[str, Any], model: str, name: str) -> dict[str, Any] | None:
    for b in doc["baselines"]:
        if b["model"] == model and b["baseline"] == name:
            return b
    return None


def _jit(doc: dict[str, Any], model: str, mode: str) -> dict[str, Any] | None:
    return next((j for j in doc["jit"] if j["model"] == model and j["mode"] == mode), None)


def _target(name: str, desc: str, value: float | None, op: str, threshold: float) -> dict:
    met = None
    if value is not None:
        met = value >= threshold if op == ">=" else value < threshold
    return {
        "name": name,
        "description": desc,
        "value": value,
        "op": op,
        "threshold": threshold,
        "met": met,
    }


def evaluate(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """All targets for ``doc`` (a ``run_bench`` result)."""
    top = doc["threads"]["max"]
    eff_threads = 2 if 2 in doc["threads"]["measured"] else top
    out = []

    g = _run(doc, "gather", top)
    ok_case = g is not None and g["case"] == GATHER_CASE
    out.append(
        _target(
            "gather.sequences_per_second",
            f"gather n=513 p=0.01, {top} threads: sequences/s",
            g["sequences_per_second"] if ok_case else None,
            ">=",
            1e8,
        )
    )
    for name, thr in (
        ("python-per-table", 1000.0),
        ("python-per-attempt", 10.0),
        ("numpy-per-attempt", 10.0),
    ):
        b = _baseline(doc, "gather", name)
        out.append(
            _target(
                f"gather.speedup.{name}",
                f"gather kernel ({top} threads) / {name} baseline, sequences/s",
                None if b is None else b.get("speedup"),
                ">=",
                thr,
            )
        )

    p = _run(doc, "pressure", top)
    out.append(
        _target(
            "pressure.events_per_draw_time",
            f"pressure chain events/s / Philox words/s, {top} threads",
            None if p is None else p.get("events_per_draw_time"),
            ">=",
            0.4,
        )
    )
    b = _baseline(doc, "pressure", "simpy")
    out.append(
        _target(
            "pressure.speedup.simpy",
            f"pressure kernel ({top} threads) / SimPy model, events/s",
            None if b is None else b.get("speedup"),
            ">=",
            1000.0,
        )
    )

    for m in doc["models"]:
        r = _run(doc, m["model"], eff_threads)
        out.append(
            _target(
                f"{m['model']}.parallel_efficiency",
                f"{m['model']}: parallel efficiency 1 -> {eff_threads} threads",
                None if r is None or eff_threads < 2 else r["parallel_efficiency"],
                ">=",
                0.85,
            )
        )
    for mode, key, name, limit, desc in (
        (
            "uncached",
            "compile_seconds",
            "default.compile.uncached",
            20.0,
            "default study: kernel compilation on an empty Numba cache, s",
        ),
        (
            "first point",
            "first_simulation_seconds",
            "default.first_simulation.cached",
            1.5,
            "default study: `mcstudy run` start to its first point's simulation, cache warm, s",
        ),
    ):
        row = _jit(doc, "default study", mode)
        out.append(_target(name, desc, None if row is None else row.get(key), "<", limit))
    host, gather = _jit(doc, "default study", "uncached"), _jit(doc, "gather", "uncached")
    ratio = None
    if host and gather and host.get("compile_seconds") and gather.get("compile_seconds"):
        ratio = host["compile_seconds"] / gather["compile_seconds"]
    out.append(
        _target(
            "default.compile.vs_gather",
            "default study's compilation / the gather model's, both on an empty cache, same run",
            ratio,
            "<",
            2.0,
        )
    )
    loaded = (doc.get("load") or {}).get("loaded", False)
    for t in out:
        t["reliable"] = not loaded
    return out
