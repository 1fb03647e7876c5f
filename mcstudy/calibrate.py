"""``mcstudy calibrate``: pressure-model parameters from a machine's /proc files.

From /proc/zoneinfo: the zone GFP_NOWAIT batch pages come from (the highest populated
zone up to ZONE_NORMAL of the node, first in the zonelist of ``gfp_zone(GFP_KERNEL)``),
its managed pages and its watermarks without the boost, and a check of every zone's
watermarks and lowmem reserves against the kernel's formulas (``mcstudy.kernel.
watermarks``). From two /proc/vmstat snapshots ``interval`` seconds apart, rates per
second:

* ``alloc_rate`` = d pgalloc_<zone> / dt (pages allocated from that zone);
* ``free_rate`` = (d pgfree - d pgsteal_kswapd - d pgsteal_direct - d pgsteal_khugepaged)
  x share / dt: frees other than by reclaim (the model's reclaim is kswapd and direct
  reclaim), attributed to the zone in proportion to its share of all allocations
  (pgfree is not per zone; in a steady state each zone frees what it allocates);
* ``thp_split_rate`` = d thp_split_pmd (thp_split before v4.5) / dt;
* ``khugepaged_collapse_rate`` = d thp_collapse_alloc / dt;
* THP faults (d thp_fault_alloc / dt) and the observed kswapd reclaim, direct-reclaim
  stalls and kswapd runs go to the ``[calibration]`` table of the fragment: they
  describe the machine but are not inputs of the pressure chain (THP fault pages are
  already in pgalloc).

The fragment's ``[params]`` table is what ``mcstudy run --params FILE`` merges.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import click

from mcstudy.errors import McStudyError
from mcstudy.kernel.procfs import ZoneInfo, parse_vmstat, parse_zoneinfo, vmstat_sum
from mcstudy.kernel.watermarks import (
    DEFAULT_WATERMARK_SCALE_FACTOR,
    KernelWatermarks,
    Zone,
    kernel_watermarks,
)
from mcstudy.storage.atomic import atomic_write_text

LIVE_ZONEINFO = Path("/proc/zoneinfo")
LIVE_VMSTAT = Path("/proc/vmstat")
LIVE_SYSCTL = Path("/proc/sys/vm")


@dataclass
class Calibration:
    """What calibrate found (pages, pages/s, events/s)."""

    node: int
    zone: ZoneInfo
    zones: list[ZoneInfo]
    formula: KernelWatermarks | None
    formula_thp: bool
    matches: dict[str, bool]
    params: dict[str, float | int] = field(default_factory=dict)
    info: dict[str, float | int | str] = field(default_factory=dict)


def _zone_objects(zones: list[ZoneInfo]) -> list[Zone]:
    return [Zone(z.name, z.managed_pages, z.present) for z in zones]


def compare_with_kernel(
    zones: list[ZoneInfo], watermark_scale_factor: int = DEFAULT_WATERMARK_SCALE_FACTOR
) -> tuple[KernelWatermarks, bool, dict[str, bool]]:
    """Kernel formulas (THP on, then off) against the zones' marks and protections."""
    objs = _zone_objects(zones)
    best = None
    for thp in (True, False):
        kw = kernel_watermarks(objs, thp_enabled=thp, watermark_scale_factor=watermark_scale_factor)
        matches = {}
        for z, m, res in zip(zones, kw.marks, kw.lowmem_reserve, strict=True):
            ok = (z.wmark_min, z.wmark_low, z.wmark_high) == (m.min, m.low, m.high)
            if z.promo is not None:
                ok = ok and z.promo - z.boost == m.promo
            if z.protection:
                ok = ok and z.protection == res[: len(z.protection)]
            matches[z.name] = ok
        if best is None or sum(matches.values()) > sum(best[2].values()):
            best = (kw, thp, matches)
    assert best is not None
    return best


def nowait_zone(zones: list[ZoneInfo], node: int) -> ZoneInfo:
    """The zone an order-0 GFP_NOWAIT allocation on ``node`` is served from first."""
    own = [z for z in zones if z.node == node]
    if not own:
        nodes = sorted({z.node for z in zones})
        raise McStudyError(f"node {node} not in zoneinfo (nodes: {nodes})")
    for name in ("Normal", "DMA32", "DMA"):
        for z in own:
            if z.name == name and z.managed_pages > 0:
                return z
    raise McStudyError(f"node {node} has no populated DMA/DMA32/Normal zone")


def vmstat_rates(
    before: dict[str, int], after: dict[str, int], interval: float, zone: str
) -> tuple[dict[str, float], dict[str, float | str]]:
    """(params, info) rates per second from two vmstat snapshots."""
    if interval <= 0:
        raise McStudyError(f"--interval must be > 0 seconds (got {interval})")

    def d(name: str) -> int:
        return vmstat_sum(after, name) - vmstat_sum(before, name)

    def d1(*names: str) -> int:
        for n in names:
            if n in after and n in before:
                return after[n] - before[n]
        return 0

    if after.get("pgfree", 0) < before.get("pgfree", 0):
        raise McStudyError(
            "vmstat counters went backwards: are --vmstat and --vmstat-after swapped?"
        )
    zname = zone.lower()
    alloc_zone = d1(f"pgalloc_{zname}")
    alloc_all = d("pgalloc")
    share = alloc_zone / alloc_all if alloc_all > 0 else 0.0
    reclaimed = d("pgsteal_kswapd") + d("pgsteal_direct") + d("pgsteal_khugepaged")
    natural_free = max(d1("pgfree") - reclaimed, 0)
    params = {
        "alloc_rate": alloc_zone / interval,
        "free_rate": natural_free * share / interval,
        "thp_split_rate": d1("thp_split_pmd", "thp_split") / interval,
        "khugepaged_collapse_rate": d1("thp_collapse_alloc") / interval,
    }
    info: dict[str, float | str] = {
        "interval_s": interval,
        "zone_alloc_share": share,
        "pgalloc_all_per_s": alloc_all / interval,
        "pgfree_per_s": d1("pgfree") / interval,
        "thp_fault_rate": d1("thp_fault_alloc") / interval,
        "kswapd_reclaim_pages_per_s": d("pgsteal_kswapd") / interval,
        "direct_reclaim_pages_per_s": d("pgsteal_direct") / interval,
        "direct_reclaim_stalls_per_s": d("allocstall") / interval,
        "kswapd_runs_per_s": d1("pageoutrun") / interval,
    }
    return params, info


