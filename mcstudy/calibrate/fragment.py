"""The calibration's outputs: the TOML fragment (``[params]`` for ``mcstudy run --params``,
``[calibration]`` for what was observed), its atomic write, and the text report."""

from __future__ import annotations

from pathlib import Path

from mcstudy.calibrate.calibration import Calibration
from mcstudy.calibrate.reclaim import DOCS
from mcstudy.storage.atomic import atomic_write_text

#: units and source of the [calibration] values besides the reclaim ones
_INFO_DOCS: dict[str, tuple[str, str]] = {
    "interval_s": ("s", "time between the two snapshots"),
    "zone_alloc_share": ("fraction", "d pgalloc_<zone> / d pgalloc_*"),
    "pgalloc_all_per_s": ("pages/s", "d pgalloc_* / dt"),
    "pgfree_per_s": ("pages/s", "d pgfree / dt"),
    "thp_fault_rate": ("THPs/s", "d thp_fault_alloc / dt"),
    "kswapd_reclaim_pages_per_s": ("pages/s", "d pgsteal_kswapd / dt"),
    "direct_reclaim_pages_per_s": ("pages/s", "d pgsteal_direct / dt"),
    "direct_reclaim_stalls_per_s": ("stalls/s", "d allocstall_* / dt"),
    "kswapd_runs_per_s": ("runs/s", "d pageoutrun / dt (balance_pgdat calls)"),
    "boost": ("pages", "zoneinfo boost"),
    "free_pages": ("pages", "zoneinfo pages free"),
    **DOCS,
}


_PARAM_DOCS = {
    "khugepaged_collapse_rate": "collapses/s; d thp_collapse_alloc / dt, measured "
    "(khugepaged_scan_pace_per_s below is only its upper bound)",
}


def _toml_value(v: object) -> str:
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    return f"{float(v):.6g}"  # type: ignore[arg-type]


def fragment(cal: Calibration, source: str) -> str:
    """The TOML fragment: ``[params]`` for ``mcstudy run --params``, ``[calibration]``."""
    lines = [
        f"# mcstudy calibrate: zone {cal.zone.name} of node {cal.node} from {source}",
        "# Watermarks without boost; rates in pages (or events) per second.",
        "[params]",
    ]
    for k, v in cal.params.items():
        line = f"{k} = {v!r}" if isinstance(v, int) else f"{k} = {float(v):.6g}"
        if k in _PARAM_DOCS:
            line += f"  # {_PARAM_DOCS[k]}"
        lines.append(line)
    lines += ["", "[calibration]  # observed, not inputs of the pressure chain"]
    for k, v in cal.info.items():
        line = f"{k} = {_toml_value(v)}"
        if k in _INFO_DOCS:
            units, src = _INFO_DOCS[k]
            line += f"  # {units}; {src}" if units else f"  # {src}"
        lines.append(line)
    for note in cal.notes:
        lines.append(f"# note: {note}")
    return "\n".join(lines) + "\n"


def report(cal: Calibration) -> str:
    """Human-readable summary: zones, kernel formula comparison, chosen parameters."""
    f = cal.formula
    out = [f"node {cal.node}: {len(cal.zones)} zones"]
    if f is not None:
        how = (
            "raised by khugepaged for THP" if cal.formula_thp else "square-root rule, no THP raise"
        )
        out.append(
            f"kernel formulas: min_free_kbytes = {f.min_free_kbytes} KiB ({how}; "
            f"square-root rule alone {f.sqrt_min_free_kbytes} KiB)"
        )
    out.append(
        f"  {'zone':8} {'managed':>10} {'free':>10} {'boost':>6} "
        f"{'min':>8} {'low':>8} {'high':>8}  formula (min/low/high)   match"
    )
    for i, z in enumerate(cal.zones):
        m = f.marks[i] if f is not None else None
        formula = f"{m.min}/{m.low}/{m.high}" if m is not None else "-"
        ok = "yes" if cal.matches.get(z.name) else "NO"
        out.append(
            f"  {z.name:8} {z.managed_pages:>10} {z.free:>10} {z.boost:>6} {z.wmark_min:>8} "
            f"{z.wmark_low:>8} {z.wmark_high:>8}  {formula:24} {ok}"
        )
    if f is not None:
        for i, z in enumerate(cal.zones):
            if z.protection:
                out.append(
                    f"  protection {z.name}: {tuple(z.protection)} "
                    f"formula {tuple(f.lowmem_reserve[i][: len(z.protection)])}"
                )
    out.append(f"GFP_NOWAIT zone: {cal.zone.name} (node {cal.node})")
    for k, v in cal.params.items():
        out.append(f"  {k} = {v:.6g}" if isinstance(v, float) else f"  {k} = {v}")
    for k, v in cal.info.items():
        if k in ("zone", "node"):
            continue
        if isinstance(v, list):
            shown = "[" + ", ".join(f"{x:.4g}" for x in v) + "]"
        else:
            shown = f"{v:.6g}" if isinstance(v, float) else str(v)
        out.append(f"  ({k} = {shown})")
    for note in cal.notes:
        out.append(f"note: {note}")
    return "\n".join(out)


def write_fragment(out: Path, text: str) -> None:
    """Write the fragment to ``out`` atomically (an existing regular file is replaced
    whole; anything else, a device or a link, is refused)."""
    atomic_write_text(out, text)
