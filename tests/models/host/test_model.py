"""The coupled host study (docs/model.md §11): the coupling is exact on a small host (every
rate against the exact stationary chain within 4 standard errors), the zone's switch
times give the right time below min, the kernel agrees with the event-by-event
reference simulator, and the parameters resolve and refuse what they should."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
from scipy.linalg import expm

from mcstudy.engine.rng import stream_new
from mcstudy.exact.pressure import ZoneChain, generator, solve
from mcstudy.mechanisms.zone import Zone
from mcstudy.mechanisms.zone_events import C_STALL, N_COUNTERS
from mcstudy.models.contract import EstimateSpec
from mcstudy.models.host import kernels as KH
from mcstudy.models.host import zone as Z
from mcstudy.models.host.model import HostModel, host_exact
from mcstudy.models.host.outputs import MAINLINE_AT, key
from mcstudy.models.host.params import HostParams
from mcstudy.models.host.prepare import prepare
from mcstudy.models.host.scenarios import SMALL_BURSTY_HOST
from mcstudy.reference.host import HostRef, simulate
from tests.simulate import simulate_model

SMALL = dict(SMALL_BURSTY_HOST)
Z_TOL = 4.0


SPECS = {s.name: s for s in HostModel.point_specs()}
"""Every estimate's cell (``ipi_policy``, ``collapse_policy``, ... as a point names it)."""


def _agree(est: dict, exact: dict, spec: EstimateSpec) -> tuple[bool, str]:
    name = spec.name
    y, e = est[name], exact[spec.exact]
    lo, hi = (est[spec.ci[0]], est[spec.ci[1]]) if spec.ci else (math.nan, math.nan)
    se = est[spec.stderr]
    if lo <= e <= hi:
        return True, ""
    z = (y - e) / se if se > 0 else math.inf
    return abs(z) <= Z_TOL, f"{name}: {y:.6g} vs exact {e:.6g} (z = {z:+.2f}, [{lo:.4g}, {hi:.4g}])"


TIMED = {"stall_mean_s": 0.05, "alloc_tasks": 3, "stall_phases": 2}
"""Direct-reclaim stalls that take time (§4.13): 50 ms Erlang-2, three allocating tasks."""


@pytest.mark.parametrize(
    ("refill_gfp", "round_us", "stalls"),
    [
        ("kernel", None, {}),
        ("nowait", None, {}),
        ("kernel", 100_000.0, {}),
        ("kernel", 100_000.0, TIMED),
    ],
)
def test_every_coupled_rate_matches_the_exact_chain(refill_gfp, round_us, stalls):
    """Gathers, splits, collapses, refills all read one zone path: their rates follow from
    the exact stationary law (PASTA), and the Monte Carlo agrees within 4 SE. With
    0.1 s sync rounds a failing gather's later attempts see the zone 0.1 s, 0.2 s later
    (docs/model.md §11.8): fewer fallbacks than all-or-nothing, still exact; also when
    stalls take time (the law of attempts then runs over the stalled tasks too)."""
    params = dict(SMALL, refill_gfp=refill_gfp, sync_round_us=round_us, **stalls)
    _, est, exact = simulate_model("host", params, 600, 20230419, 3, 8)
    assert 0.02 < exact["nowait_fail_prob_exact"] < 0.2  # the zone does reach min here
    all_or_nothing = 3 * 5.0 * exact["nowait_fail_prob_exact"] * 3600.0
    if round_us is None:  # 4 us rounds: the zone cannot move between attempts
        assert exact["fallbacks_per_hour_exact"] == pytest.approx(all_or_nothing, rel=1e-3)
    else:
        assert exact["fallbacks_per_hour_exact"] < 0.9 * all_or_nothing
    checked, bad = 0, []
    for spec in SPECS.values():
        if spec.exact is None or not math.isfinite(exact[spec.exact]):
            continue
        ok, msg = _agree(est, exact, spec)
        checked += 1
        if not ok:
            bad.append(msg)
    assert checked >= (30 if refill_gfp == "kernel" else 24), checked
    assert bad == []


