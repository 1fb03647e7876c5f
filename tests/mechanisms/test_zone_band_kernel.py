"""The uniformised event kernels on a zone with a fine band (docs/model.md §4.14):
against the exact law, and bit for bit without the JIT."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest

from mcstudy.engine.rng import stream_new
from mcstudy.exact.pressure import solve
from mcstudy.mechanisms.zone import atomic_min_mark
from mcstudy.mechanisms.zone_events import (
    C_STALL,
    N_COUNTERS,
    observe_events,
    observe_events_timed,
    run_events,
    run_events_timed,
    snap_level,
    stall_arrays,
    zone_ints,
)
from mcstudy.mechanisms.zone_grid import bracket, levels
from mcstudy.mechanisms.zone_tables import event_tables
from tests.exact.test_pressure_band import BANDED
from tests.paths import REPO

TOL = 4.0  # standard errors
TIMED = replace(BANDED, stall_mean_s=0.1, alloc_tasks=3, stall_phases=2)


def _run(zone, sequences: int, warm_s: float, horizon_s: float, seed: int = 5):
    """Per sequence (f at the end, fraction of visits below min, stalls/s, visits) from
    the kernels' loops, started at N, asleep, calm."""
    tables = event_tables(zone)
    args = tables.kernel_args()
    ip = zone_ints(zone, atomic_mark=atomic_min_mark(zone.wmark_min))
    stall = stall_arrays(zone)
    n_warm = int(tables.rate * warm_s)
    n_hor = int(tables.rate * horizon_s)
    out = []
    for i in range(sequences):
        st = stream_new(np.uint32(seed), np.uint32(7), np.uint64(i), np.uint32(1))
        cnt = np.zeros(N_COUNTERS, dtype=np.int64)
        f = zone.managed_pages
        if zone.timed_stalls:
            f, kw, bu, bst, held, cfg = run_events_timed(
                st, n_warm, f, 0, 0, 0, 0, 0, ip, args, stall
            )
            f, kw, bu, bst, held, cfg, below, awake, _h = observe_events_timed(
                st, n_hor, f, kw, bu, bst, held, cfg, ip, args, stall, cnt
            )
        else:
            f, kw, bu, bst, held = run_events(st, n_warm, f, 0, 0, 0, 0, ip, args, tables.agg)
            f, kw, bu, bst, held, below, awake, _h = observe_events(
                st, n_hor, f, kw, bu, bst, held, ip, args, tables.agg, cnt
            )
        out.append((int(f), below / (n_hor + 1), cnt[C_STALL] / horizon_s, awake / (n_hor + 1)))
    return out


def test_snap_keeps_the_mean_and_lands_on_levels():
    zone = BANDED
    ip = zone_ints(zone, atomic_mark=atomic_min_mark(zone.wmark_min))
    pos = levels(zone)
    st = stream_new(np.uint32(1), np.uint32(2), np.uint64(3), np.uint32(4))
    for x in (0, 3, 5, 6, 40, 104, 107, 109, 112, 300, 795, 799, 800):
        j, w = bracket(pos, np.array([x]))
        got = [snap_level(st, x, ip) for _ in range(4000)]
        assert set(got) <= {int(pos[j[0]]), int(pos[min(j[0] + 1, pos.size - 1)])}
        if w[0] == 0.0:
            assert set(got) == {x}
        else:
            up = np.mean([g > x for g in got])
            se = math.sqrt(w[0] * (1 - w[0]) / len(got))
            assert abs(up - w[0]) <= TOL * se, (x, up, w[0])


@pytest.mark.parametrize("zone", [BANDED, TIMED], ids=["instantaneous", "timed"])
def test_kernel_matches_exact_with_a_band(zone):
    """Time below min, stalls/s and kswapd's awake fraction of 48 sequences of 1,000 s
    (after 200 s) within 4 standard errors of the exact law; every end state a level."""
    ex = solve(zone)
    runs = _run(zone, 48, 200.0, 1000.0)
    pos = set(levels(zone).tolist())
    assert all(r[0] in pos for r in runs)
    for k, exact in ((1, ex.below_min_prob), (2, ex.stalls_per_s), (3, ex.kswapd_awake_prob)):
        xs = [r[k] for r in runs]
        mean = sum(xs) / len(xs)
        se = math.sqrt(sum((x - mean) ** 2 for x in xs) / (len(xs) - 1) / len(xs))
        assert se > 0
        assert abs(mean - exact) <= TOL * se, (k, mean, exact, se)


def test_kernel_with_a_band_is_bit_identical_without_the_jit():
    code = (
        "import json\n"
        "from tests.mechanisms.test_zone_band_kernel import TIMED, BANDED, _run\n"
        "print(json.dumps([_run(TIMED, 2, 5.0, 20.0), _run(BANDED, 2, 5.0, 20.0)]))\n"
    )
    env = dict(os.environ, NUMBA_DISABLE_JIT="1")
    res = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, check=True
    )
    jit = json.loads(json.dumps([_run(TIMED, 2, 5.0, 20.0), _run(BANDED, 2, 5.0, 20.0)]))
    assert json.loads(res.stdout) == jit