def _read_sysctl(name: str) -> int | None:
    try:
        return int((LIVE_SYSCTL / name).read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def calibrate(
    zoneinfo: Path,
    vmstat: tuple[dict[str, int], dict[str, int], float] | None,
    node: int = 0,
    watermark_scale_factor: int = DEFAULT_WATERMARK_SCALE_FACTOR,
) -> Calibration:
    """Everything ``mcstudy calibrate`` reports, from parsed files."""
    zones = parse_zoneinfo(zoneinfo)
    zone = nowait_zone(zones, node)
    own = [z for z in zones if z.node == node]
    formula, thp, matches = compare_with_kernel(own, watermark_scale_factor)
    cal = Calibration(node, zone, own, formula, thp, matches)
    cal.params.update(
        managed_pages=zone.managed_pages,
        wmark_min=zone.wmark_min,
        wmark_low=zone.wmark_low,
        wmark_high=zone.wmark_high,
    )
    cal.info.update(zone=zone.name, node=node, boost=zone.boost, free_pages=zone.free)
    if vmstat is not None:
        params, info = vmstat_rates(vmstat[0], vmstat[1], vmstat[2], zone.name)
        cal.params.update(params)
        cal.info.update(info)
    return cal


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


@click.command("calibrate")
@click.option(
    "--zoneinfo", type=click.Path(dir_okay=False, path_type=Path), help="/proc/zoneinfo copy."
)
@click.option(
    "--vmstat", type=click.Path(dir_okay=False, path_type=Path), help="first /proc/vmstat."
)
@click.option(
    "--vmstat-after",
    type=click.Path(dir_okay=False, path_type=Path),
    help="second /proc/vmstat, --interval seconds later.",
)
@click.option("--interval", type=float, default=None, help="seconds between the snapshots.")
@click.option("--node", type=click.IntRange(min=0), default=0, show_default=True)
@click.option(
    "--watermark-scale-factor",
    type=click.IntRange(min=1, max=3000),
    default=None,
    help="vm.watermark_scale_factor for the formula check (default: live value, else 10).",
)
@click.option(
    "-o",
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="write the TOML fragment here.",
)
def calibrate_command(
    zoneinfo: Path | None,
    vmstat: Path | None,
    vmstat_after: Path | None,
    interval: float | None,
    node: int,
    watermark_scale_factor: int | None,
    out: Path | None,
) -> None:
    """Pressure-model parameters from /proc/zoneinfo and two /proc/vmstat snapshots.

    Without --zoneinfo (on Linux) reads the live /proc, taking the two vmstat snapshots
    --interval seconds apart (default 5).
    """
    live = zoneinfo is None
    try:
        if live:
            if not LIVE_ZONEINFO.exists():
                raise McStudyError("no --zoneinfo given and no live /proc/zoneinfo (not Linux?)")
            if vmstat is not None or vmstat_after is not None:
                raise McStudyError("--vmstat needs --zoneinfo (the live mode reads /proc itself)")
            zoneinfo = LIVE_ZONEINFO
            wait = interval if interval is not None else 5.0
            if wait <= 0:
                raise McStudyError(f"--interval must be > 0 seconds (got {wait})")
            t0 = time.monotonic()
            before = parse_vmstat(LIVE_VMSTAT)
            click.echo(f"reading /proc/vmstat twice, {wait:g} s apart ...", err=True)
            time.sleep(wait)
            after = parse_vmstat(LIVE_VMSTAT)
            snaps = (before, after, time.monotonic() - t0)
            source = "the live /proc"
        else:
            given = [vmstat is not None, vmstat_after is not None, interval is not None]
            if any(given) and not all(given):
                raise McStudyError("give --vmstat, --vmstat-after and --interval together")
            snaps = None
            if all(given):
                snaps = (parse_vmstat(vmstat), parse_vmstat(vmstat_after), float(interval))  # type: ignore[arg-type]
            source = str(zoneinfo)
        wsf = watermark_scale_factor
        if wsf is None:
            wsf = (_read_sysctl("watermark_scale_factor") if live else None) or 10
        cal = calibrate(zoneinfo, snaps, node, wsf)
        text = fragment(cal, source)
        click.echo(report(cal))
        if out is not None:
            if out.exists() and out.is_dir():
                raise McStudyError(f"{out}: output path is a directory")
            atomic_write_text(out, text)
            click.echo(f"wrote {out}")
        else:
            click.echo("")
            click.echo(text, nl=False)
    except McStudyError as exc:
        click.echo(f"mcstudy: error: {exc}", err=True)
        sys.exit(2)