BAND = {"zone_scale": 4, "fine_band_pages": 8}
"""The small host's 300-page zone on a fine band (docs/model.md §4.14): single pages from
3 up to 16 free pages, 4 pages a level elsewhere."""


WIDE = {
    "managed_pages": 3000, "wmark_min": 20, "wmark_low": 60, "wmark_high": 100,
    "reclaim_batch": 1, "kswapd_rate": 30.0, "zone_scale": 1,
}  # fmt: skip
"""A zone whose kswapd batches are single pages: long runs of moves in the steady band, drawn
``zone_jump.AGG_MOVES`` at a time (the small host's batches of 8 between min 8 and high 30
leave no room for them)."""


@pytest.mark.parametrize(
    "zone",
    [{}, TIMED, BAND, {**BAND, **TIMED}, WIDE, {**WIDE, **TIMED, "zone_scale": 4}],
    ids=["plain", "timed", "band", "band-timed", "wide", "wide-band-timed"],
)
def test_zone_switch_times_give_the_exact_time_below_min(zone):
    """The THP and IPI sides see the zone only through its switch times: the time at or
    below min that they imply has the exact stationary mean, and so do the awake time
    and the stalls per second; also when direct-reclaim stalls take time (§4.13: a 50 ms
    Erlang-2 stall, 3 tasks) and on the levels of a fine band (§4.14). The path's own
    time fractions are the same integrals."""
    p = HostParams.model_validate({**SMALL, **zone})
    pr = prepare(p)
    P, jump = pr.zone
    cdf, span = pr.arrays.cdf, pr.arrays.span
    chain = p.setup().chain
    assert chain.coarse_pages == zone.get("zone_scale", 1)
    if zone.get("reclaim_batch") == 1:  # runs of AGG_MOVES moves happen in the steady band
        pos = pr.arrays.pos
        steady = (pos > chain.wmark_min + 8) & (
            pos + 9 <= min(chain.wmark_high, pr.zone[0].band_hi)
        )
        assert pr.stationary.pi[..., 1, :][..., steady].sum() > 0.2
    st = solve(chain)
    cnt = np.zeros(N_COUNTERS, dtype=np.int64)
    buf = (np.empty(8, dtype=np.int64), np.empty(8))
    horizon = span.horizon_s
    below, awake, stalls = [], [], []
    for j in range(1500):
        cnt[:] = 0
        buf, code0, n_sw, _n, b_frac, _ba, aw_frac = Z.zone_path(
            stream_new(5, 6, j, 1), stream_new(5, 6, j, 2), cdf, span.levels,
            pr.arrays.pos, P, span.atomic_mark, horizon, jump, pr.arrays.stall,
            cnt, buf,
        )  # fmt: skip
        codes, times = buf
        for bit, acc, own in ((Z.CODE_BELOW_MIN, below, b_frac), (Z.CODE_AWAKE, awake, aw_frac)):
            state = bool(code0 & bit)
            t0, total = 0.0, 0.0
            for a in range(n_sw):
                if state:
                    total += times[a] - t0
                state, t0 = bool(codes[a] & bit), times[a]
            if state:
                total += horizon - t0
            acc.append(total / horizon)
            assert own == pytest.approx(total / horizon, rel=1e-9, abs=1e-12)
        stalls.append(cnt[C_STALL] / horizon)
        assert np.all(np.diff(times[:n_sw]) >= 0) and (n_sw == 0 or times[n_sw - 1] < horizon)
    if "stall_mean_s" in zone:
        assert pr.arrays.stall[0] == 1 and st.stalled_tasks_mean > 0.01
    exact = ((below, st.below_min_prob), (awake, st.kswapd_awake_prob), (stalls, st.stalls_per_s))
    for acc, ex in exact:
        m, se = np.mean(acc), np.std(acc, ddof=1) / math.sqrt(len(acc))
        assert abs(m - ex) <= Z_TOL * se, (m, se, ex)


