"""``@njit`` kernel of the IPI side of the THP model (``docs/model.md`` §5.6-§5.8): what one
isolated CPU receives.

Two sources of synchronous IPI rounds (``tlb_remove_table_sync_one()``), both sent from
housekeeping CPUs:

* khugepaged, at every ``collapse_huge_page()`` (the collapse times are shared with the
  population kernel), under the collapse policy:

  - ``sync_ipi`` (mainline): one round; the old PTE table becomes the deposit.
  - ``fresh_table``: under the ``deposit`` table policy a fresh table is allocated for the
    deposit (``fresh_table_gfp``: blocking, never fails here; or GFP_NOWAIT, fails with
    the current probability: then khugepaged falls back to the mainline round and
    deposits the old table); the old table is freed through an mmu_gather of one table,
    i.e. one ``tlb_remove_table()`` (on the profiles that use it): its GFP_NOWAIT batch
    page fails with the current probability, and then ``tlb_remove_table_one()`` sends
    a round (or frees it by ``call_rcu()`` with PT_RECLAIM).
  - ``rcu_free``: the old table is freed by ``call_rcu()`` (no round); under ``deposit``
    the fresh-table allocation is the same as for ``fresh_table``.

* munmap gathers of ``tables_per_gather`` tables at ``gather_rate`` (the ``tlb_remove_table``
  fallback, ``docs/model.md`` §3, §5.7): each failing batch-page attempt is one round; the rounds of one
  gather are ``sync_round_us`` apart (the sender waits for every target before the next).

The IPI policy (``ipi_policy``) applies to both sources. For the tagged isolated CPU:
``broadcast`` delivers every round; ``mm_cpumask`` only the rounds of events in the RT
application's own mm (each event independently with probability ``rt_mm_share``; an
isolated CPU runs only the RT task, so it is in no other mm's cpumask); ``kernel_mode``
those rounds again, each only if the CPU is then in kernel mode (independently with
probability ``1 - rt_user_fraction``); ``rcu`` none (khugepaged then waits with
``synchronize_rcu()``, a fallback table is freed by ``call_rcu()``).

Delivered rounds are binned into RT cycles of ``rt_cycle_us`` from the start of the
measured window; per sequence the kernel counts cycles hit, the per-cycle histogram and
the largest count in one cycle.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from mcstudy.engine.buffers import push
from mcstudy.engine.sampling import bernoulli, exponential
from mcstudy.engine.tallies import TallyLayout
from mcstudy.kernel.mmu_gather import tlb_remove_table_gather
from mcstudy.kernel.policies import (
    COLLAPSE_FRESH,
    COLLAPSE_OLD_RCU,
    IPI_KERNEL_ONLY,
    IPI_MM_ONLY,
    IPI_SENDS,
    collapse_policy,
    ipi_policy,
)

RT_PARAMS = np.dtype(
    [
        ("collapse_policy", np.int64),  # ``kernel.policies`` collapse code
        ("deposit", np.int64),  # table_policy == deposit (khugepaged must deposit a table)
        ("fresh_nowait", np.int64),  # the fresh table is a GFP_NOWAIT allocation
        ("khugepaged_sync", np.int64),  # profile: collapse_huge_page() sends a real IPI
        ("uses_trt", np.int64),  # profile: page tables go through tlb_remove_table()
        ("fallback_ipi", np.int64),  # profile: tlb_remove_table_one() sends a round
        ("ipi_policy", np.int64),  # ``kernel.policies`` IPI code
        ("tables", np.int64),  # page tables per munmap gather
        ("batch", np.int64),  # table pointers per batch page
        ("cycles", np.int64),  # RT cycles in the measured window
        ("hist", np.int64),  # per-cycle histogram: counts 0..hist-1 exact, hist = overflow
        ("gather_rate", np.float64),  # gathers/s
        ("cycle_s", np.float64),  # RT cycle, s
        ("spacing_s", np.float64),  # time between the rounds of one gather, s
    ],
    align=True,
)
"""What ``rt_sequence`` takes for one (IPI policy, collapse policy) variant: a record
read by name in the kernel, built only by ``rt_params``. A structured array, not a named
tuple: a parallel (``prange``) driver cannot take a named tuple inside its argument
tuple (Numba's gufunc wrapper rejects it), and a record array of variants is one
argument of one type."""


def rt_params(
    profile,
    *,
    collapse: str,
    ipi: str,
    deposit: bool,
    fresh_nowait: bool,
    tables: int,
    batch: int,
    cycles: int,
    hist: int,
    gather_rate: float,
    cycle_us: float,
    spacing_us: float,
) -> np.ndarray:
    """The one packer of ``RT_PARAMS`` records (a 1-element structured array): ``profile`` is a kernel profile
    (``mcstudy.kernel.profiles``: its ``khugepaged_sync_ipi``, ``uses_tlb_remove_table``
    and ``fallback_sends_ipi`` flags); policies by name; times in microseconds."""
    out = np.zeros(1, dtype=RT_PARAMS)
    r = out[0]
    r["collapse_policy"] = collapse_policy(collapse).code
    r["deposit"] = int(bool(deposit))
    r["fresh_nowait"] = int(bool(fresh_nowait))
    r["khugepaged_sync"] = int(bool(profile.khugepaged_sync_ipi))
    r["uses_trt"] = int(bool(profile.uses_tlb_remove_table))
    r["fallback_ipi"] = int(bool(profile.fallback_sends_ipi))
    r["ipi_policy"] = ipi_policy(ipi).code
    r["tables"] = tables
    r["batch"] = batch
    r["cycles"] = cycles
    r["hist"] = hist
    r["gather_rate"] = gather_rate
    r["cycle_s"] = cycle_us * 1e-6
    r["spacing_s"] = spacing_us * 1e-6
    return out


# threshold rows (rth, uint64 [4, 3]): GFP_NOWAIT failure in calm / pressure, RT mm, kernel mode
H_NOWAIT = 0
H_RT_MM = 2
H_KERNEL = 3

# tally columns of the IPI part (after the population's and the deposit histogram's)
RT_TALLIES = TallyLayout(
    ints=(
        "collapses",
        "collapse_rounds",
        "collapse_iso",
        "fresh_failures",
        "rcu_frees",
        "gathers",
        "fallbacks",
        "fallback_rounds",
        "fallback_iso",
        "rt_cycles",
        "rt_hit_cycles",
        "rt_max_sum",
    ),
    floats=(
        "collapse_rounds_sq",
        "fallback_rounds_sq",
        "iso_sq",
        "rt_max_sq",
        "fresh_failures_sq",
        "rcu_frees_sq",
        "rt_hits_sq",
        "fallbacks_sq",
        "collapse_iso_sq",
        "fallback_iso_sq",
    ),
)
_v, _w = RT_TALLIES.int_col, RT_TALLIES.float_col
V_COLLAPSES = _v("collapses")
V_COLLAPSE_ROUNDS = _v("collapse_rounds")
V_COLLAPSE_ISO = _v("collapse_iso")
V_FRESH_FAILURES = _v("fresh_failures")
V_RCU_FREES = _v("rcu_frees")
V_GATHERS = _v("gathers")
V_FALLBACKS = _v("fallbacks")
V_FALLBACK_ROUNDS = _v("fallback_rounds")
V_FALLBACK_ISO = _v("fallback_iso")
V_CYCLES = _v("rt_cycles")
V_HIT_CYCLES = _v("rt_hit_cycles")
V_MAX_SUM = _v("rt_max_sum")
N_RT_INT = RT_TALLIES.n_int  # then hist + 1 histogram columns
W_COLLAPSE_ROUNDS_SQ = _w("collapse_rounds_sq")
W_FALLBACK_ROUNDS_SQ = _w("fallback_rounds_sq")
W_ISO_SQ = _w("iso_sq")
W_MAX_SQ = _w("rt_max_sq")
W_FRESH_FAILURES_SQ = _w("fresh_failures_sq")
W_RCU_FREES_SQ = _w("rcu_frees_sq")
W_HITS_SQ = _w("rt_hits_sq")
W_FALLBACKS_SQ = _w("fallbacks_sq")
W_COLLAPSE_ISO_SQ = _w("collapse_iso_sq")
W_FALLBACK_ISO_SQ = _w("fallback_iso_sq")
N_RT_FLOAT = RT_TALLIES.n_float


def rt_hist_tallies(hist: int) -> TallyLayout:
    """Integer columns of the per-cycle IPI histogram after ``RT_TALLIES``: cycles with
    0 .. hist - 1 IPIs, then the overflow (>= hist)."""
    return TallyLayout(ints=tuple(f"rt_cycle_hist_{k:04d}" for k in range(hist + 1)), floats=())


@njit(cache=True)
def gather_fallbacks(st, n_tables, batch, rth, row):
    """Fallbacks of one mmu_gather (``mcstudy.kernel.mmu_gather.tlb_remove_table_gather``)."""
    f, _ = tlb_remove_table_gather(st, n_tables, batch, rth[row, 0], rth[row, 1], rth[row, 2] != 0)
    return f


@njit(cache=True)
def gather_fallbacks_timed(st, n_tables, batch, rth, t, spacing, e0, sw, isw, n_sw):
    """Fallbacks of one munmap gather starting at ``t`` whose attempts see the pressure
    path at their own times (``docs/model.md`` §11.8): each failure's
    ``tlb_remove_table_one()`` waits ``spacing`` seconds for its sync round before the
    next table's attempt; a success takes a batch page at once. ``isw``: the first
    switch after ``t``. One draw per attempt, as ``gather_fallbacks``: with no switch
    within the gather the two agree draw for draw."""
    remaining = n_tables
    f = 0
    j = isw
    while remaining > 0:
        tau = t + f * spacing
        while j < n_sw and sw[j] <= tau:
            j += 1
        if bernoulli(st, rth, H_NOWAIT + (e0 ^ (j & 1))):
            f += 1
            remaining -= 1
        else:
            remaining -= batch
    return f


@njit(cache=True)
def rt_sequence(
    gt_st,
    ga_st,
    kh_st,
    ipi_st,
    t0,
    t1,
    rp,
    rth,
    e0,
    sw,
    n_sw,
    coll,
    n_coll,
    buf,
    out_i,
    out_f,
):
    """IPI rounds of one sequence and what the tagged isolated CPU sees.

    Returns the delivery buffer (it grows) so the block can reuse it.
    """
    cpol = rp["collapse_policy"]
    deposit = rp["deposit"] != 0
    fresh_nowait = rp["fresh_nowait"] != 0
    kh_sync = rp["khugepaged_sync"] != 0
    uses_trt = rp["uses_trt"] != 0
    fb_ipi = rp["fallback_ipi"] != 0
    ipol = rp["ipi_policy"]
    n_tables = rp["tables"]
    batch = rp["batch"]
    n_cycles = rp["cycles"]
    hsize = rp["hist"]
    g_rate = rp["gather_rate"]
    cycle = rp["cycle_s"]
    spacing = rp["spacing_s"]
    per_event_mm = IPI_MM_ONLY[ipol]
    sends = IPI_SENDS[ipol]
    kernel_only = IPI_KERNEL_ONLY[ipol]
    # rows as int64 values, not literals: bernoulli compiles once, not once per row
    row_mm = np.int64(H_RT_MM)
    row_kernel = np.int64(H_KERNEL)
    # a fallback waits for its sync round; call_rcu() (no IPI) returns at once
    step = spacing if (fb_ipi and sends) else 0.0

    # first collapse in the window, and the pressure segment at t0
    ic = 0
    while ic < n_coll and coll[ic] < t0:
        ic += 1
    t_c = coll[ic] if ic < n_coll else math.inf
    t_g = t0 + exponential(gt_st, g_rate) if g_rate > 0.0 else math.inf
    isw = 0
    while isw < n_sw and sw[isw] <= t0:
        isw += 1
    nb = np.int64(0)
    collapses = c_rounds = c_iso = fresh_fail = rcu_frees = 0
    gathers = fallbacks = f_rounds = f_iso = 0
    while True:
        t = min(t_c, t_g)
        if t >= t1:
            break
        while isw < n_sw and sw[isw] <= t:
            isw += 1
        e = e0 ^ (isw & 1)
        row = H_NOWAIT + e
        rt_mm = True
        if per_event_mm:
            rt_mm = bernoulli(ipi_st, rth, row_mm)
        if t == t_c:
            ic += 1
            t_c = coll[ic] if ic < n_coll else math.inf
            collapses += 1
            sync = False  # khugepaged's own tlb_remove_table_sync_one()
            fallback = False  # a tlb_remove_table_one() of the old table
            if not COLLAPSE_FRESH[cpol]:
                sync = True
            else:
                fresh_ok = True
                if deposit and fresh_nowait:
                    fresh_ok = not bernoulli(kh_st, rth, row)
                if not fresh_ok:
                    fresh_fail += 1
                    sync = True  # mainline fallback: sync, deposit the old table
                elif COLLAPSE_OLD_RCU[cpol]:
                    rcu_frees += 1
                elif uses_trt:
                    fallback = gather_fallbacks(kh_st, 1, batch, rth, row) > 0
            rounds = 0
            if sync and kh_sync and sends:
                rounds = 1
            if fallback:
                if fb_ipi and sends:
                    rounds = 1
                else:
                    rcu_frees += 1
            c_rounds += rounds
            if rounds > 0 and rt_mm:
                deliver = True
                if not sends:
                    deliver = False
                elif kernel_only:
                    deliver = bernoulli(ipi_st, rth, row_kernel)
                if deliver:
                    c_iso += 1
                    k = int((t - t0) / cycle)
                    if k < n_cycles:
                        buf, nb = push(buf, nb, k)
        else:
            t_g = t + exponential(gt_st, g_rate)
            gathers += 1
            if not uses_trt:
                continue
            f = gather_fallbacks_timed(ga_st, n_tables, batch, rth, t, step, e0, sw, isw, n_sw)
            fallbacks += f
            if f == 0:
                continue
            if not fb_ipi or not sends:
                rcu_frees += f
                continue
            f_rounds += f
            if not rt_mm:
                continue
            for i in range(f):
                if kernel_only and not bernoulli(ipi_st, rth, row_kernel):
                    continue
                f_iso += 1
                k = int((t + i * spacing - t0) / cycle)
                if k < n_cycles:
                    buf, nb = push(buf, nb, k)

    # per-cycle counts: sort the cycle indices of the delivered rounds (insertion sort:
    # they arrive nearly in order, only overlapping gather bursts are out of order)
    for i in range(1, nb):
        x = buf[i]
        j = i - 1
        while j >= 0 and buf[j] > x:
            buf[j + 1] = buf[j]
            j -= 1
        buf[j + 1] = x
    hist0 = N_RT_INT
    hits = 0
    mx = 0
    if nb > 0:
        run = 1
        for i in range(1, nb + 1):
            if i < nb and buf[i] == buf[i - 1]:
                run += 1
                continue
            hits += 1
            if run > mx:
                mx = run
            out_i[hist0 + (run if run < hsize else hsize)] += 1
            run = 1
    out_i[hist0] += n_cycles - hits
    out_i[V_COLLAPSES] += collapses
    out_i[V_COLLAPSE_ROUNDS] += c_rounds
    out_i[V_COLLAPSE_ISO] += c_iso
    out_i[V_FRESH_FAILURES] += fresh_fail
    out_i[V_RCU_FREES] += rcu_frees
    out_i[V_GATHERS] += gathers
    out_i[V_FALLBACKS] += fallbacks
    out_i[V_FALLBACK_ROUNDS] += f_rounds
    out_i[V_FALLBACK_ISO] += f_iso
    out_i[V_CYCLES] += n_cycles
    out_i[V_HIT_CYCLES] += hits
    out_i[V_MAX_SUM] += mx
    out_f[W_COLLAPSE_ROUNDS_SQ] += float(c_rounds) * float(c_rounds)
    out_f[W_FALLBACK_ROUNDS_SQ] += float(f_rounds) * float(f_rounds)
    iso = float(c_iso + f_iso)
    out_f[W_ISO_SQ] += iso * iso
    out_f[W_MAX_SQ] += float(mx) * float(mx)
    out_f[W_FRESH_FAILURES_SQ] += float(fresh_fail) * float(fresh_fail)
    out_f[W_RCU_FREES_SQ] += float(rcu_frees) * float(rcu_frees)
    out_f[W_HITS_SQ] += float(hits) * float(hits)
    out_f[W_FALLBACKS_SQ] += float(fallbacks) * float(fallbacks)
    out_f[W_COLLAPSE_ISO_SQ] += float(c_iso) * float(c_iso)
    out_f[W_FALLBACK_ISO_SQ] += float(f_iso) * float(f_iso)
    return buf
