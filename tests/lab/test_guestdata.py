"""Parsing the guest's artefacts: the workload's windows, zone samples, the kprobe trace."""

from __future__ import annotations

import pytest

from mcstudy.lab.errors import LabError
from mcstudy.lab.guestdata import (
    parse_hist,
    parse_ptwork,
    parse_samples,
    parse_trace,
    trace_stats,
)

INTERRUPTS = """           CPU0       CPU1
 11:       2771       1793 GIC-0  27 Level     arch_timer
IPI0:        13         26       Rescheduling interrupts
IPI1:       {a}        {b}       Function call interrupts
Err:          0
"""
HIST = """# event histogram
#
# trigger info: hist:keys=cpu:vals=hitcount:sort=hitcount:size=2048 [active]
#

{{ cpu:          0 }} hitcount:         {n}

Totals:
    Hits: {n}
    Entries: 1
    Dropped: 0
"""
STAT = "55 (kswapd0) S 2 0 0 0 -1 2129984 0 0 0 0 {u} {s} 0 0 20 0 1 0 5 0 0\n"


def snapshot(edge: str, a: int, b: int, n: int, u: int) -> str:
    return (
        f"@file {edge} /proc/interrupts\n{INTERRUPTS.format(a=a, b=b)}@end\n"
        f"@file {edge} /proc/vmstat\nallocstall_dma {n}\npgalloc_dma {10 * n}\npgfree 5\n@end\n"
        f"@file {edge} /sys/kernel/tracing/events/lab/callback/hist\n{HIST.format(n=n)}@end\n"
        f"@file {edge} /proc/55/stat\n{STAT.format(u=u, s=u)}@end\n"
    )


def ptwork_text() -> str:
    return (
        "@region 1099511627776 1099645845504\n@maps\n"
        "00400000-00401000 r-xp 00000000 00:00 0 /bin/labwork\n"
        "10000000000-10008000000 r--p 00000000 00:00 0\n@end\n"
        + snapshot("begin", 10, 20, 3, 100)
        + snapshot("end", 15, 21, 7, 110)
        + "@window work 0 5 1000000000 2000000000\n"
        + snapshot("begin", 15, 21, 7, 110)
        + snapshot("end", 16, 21, 7, 113)
        + "@window idle 0 0 2000000000 2500000000\n@done 5\n"
    )


def test_ptwork_windows_and_their_snapshot_deltas():
    run = parse_ptwork(ptwork_text())
    assert run.region == (1 << 40, (1 << 40) + (128 << 20))
    assert run.maps[-1] == (0x10000000000, 0x10008000000)
    work, idle = run.windows
    assert (work.kind, work.gathers, work.seconds) == ("work", 5, 1.0)
    assert work.function_calls() == [5, 1]
    assert work.vmstat_delta("allocstall") == 4 and work.vmstat_delta("pgalloc") == 40
    assert work.hist_delta("callback/hist") == {0: 4}
    assert work.kswapd_cpu_ticks() == 20
    assert (idle.kind, idle.seconds, idle.function_calls()) == ("idle", 0.5, [1, 0])
    assert run.of_kind("idle") == [idle] and run.done == 5


def test_ptwork_output_that_is_cut_or_foreign_is_refused():
    text = ptwork_text()
    with pytest.raises(LabError, match="incomplete"):
        parse_ptwork(text.replace("@done 5\n", ""))
    with pytest.raises(LabError, match="unexpected line"):
        parse_ptwork("hello\n" + text)
    with pytest.raises(LabError, match="not terminated"):
        parse_ptwork(text[: text.index("@end\n@file end /proc/vmstat")])


def test_hist_and_trace_stats():
    assert parse_hist(HIST.format(n=9)) == {0: 9}
    with pytest.raises(LabError, match="unrecognised"):
        parse_hist("{ cpu: x } hitcount 3\n")
    st = trace_stats("entries: 12\noverrun: 0\noldest event ts:    12.756132\ndropped events: 3\n")
    assert st["entries"] == 12 and st["dropped events"] == 3


def test_zone_samples():
    s = parse_samples("z 100 0 DMA 500 479 598 717 0\nz 200 0 DMA 470 1503 1622 1741 1024\n")
    assert [(x.ms, x.free, x.min, x.boost) for x in s] == [
        (100, 500, 479, 0),
        (200, 470, 1503, 1024),
    ]
    with pytest.raises(LabError, match="bad line"):
        parse_samples("z 1 2 3\n")


def line(ev: str, where: str, fields: str = "", ts: float = 1.0, task: str = "ptwork-122") -> str:
    return f"          {task}     [001] d....    {ts:.6f}: {ev}: ({where}){fields}"


def gather(ts: float, outcomes: list[bool], nr: int, checks: bool = True) -> list[str]:
    out = [line("gather", "tlb_gather_mmu", ts=ts)]
    for f in outcomes:
        out.append(line("attempt", "tlb_remove_table", " batch=0x0", ts=ts))
        if f and checks:
            out.append(
                line("wmark", "__zone_watermark_ok", " order=0 mark=598 flags=0x881 free=470", ts)
            )
            out.append(
                line("wmark", "__zone_watermark_ok", " order=0 mark=479 flags=0x8c0 free=470", ts)
            )
        ret = "0x0" if f else "0xffff000004477000"
        out.append(line("gfp", "tlb_remove_table <- __get_free_pages", f" ret={ret}", ts))
        if f:
            out.append(line("sync", "smp_call_function", " func=0xffffd8ba0b9150d0", ts))
    batch = "0x0" if all(outcomes) else "0xffff000004477000"
    out.append(line("finish", "tlb_finish_mmu", f" batch={batch} nr={nr}", ts))
    return out


def test_trace_cut_into_gathers_with_attempts_checks_and_fallbacks():
    text = "\n".join(
        [
            "# tracer: nop",
            line("gfp", "pud_alloc <- __get_free_pages", " ret=0xffff0000", 0.5),  # stray
            *gather(1.0, [False], 66),
            *gather(2.0, [True, True, False], 64),
            *gather(3.0, [True] * 66, 0),
            line("gather", "tlb_gather_mmu", ts=4.0, task="sh-99"),  # another task
        ]
    )
    tr = parse_trace(text)
    assert tr.stray == 1 and len(tr.gathers) == 3
    a, b, c = tr.gathers
    assert (a.outcomes(), a.fallbacks, a.tables(509)) == ([False], 0, 66)
    assert (b.outcomes(), b.failures, b.fallbacks, b.tables(509)) == ([True, True, False], 2, 2, 66)
    assert b.attempts[0].checks == [(598, 470), (479, 470)] and b.attempts[0].fallback
    assert (c.failures, c.successes, c.batch_at_finish, c.tables(509)) == (66, 0, False, 66)


def test_trace_inconsistencies_are_errors():
    with pytest.raises(LabError, match="nested"):
        parse_trace("\n".join([line("gather", "tlb_gather_mmu"), line("gather", "tlb_gather_mmu")]))
    with pytest.raises(LabError, match="no tlb_finish_mmu"):
        parse_trace(line("gather", "tlb_gather_mmu"))
    with pytest.raises(LabError, match="without its attempt"):
        parse_trace(
            "\n".join(
                [line("gather", "tlb_gather_mmu"), line("gfp", "tlb_remove_table <- x", " ret=0x0")]
            )
        )
    with pytest.raises(LabError, match="unrecognised line"):
        parse_trace("garbage")