@pytest.mark.slow
@pytest.mark.parametrize(("round_us", "stalls"), [(4.0, {}), (100_000.0, {}), (100_000.0, TIMED)])
def test_kernel_agrees_with_the_event_by_event_reference(round_us, stalls):
    """The JIT host kernel against a plain Gillespie simulation of the same host (its own
    start and warm-up, every clock redrawn after every event, a failing gather's next
    attempt a scheduled event ``round_us`` later; with timed stalls, each stalled task's
    phase its own clock): means within 4 SE."""
    p = dict(
        SMALL,
        **stalls,
        horizon_s=30.0,
        rt_mm_share=0.5,
        online_cpus=3,
        isolated_cpus=1,
        mm_cpus=2,
        sync_round_us=round_us,
    )
    _, est, _ = simulate_model("host", p, 400, 99, 1, 8)
    zone = Zone(
        managed_pages=300, wmark_min=8, wmark_low=20, wmark_high=30, alloc_rate=20.0,
        free_rate=18.0, kswapd_rate=1.0, gather_rate=5.0, reclaim_batch=8,
        direct_reclaim_batch=4, atomic_alloc_rate=5.0, burst_alloc_rate=60.0,
        burst_start_rate=0.2, burst_end_rate=0.5, **stalls,
    )  # fmt: skip
    ref = HostRef(
        zone=zone, thp_fault_rate=5.0, thp_lifetime_s=1.0, split_rate=1.0,
        collapse_rate=2.0, tables_per_gather=3, split_cpus=2, cache_k=2,
        refill_rate=1.0, refill_nowait=True, rt_mm_share=0.5, kernel_prob=0.05,
        round_s=round_us * 1e-6,
    )  # fmt: skip
    rng = random.Random(20230419)
    runs = [simulate(rng, ref, 20.0, 30.0) for _ in range(400)]
    hours = 30.0 / 3600.0

    def compare(name: str, values: list[float]) -> None:
        v = np.array(values)
        m, se_ref = v.mean(), v.std(ddof=1) / math.sqrt(len(v))
        se = math.hypot(se_ref, est[SPECS[name].stderr])
        assert abs(est[name] - m) <= Z_TOL * se, (name, est[name], m, se)

    compare("nowait_fail_prob", [r.below_min_s / r.horizon_s for r in runs])
    compare("kswapd_awake_frac", [r.awake_s / r.horizon_s for r in runs])
    compare("thp_mean", [r.thp_s / r.horizon_s for r in runs])
    compare("splits_per_hour", [r.splits / hours for r in runs])
    fails = "split_alloc_failures_per_hour"
    compare(key(fails, {"table_policy": "on_demand"}), [r.ondemand_fails / hours for r in runs])
    compare(key(fails, {"table_policy": "cache_2"}), [r.cache_fails / hours for r in runs])
    compare("fallbacks_per_hour", [r.fallbacks / hours for r in runs])
    iso = "isolated_cpu_ipis_per_hour"
    compare(key(iso, MAINLINE_AT), [r.iso_broadcast / hours for r in runs])
    kernel_mode = {**MAINLINE_AT, "ipi_policy": "kernel_mode"}
    compare(key(iso, kernel_mode), [r.iso_kernel_mode / hours for r in runs])
    compare("fresh_alloc_failures_per_hour", [r.fresh_fails / hours for r in runs])


def test_reference_host_watermarks_come_from_the_kernel_formulas():
    s = HostParams().setup()
    z = s.zone
    assert (z.managed_pages, z.wmark_min, z.wmark_low, z.wmark_high) == (
        263467104, 32380, 295847, 559314,
    )  # fmt: skip
    assert s.scale == 512 and s.chain.managed_pages == 263467104
    assert s.chain.coarse_pages == 512 and s.chain.fine_band_pages == 4096
    assert z.gather_rate == 20.0 and s.tables_per_gather == 32
    assert round(s.thp_mean) == 419430


