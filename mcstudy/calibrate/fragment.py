"""The calibration's outputs: the TOML fragment (``[params]`` for ``mcstudy run --params``,
``[calibration]`` for what was observed), its atomic write, and the text report."""

from __future__ import annotations

from pathlib import Path

from mcstudy.calibrate.calibration import Calibration
from mcstudy.storage.atomic import atomic_write_text


def fragment(cal: Calibration, source: str) -> str:
    """The TOML fragment: ``[params]`` for ``mcstudy run --params``, ``[calibration]``."""
    lines = [
        f"# mcstudy calibrate: zone {cal.zone.name} of node {cal.node} from {source}",
        "# Watermarks without boost; rates in pages (or events) per second.",
        "[params]",
    ]
    for k, v in cal.params.items():
        lines.append(f"{k} = {v!r}" if isinstance(v, int) else f"{k} = {float(v):.6g}")
    lines += ["", "[calibration]  # observed, not inputs of the pressure chain"]
    for k, v in cal.info.items():
        if isinstance(v, str):
            lines.append(f'{k} = "{v}"')
        elif isinstance(v, int):
            lines.append(f"{k} = {v}")
        else:
            lines.append(f"{k} = {float(v):.6g}")
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
        out.append(f"  ({k} = {v:.6g})" if isinstance(v, float) else f"  ({k} = {v})")
    return "\n".join(out)


def write_fragment(out: Path, text: str) -> None:
    """Write the fragment to ``out`` atomically (an existing regular file is replaced
    whole; anything else, a device or a link, is refused)."""
    atomic_write_text(out, text)
