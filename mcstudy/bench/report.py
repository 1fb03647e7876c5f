"""Text table of a bench result, and atomic JSON writing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mcstudy.errors import McStudyError
from mcstudy.storage.atomic import atomic_write_text


def _g(x: float | None, digits: int = 3) -> str:
    return "-" if x is None else f"{x:.{digits}g}"


def _pct(x: float | None) -> str:
    return "?" if x is None else f"{100 * x:.0f} %"


def _mib(x: float | None) -> str:
    return "-" if x is None else f"{x / 2**20:.1f}"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [
        max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)
    ]

    def fmt(cells: list[str]) -> str:
        first = cells[0].ljust(widths[0])
        rest = [c.rjust(w) for c, w in zip(cells[1:], widths[1:], strict=True)]
        return "  ".join([first, *rest]).rstrip()

    return [fmt(header), fmt(["-" * w for w in widths]), *(fmt(r) for r in rows)]


def render(doc: dict[str, Any]) -> str:
    """The bench result as a plain-text report (Markdown-friendly fixed-width tables)."""
    m, v = doc["machine"], doc["versions"]
    commit = v.get("git_commit") or "unknown"
    lines = [
        f"mcstudy bench{' --quick' if doc['quick'] else ''}: {doc['created']}",
        f"machine: {m['cpu_model'] or m['machine']}, {m['usable_cpus']} usable CPUs, "
        f"{_g((m['memory_bytes'] or 0) / 2**30)} GiB; {m['platform']}",
        f"versions: mcstudy {v['mcstudy_version']} ({commit[:12]}"
        f"{', dirty' if v.get('git_dirty') else ''}), Python {v['python_version']}, "
        f"NumPy {v['numpy_version']}, Numba {v['numba_version']} "
        f"({v.get('numba_threading_layer') or '?'}), SimPy {v.get('simpy_version') or '-'}",
        f"threads: {doc['threads']['measured']} (max {doc['threads']['max']}); load average "
        f"{doc['load_average']['start']} -> {doc['load_average']['end']}; other processes "
        f"{_pct((doc.get('load') or {}).get('other_cpu_fraction'))} of the CPUs; "
        f"{doc['wall_seconds']:.0f} s",
        "",
        "Generator limit: draws per second in a tight loop (draw-time = 1 / philox_u32 rate)",
    ]
    threads = doc["threads"]["measured"]
    gens: dict[str, dict[int, dict]] = {}
    for r in doc["limits"]:
        gens.setdefault(r["generator"], {})[r["threads"]] = r
    lines += _table(
        ["generator", "unit", *(f"{t} thr" for t in threads)],
        [
            [name, next(iter(rs.values()))["unit"], *(_g(rs[t]["per_second"]) for t in threads)]
            for name, rs in gens.items()
        ],
    )
    lines += ["", "Model kernels through the block engine (best of repeats)"]
    rows = []
    for mod in doc["models"]:
        if "error" in mod:
            rows.append([f"{mod['model']} {mod['case']}", "-", "-", "-", "-", "ERROR"])
        for r in mod["runs"]:
            rows.append(
                [
                    f"{mod['model']} {mod['case']}",
                    str(r["threads"]),
                    _g(r["sequences_per_second"]),
                    _g(r["events_per_second"]),
                    _g(r["events_per_draw_time"]),
                    _g(r["parallel_efficiency"]),
                ]
            )
    lines += _table(["model case", "thr", "seq/s", "events/s", "ev/draw-time", "par.eff"], rows)
    units = [
        f"  {mod['model']} event = {mod['events_unit']}"
        for mod in doc["models"]
        if mod["events_unit"]
    ]
    notes = [f"  {mod['model']}: {mod['note']}" for mod in doc["models"] if mod.get("note")]
    lines += units + notes
    lines += ["", "Baselines (single-threaded): what a user would write instead"]
    rows = []
    for b in doc["baselines"]:
        if "skipped" in b or "error" in b:
            why = f"skipped: {b['skipped']}" if "skipped" in b else f"ERROR: {b['error']}"
            rows.append([f"{b['model']} {b['baseline']}", "-", "-", "-", why])
            continue
        on = b["speedup_on"]
        rows.append(
            [
                f"{b['model']} {b['baseline']}",
                f"{_g(b[f'{on}_per_second'])} {'seq' if on == 'sequences' else 'ev'}/s",
                _g(b["speedup"]),
                _g(b["speedup_1_thread"]),
                b["description"],
            ]
        )
    lines += _table(["baseline", "rate", "speedup", "(1 thr)", "what"], rows)
    lines += ["", "Scaling with the number of sequences (fresh process per run, max threads)"]
    rows = []
    for s in doc["scaling"]:
        for p in s["points"]:
            rows.append(
                [
                    s["model"],
                    f"{p['sequences']:.0e}",
                    _g(p["seconds"]),
                    _g(p["ns_per_sequence"]),
                    _mib(p["rss_before_bytes"]),
                    _mib(p["rss_growth_bytes"]),
                    _mib(p["tracemalloc_peak_bytes"]),
                ]
            )
    lines += _table(
        ["model", "sequences", "s", "ns/seq", "RSS MiB", "peak +MiB", "py peak MiB"], rows
    )
    for s in doc["scaling"]:
        if "error" in s:
            lines.append(f"  {s['model']}: ERROR {s['error']}")
            continue
        lines.append(
            f"  {s['model']}: time = {_g(s['fit_fixed_seconds'])} s + "
            f"{_g(s['fit_ns_per_sequence'])} ns x sequences (max residual "
            f"{100 * s['max_relative_residual']:.0f} %); peak growth, largest - smallest run: "
            f"{_mib(s['rss_growth_difference_bytes'])} MiB over {_g(s['sequences_ratio'])}x "
            "sequences"
        )
    lines += [
        "",
        "JIT cost: `mcstudy run` in a fresh process (tiny config per model; the default "
        "study's kernels and first point)",
    ]
    rows = [
        [
            j["model"],
            j["mode"],
            f"skipped ({j['skipped']})"
            if "skipped" in j
            else ("ERROR" if "error" in j else _g(j.get("wall_seconds"))),
            _g(j.get("compile_seconds")),
            _g(j.get("first_simulation_seconds")),
            _g(j.get("first_point_seconds")),
        ]
        for j in doc["jit"]
    ]
    head = ["model", "cache", "wall s", "compile s", "first simulation s", "first point s"]
    lines += _table(head, rows)
    lines += [
        f"  Python bytecode cache of the first-point runs: {j['python_bytecode_cache']}"
        for j in doc["jit"]
        if j.get("python_bytecode_cache", "on") != "on"
    ]
    ld = doc.get("load") or {}
    unreliable = bool(ld.get("loaded"))
    lines += ["", "Targets" + (" (* unreliable: the machine was loaded)" if unreliable else "")]
    rows = [
        [
            t["name"],
            _g(t["value"]),
            f"{t['op']} {_g(t['threshold'])}",
            {True: "met", False: "NOT MET", None: "not measured"}[t["met"]]
            + ("*" if t["met"] is not None and not t.get("reliable", True) else ""),
        ]
        for t in doc["targets"]
    ]
    lines += _table(["target", "value", "target", "status"], rows)
    if unreliable:
        lines.append(
            f"  * {ld.get('reason')}: these timings measure that work too; rerun on an idle "
            "machine to judge the targets"
        )
    if doc.get("errors"):
        lines += ["", "Errors (these measurements failed)"]
        lines += [f"  {e}" for e in doc["errors"]]
    return "\n".join(lines) + "\n"


def write_json(doc: dict[str, Any], path: Path) -> Path:
    """Write ``doc`` to ``path`` atomically (temporary file, fsync, rename)."""
    path = Path(path)
    atomic_write_text(path, json.dumps(doc, indent=1) + "\n")  # OutputError names the path
    return path


def read_json(path: Path) -> dict[str, Any]:
    """A bench result written by ``write_json`` (checks the schema)."""
    from mcstudy.bench.suite import SCHEMA

    path = Path(path)
    if path.exists() and not path.is_file():  # a FIFO would block, a device never end
        raise McStudyError(f"{path}: not a regular file; expected a benchmark result")
    try:
        doc = json.loads(path.read_text())
    except FileNotFoundError:
        raise McStudyError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise McStudyError(f"{path}: not a benchmark result ({exc})") from None
    if not isinstance(doc, dict) or doc.get("schema") != SCHEMA:
        raise McStudyError(f"{path}: not a benchmark result of schema {SCHEMA}")
    return doc