def test_a_calibration_fragment_is_accepted():
    """The keys ``mcstudy calibrate`` writes are host parameters."""
    frag = dict(
        managed_pages=5394266, wmark_min=14769, wmark_low=20163, wmark_high=25557,
        alloc_rate=13397.1, free_rate=11000.0, thp_split_rate=0.5,
        khugepaged_collapse_rate=0.3,
    )  # fmt: skip
    p = HostParams.model_validate(frag)
    s = p.setup()
    assert s.scale == 16 and s.chain.wmark_min == 14769 and s.chain.coarse_pages == 16
    # no host_memory_gib: the smallest x86-64 host whose Normal zone is this one (23.9 GiB),
    # 80 % of it in THPs; the calibrated total split rate is sigma x THPs
    assert s.memory_gib == pytest.approx(23.9037, abs=1e-4)
    assert s.thp_mean == pytest.approx(0.8 * s.memory_gib * 512, rel=1e-12)
    assert s.split_rate_per_thp * s.thp_mean == pytest.approx(0.5, rel=1e-12)
    mu = 1.0 / p.thp_lifetime_s
    arrivals = s.thp_fault_rate + 0.3
    assert arrivals / (mu + s.split_rate_per_thp) == pytest.approx(s.thp_mean, rel=1e-12)


def test_the_thp_population_follows_the_host_memory():
    """docs/model.md §11.2: 80 % of the host's memory in 2 MiB THPs, each with one
    deposited 4 KiB table. The 1 TiB reference host keeps its 419,430 THPs (1.6 GiB
    deposited, 130.3885 faults/s); a 256 GiB host has a quarter of them, not the
    reference host's THPs on a quarter of its memory."""
    ref = HostParams().setup()
    assert ref.memory_gib == 1024.0 and round(ref.thp_mean) == 419430
    assert ref.thp_fault_rate == pytest.approx(130.3885, abs=1e-4)
    small = HostParams.model_validate({"host_memory_gib": 256}).setup()
    assert small.zone.managed_pages < ref.zone.managed_pages // 4 + 1
    assert small.thp_mean == pytest.approx(ref.thp_mean / 4, rel=1e-12)
    assert small.thp_mean * 2 / 1024 == pytest.approx(0.8 * 256, rel=1e-12)  # GiB of THPs
    ex = host_exact(HostParams.model_validate({"host_memory_gib": 256, "zone_scale": 4096}))
    assert ex["deposit_bytes_mean_exact"] == pytest.approx(0.8 * 256 / 512 * 2**30, rel=1e-12)
    # the share of memory is a parameter; so is the fault rate, which then sets the count
    half = HostParams.model_validate({"host_memory_gib": 256, "thp_memory_fraction": 0.4})
    assert half.setup().thp_mean == pytest.approx(small.thp_mean / 2, rel=1e-12)
    given = HostParams.model_validate({"host_memory_gib": 256, "thp_fault_rate": 20.0})
    assert given.setup().thp_mean == pytest.approx(20.8 / (1 / 3600 + 3.5e-5), rel=1e-12)


def test_the_simulated_thps_of_a_smaller_host_scale_with_its_memory():
    """The kernel's time-average THP count and deposit of a 256 GiB host are a quarter of
    the reference host's: within 4 standard errors of 0.8 x 256 GiB / 2 MiB THPs."""
    p = {"host_memory_gib": 256, "zone_scale": 4096, "horizon_s": 20.0}
    _, est, _ = simulate_model("host", p, 8, 20230419, 0, 4)
    thps = 0.8 * 256 * 512
    assert abs(est["thp_mean"] - thps) <= Z_TOL * est["thp_mean_stderr"]
    assert est["thp_mean_stderr"] < 0.01 * thps
    assert est["deposit_bytes_mean"] == pytest.approx(est["thp_mean"] * 4096, rel=1e-12)


