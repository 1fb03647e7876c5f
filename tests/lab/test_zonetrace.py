"""The stall trace and the fast zone sampler, parsed and batched (mcstudy.lab.zonetrace)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mcstudy.lab.errors import LabError
from mcstudy.lab.guestdata import Gather
from mcstudy.lab.zonetrace import (
    Stall,
    batches,
    bootstrap_sd,
    cv,
    own_stall_before,
    parse_stalls,
    parse_zonewatch,
    reclaim_position,
    stall_law,
)

HEAD = "# tracer: nop\n#\n"


def line(task: str, pid: int, cpu: int, ts: float, event: str, fields: str) -> str:
    return f"{task:>16}-{pid:<7} [{cpu:03d}] ..... {ts:12.6f}: {event}: {fields}"


BEGIN = "mm_vmscan_direct_reclaim_begin"
END = "mm_vmscan_direct_reclaim_end"
LRU = "mm_vmscan_lru_shrink_inactive"


def test_stalls_pair_per_task_with_their_lru_passes():
    text = HEAD + "\n".join(
        [
            line("churn", 235, 0, 1.000, BEGIN, "order=0 gfp_flags=GFP_HIGHUSER_MOVABLE"),
            line("ptwork", 300, 1, 1.001, BEGIN, "order=0 gfp_flags=GFP_KERNEL"),
            line("churn", 235, 0, 1.004, LRU, "nid=0 nr_scanned=32 nr_reclaimed=20 priority=7"),
            line("ptwork", 300, 1, 1.005, LRU, "nid=0 nr_scanned=32 nr_reclaimed=30 priority=7"),
            line("churn", 235, 0, 1.010, END, "nr_reclaimed=40"),
            line("init", 1, 1, 1.011, LRU, "nid=0 nr_scanned=1 nr_reclaimed=1 priority=12"),
            line("ptwork", 300, 1, 1.021, END, "nr_reclaimed=30"),
            line("churn", 235, 0, 1.030, END, "nr_reclaimed=3"),
            line("churn", 235, 0, 1.040, BEGIN, "order=0 gfp_flags=GFP_HIGHUSER_MOVABLE"),
        ]
    )
    st = parse_stalls(text)
    assert [(s.task, s.reclaimed) for s in st.stalls] == [("churn", 40), ("ptwork", 30)]
    assert st.stalls[0].seconds == pytest.approx(0.010)
    assert st.stalls[1].seconds == pytest.approx(0.020)
    assert st.stalls[0].passes == [(1.004, 20)]
    assert (st.open_at_end, st.ends_without_begin, st.passes_outside) == (1, 1, 1)
    # churn's 20 pages at 0.4 of its stall, ptwork's 30 at 0.2 of its
    num, den = reclaim_position(st.stalls)
    assert den == 50 and num / den == pytest.approx((20 * 0.4 + 30 * 0.2) / 50)


def test_stall_trace_errors_name_the_line():
    with pytest.raises(LabError, match=r"stall trace:3: unrecognised line"):
        parse_stalls(HEAD + "garbage")
    with pytest.raises(LabError, match="no nr_reclaimed"):
        parse_stalls(HEAD + line("a", 5, 0, 1.0, BEGIN, "") + "\n" + line("a", 5, 0, 2, END, ""))


def test_a_stall_that_begins_again_before_its_end_is_dropped_not_fatal():
    """7.2.13 arm64 traced a churn task beginning a second direct-reclaim stall 174 ms
    after its first with no end between (no event lost in the buffers); the matrix run
    stopped on it. The first is dropped as incomplete and counted."""
    nested = HEAD + "\n".join(
        [
            line("a", 5, 0, 1.0, BEGIN, "order=0"),
            line("a", 5, 0, 1.1, BEGIN, "order=0"),
            line("a", 5, 0, 1.2, END, "nr_reclaimed=7"),
        ]
    )
    st = parse_stalls(nested)
    assert st.begins_without_end == 1
    assert [(s.start, s.reclaimed) for s in st.stalls] == [(1.1, 7)]
    assert st.stalls[0].seconds == pytest.approx(0.1)


def test_zonewatch_lines_and_errors():
    bins = parse_zonewatch("q 1000 0 DMA 10 3 1\nq 1000 0 DMA32 10 10 1\n\nq 1100 0 DMA 9 0 0\n")
    assert [(b.end_ms, b.zone, b.samples, b.below, b.entries) for b in bins] == [
        (1000, "DMA", 10, 3, 1),
        (1000, "DMA32", 10, 10, 1),
        (1100, "DMA", 9, 0, 0),
    ]
    with pytest.raises(LabError, match="zonewatch:1: bad line"):
        parse_zonewatch("z 1 0 DMA 1 1 1\n")
    with pytest.raises(LabError, match="zonewatch:2: more samples below min"):
        parse_zonewatch("q 1 0 DMA 1 1 1\nq 2 0 DMA 3 4 0\n")


def test_batches_sum_within_the_span_and_merge_when_correlated():
    # independent items: 64 batches of 0.5 s over 32 s, every item counted once
    rng = np.random.default_rng(3)
    ts = np.sort(rng.uniform(0.0, 32.0, 4000))
    items = [(float(t), float(rng.random() < 0.2), 1.0) for t in ts]
    b = batches(0.0, 32.0, [*items, (40.0, 1.0, 1.0)])
    assert b.n == 64 and b.seconds == pytest.approx(0.5)
    assert sum(y for _, y in b.pairs) == 4000
    # a slow trend (the first half at 0.05, the second at 0.6) makes neighbouring batches
    # alike: they are merged down to the floor of 8
    trend = [(float(t), float(rng.random() < (0.05 if t < 16 else 0.6)), 1.0) for t in ts]
    assert batches(0.0, 32.0, trend).n == 8
    assert batches(1.0, 1.0, items).n == 0


def test_cv_bootstrap_and_the_law_it_points_to():
    rng = np.random.default_rng(5)
    expo = rng.exponential(0.02, 4000)
    assert cv(expo) == pytest.approx(1.0, abs=0.05)
    erl = rng.gamma(4.0, 0.005, 4000)
    assert cv(erl) == pytest.approx(0.5, abs=0.03)
    assert stall_law(cv(expo)).startswith("exponential")
    assert stall_law(0.5).startswith("Erlang with m = 4")
    assert stall_law(1.6).startswith("more variable than exponential")
    assert stall_law(math.nan).startswith("undetermined")
    groups = np.array_split(expo, 40)
    sd = bootstrap_sd(groups, cv)
    # the CV of 4000 exponential draws has a standard deviation of about 1/sqrt(4000) = 0.016
    assert 0.008 < sd < 0.03
    assert math.isnan(bootstrap_sd([expo], cv))


def test_own_stall_before_a_gather():
    def g(start, end):
        return Gather(start=start, end=end)

    gathers = [g(1.0, 1.1), g(2.0, 2.1), g(3.0, 3.1)]
    stalls = [
        Stall(7, "ptwork", 1.5, 1.6),  # between gathers 1 and 2: before gather 2
        Stall(8, "churn", 2.5, 2.6),  # another task's: not the gather's own
        Stall(7, "ptwork", 3.05, 3.2),  # ends after gather 3 began
    ]
    assert own_stall_before(gathers, stalls) == [False, True, False]