@pytest.mark.parametrize(
    ("change", "words"),
    [
        # the reference host's fault rate on a quarter of its memory: 819 GiB of THPs
        (
            {"host_memory_gib": 256, "thp_fault_rate": 130.3885},
            ["thp_fault_rate", "419,430 THPs", "819 GiB", "256 GiB", "host_memory_gib"],
        ),
        # khugepaged's default pace alone over-fills a 4 GiB host
        (
            {"host_memory_gib": 4},
            ["khugepaged_collapse_rate", "2,558 THPs", "thp_memory_fraction", "4 GiB"],
        ),
        # a calibrated zone bigger than the host given
        (
            {"managed_pages": 5394266, "wmark_min": 14769, "wmark_low": 20163,
             "wmark_high": 25557, "host_memory_gib": 16},
            ["managed_pages", "5,394,266", "host_memory_gib = 16"],
        ),
        # a calibrated zone without host_memory_gib bounds the THPs by its host (23.9 GiB)
        (
            {"managed_pages": 5394266, "wmark_min": 14769, "wmark_low": 20163,
             "wmark_high": 25557, "thp_fault_rate": 5.43657, "thp_split_rate": 0.0,
             "khugepaged_collapse_rate": 0.0},
            ["thp_fault_rate", "19,572 THPs", "23.9 GiB", "smallest host holding"],
        ),
        ({"thp_fault_rate": 1.0, "thp_memory_fraction": 0.5}, ["not both"]),
    ],
)  # fmt: skip
def test_a_thp_population_the_host_cannot_hold_is_refused(change, words):
    from pydantic import ValidationError

    with pytest.raises(ValidationError) as info:
        HostParams.model_validate(change)
    for word in words:
        assert word in str(info.value), (word, str(info.value))


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"managed_pages": 1000}, "together"),
        ({"isolated_cpus": 80}, "isolated_cpus"),
        ({"thp_split_rate": 1e6, "thp_fault_rate": 1.0}, "thp_split_rate"),
        ({"load": "heavy"}, "load"),
        ({"zone_scale": 1 << 29}, "zone_scale"),
    ],
)
def test_bad_parameters_are_refused_with_one_clear_message(change, words):
    from pydantic import ValidationError

    with pytest.raises(ValidationError) as info:
        HostParams.model_validate(change)
    assert words in str(info.value)


def test_exact_values_use_the_simulated_chain():
    p = HostParams.model_validate(SMALL)
    ex = host_exact(p)
    chain = ZoneChain(
        managed_pages=300, wmark_min=8, wmark_low=20, wmark_high=30, alloc_rate=20.0,
        free_rate=18.0, kswapd_rate=1.0, gather_rate=0.0, reclaim_batch=8,
        direct_reclaim_batch=4, atomic_alloc_rate=5.0, burst_alloc_rate=60.0,
        burst_start_rate=0.2, burst_end_rate=0.5,
    )  # fmt: skip
    assert ex["nowait_fail_prob_exact"] == pytest.approx(solve(chain).below_min_prob, rel=1e-12)
    # fallbacks: a gather's i-th table falls back iff the zone is at or below min at its
    # start and at each of the i rounds of 4 us after it (dense expm of the whole chain)
    q = generator(chain).toarray()
    m = expm(q * 4e-6)
    pi = solve(chain).pi.ravel()
    below = np.tile(np.arange(301) <= 8, pi.size // 301)
    v, mean = pi * below, 0.0
    for _ in range(3):
        mean += v.sum()
        v = (v @ m) * below
    assert ex["fallbacks_per_hour_exact"] == pytest.approx(5.0 * mean * 3600.0, rel=1e-9)
    assert mean < 3 * ex["nowait_fail_prob_exact"]  # all-or-nothing is the upper bound


@pytest.mark.slow
def test_the_level_size_off_the_band_does_not_change_the_answers():
    """docs/model.md §11.5: the reference host's bursty zone on the fine band with coarse
    levels of 512 and of 32 pages gives P(free <= min), stalls per second and the mean
    fallbacks of a failing gather within 0.5 % of each other (the old rule, pages and
    rates divided by the scale, gave 30.9 fallbacks at 512 against 1.48 unscaled)."""
    from mcstudy.exact.stored import zone_law
    from mcstudy.models.host.model import below_min_fallbacks

    got = []
    for scale in (512, 32):
        p = HostParams.model_validate({"load": "bursts", "kernel": "v6.15", "zone_scale": scale})
        c = p.setup().chain
        z = zone_law(c)
        fb = below_min_fallbacks(c, 32, p.batch(), p.spacing_us() * 1e-6)
        got.append((z.below_min_prob, z.stalls_per_s, fb))
    for a, b in zip(*got, strict=True):
        assert abs(a / b - 1.0) < 5e-3, got
    assert 1.2 < got[0][2] < 2.0  # about 1.48 fallbacks per failing gather, not 30.9


def test_bits_do_not_depend_on_threads_and_seed_matters():
    import numba

    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one, _, _ = simulate_model("host", SMALL, 12, 1, 0, 3)
        numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
        two, _, _ = simulate_model("host", SMALL, 12, 1, 0, 3)
    finally:
        numba.set_num_threads(before)
    assert one.as_dict() == two.as_dict()
    other, _, _ = simulate_model("host", SMALL, 12, 2, 0, 3)
    assert other.as_dict() != one.as_dict()


def test_policies_share_the_same_host_hours():
    """Common random numbers: every IPI variant counts the same gathers and collapses, and
    every table variant the same splits, on the same zone path."""
    t, _, _ = simulate_model("host", SMALL, 16, 4, 0, 4)
    gathers = {t[KH.ipi_prefix(v) + "gathers"] for v in range(len(KH.IPI_VARIANTS))}
    collapses = {t[KH.ipi_prefix(v) + "collapses"] for v in range(len(KH.IPI_VARIANTS))}
    assert len(gathers) == 1 and len(collapses) == 1 and gathers.pop() > 0
    # on-demand GFP_NOWAIT misses every split; a cache never fails more than on demand
    splits = t["splits"]
    assert t[KH.table_prefix(0) + "misses"] == splits
    fails = [t[KH.table_prefix(v) + "fails"] for v in range(len(KH.TABLE_VARIANTS))]
    assert all(f <= fails[0] for f in fails[2:]) and fails[0] > 0
    # mainline broadcast gets at least what kernel_mode gets, and rcu nothing
    iso = {
        v: t[KH.ipi_prefix(v) + "collapse_iso"] + t[KH.ipi_prefix(v) + "fallback_iso"]
        for v in range(len(KH.IPI_VARIANTS))
    }
    by = {KH.IPI_VARIANTS[v]: n for v, n in iso.items()}
    assert by[("broadcast", "sync_ipi")] >= by[("kernel_mode", "sync_ipi")]
    assert by[("rcu", "sync_ipi")] == 0


def test_the_run_command_refuses_a_contradictory_host_and_writes_nothing(tmp_path):
    """``--set host_memory_gib=256 --set thp_fault_rate=130.3885``: the reference host's
    THPs on a quarter of its memory. Exit 2, one message naming the parameters, no file."""
    from click.testing import CliRunner

    from mcstudy.cli import main

    out = tmp_path / "h.nc"
    sets = ["host_memory_gib=256", "thp_fault_rate=130.3885", "study.sequences=2"]
    args = ["run", "--out", str(out), "--quiet"] + [x for s in sets for x in ("--set", s)]
    res = CliRunner().invoke(main, args, catch_exceptions=False)
    assert res.exit_code == 2, res.output
    assert "thp_fault_rate" in res.output and "host_memory_gib" in res.output
    assert "819 GiB" in res.output and "Traceback" not in res.output
    assert list(tmp_path.iterdir()) == []
