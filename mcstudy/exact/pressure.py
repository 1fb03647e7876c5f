"""Exact stationary solution of the zone pressure chain (docs/model.md §4.1) with scipy.sparse.

State: free pages ``f`` in 0..N, kswapd ``k`` (0 asleep, 1 awake) and, when the
housekeeping load is bursty, the load phase ``b`` (0 calm, 1 burst). Transitions out of
(f, k, b), with the kernel functions they stand for:

* blocking allocation of ``alloc_batch_pages`` = kb pages, rate lambda_b / kb
  (``__alloc_pages()``): if f <= low, kswapd wakes (``wake_all_kswapds()``); if f > min
  then f -= kb (floored at 0), else one direct-reclaim stall
  (``__alloc_pages_direct_reclaim()``): f = max(min(N, f + D) - kb, 0);
* free of one page, rate mu (``free_unref_page()``): f = min(N, f + 1);
* kswapd reclaim batch, rate rho while awake (``balance_pgdat()``, SWAP_CLUSTER_MAX
  pages): f = min(N, f + R); kswapd sleeps if then f > high;
* gather, rate gamma (``tlb_remove_table()`` batch-page attempt, GFP_NOWAIT): wakes
  kswapd if f <= low, does not change f (grace period 0);
* GFP_ATOMIC allocation, rate alpha (extension): wakes kswapd if f <= low; takes a page
  iff f > the ``__zone_watermark_ok()`` ALLOC_MIN_RESERVE|ALLOC_NON_BLOCK mark
  (min - min/2, then minus a quarter of that: 0.375 x min);
* load phase switches calm -> burst at ``burst_start_rate``, back at ``burst_end_rate``
  (extension; lambda_1 = ``burst_alloc_rate``).

The stationary distribution pi solves pi Q = 0, sum(pi) = 1 on the closed communicating
class reached from the idle state (N, asleep, calm). With single-page allocations the
chain only moves down one level (free-page count) at a time: it is a level-dependent
M/G/1-type chain, solved exactly in O(N R m^3) time and O(N m^2) memory (m = 2 or 4
sub-states per level) by

* first-passage matrices, top down: G_c[s, s'] = P(first entry into level c - 1 is at
  sub-state s' | start at (c, s)), from (-Abar_cc) G_c = D_c, where D_c holds the rates
  down to level c - 1 and Abar_cc = T_c + sum_{j > c} U_{c->j} G_j G_{j-1} ... G_{c+1}
  is the generator of the chain censored to levels <= c, seen on level c;
* Ramaswami's formula, bottom up: x_c (-Abar_cc) = sum_{g < c} x_g Abar_gc with
  Abar_gc = sum_{j >= c} U_{g->j} G_j ... G_{c+1}.

Every term is a sum of non-negative numbers and the only solves are with the
diagonally dominant M-matrices -Abar_cc, so small probabilities (1e-12 and far below)
keep their relative accuracy. Batched allocations (several levels down at once) break
this structure and are solved by one sparse LU (SuperLU) instead, for small chains; tiny
chains use GTH elimination, which tests compare with both. Poisson arrivals see time
averages (PASTA), so a gather fails with probability P(f <= min).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from numba import njit

from mcstudy.mechanisms.zone import Zone, atomic_min_mark, stall_moves
from mcstudy.mechanisms.zone_grid import bracket, level_count, levels

if TYPE_CHECKING:
    import scipy.sparse as sp


ZoneChain = Zone
"""The chain's parameters: the zone record of ``mcstudy.mechanisms.zone`` itself (the
solver's name for it, kept for its callers); extension fields the solver lacks must be
neutral (``Zone.exact_chain()``)."""


@dataclass(frozen=True)
class ZoneStationary:
    """Stationary quantities of the chain (probabilities, and events per second)."""

    pi: np.ndarray
    """pi[cfg x phases + b, k, f]: stationary probability of (stalled-task configuration
    cfg, phase b, kswapd k, f free pages); cfg = 0 only without timed stalls, so then
    pi[b, k, f]. With a fine band (``coarse_pages`` > 1) the last index is the level,
    whose free pages are ``zone_grid.levels(zone)`` (§4.14)"""
    below_min_prob: float
    """P(f <= min): time fraction below min = P(a gather's GFP_NOWAIT attempt fails)"""
    kswapd_awake_prob: float
    stalls_per_s: float
    kswapd_wakeups_per_s: float
    atomic_fails_per_s: float
    free_pages_mean: float
    below_min_entries_per_s: float = 0.0
    """below-min episodes per second: transitions from f > min to f <= min"""
    stalled_tasks_mean: float = 0.0
    """mean number of tasks in a direct-reclaim stall (0 without timed stalls)"""

    @property
    def nowait_fail_prob(self) -> float:
        return self.below_min_prob

    @property
    def below_min_episode_s(self) -> float:
        """Mean length of one stay at or below min (s; 0 if there is none)."""
        e = self.below_min_entries_per_s
        return self.below_min_prob / e if e > 0.0 else 0.0


N_EVENTS = 6  # alloc, free, kswapd, gather, atomic, phase switch (+ one per stall phase)


def sub_states(c: ZoneChain) -> int:
    """Sub-states per level: s = cfg x 2 phases + 2 b + k, cfg indexing
    ``c.stall_states`` (one without timed stalls)."""
    return 2 * c.phases * len(c.stall_states)


def level_events(c: ZoneChain) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every transition, per level and sub-state: (target level, target sub-state, rate).

    Arrays of shape (N + 1, m, events) with sub-state s = cfg x 2 phases + 2 b + k (cfg = 0
    and ``N_EVENTS`` events without timed stalls, plus one event per stall phase with
    them); rate 0 = no event. This is the one statement of the chain's rules: the
    generator and the level recursion are both built from it.

    With a fine band (``coarse_pages`` > 1, §4.14) the rules are applied to each level's
    position (real free pages) and each real target is rounded to the two levels around
    it keeping its mean (``zone_grid.bracket``): the arrays then have one row per level
    and twice the events (event e's lower level in slot e, its upper one in slot
    e + events).
    """
    if c.boosted or c.rcu_grace_period_s > 0.0:
        raise ValueError(
            "the exact solver has no watermark boost and no RCU-held batch pages: "
            "give Zone.exact_chain()"
        )
    events = _timed_level_events(c) if c.timed_stalls else _plain_level_events(c)
    if c.coarse_pages > 1:
        return _rounded(c, *events)
    return events


def _rounded(c: ZoneChain, tl, ts, tr) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Real targets (pages) to levels: each event split into its lower and upper level
    with the mean-keeping probabilities (§4.14)."""
    pos = levels(c)
    j, w = bracket(pos, tl)
    upper = np.minimum(j + 1, pos.size - 1)
    return (
        np.concatenate([j, upper], axis=2),
        np.concatenate([ts, ts], axis=2),
        np.concatenate([tr * (1.0 - w), tr * w], axis=2),
    )


def _plain_level_events(c: ZoneChain) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``level_events`` without timed stalls; targets in pages (the level's position)."""
    n = c.managed_pages
    m = 2 * c.phases
    f = levels(c)
    nl = f.size
    tl = np.repeat(f[:, None, None], m * N_EVENTS, axis=1).reshape(nl, m, N_EVENTS)
    tl = tl.copy()
    ts = np.zeros((nl, m, N_EVENTS), dtype=np.int64)
    tr = np.zeros((nl, m, N_EVENTS))
    amark = atomic_min_mark(c.wmark_min)
    kb = c.alloc_batch_pages
    for b in range(c.phases):
        lam = c.alloc_rate if b == 0 else float(c.burst_alloc_rate)  # type: ignore[arg-type]
        for k in (0, 1):
            s = 2 * b + k
            woken = np.where(f <= c.wmark_low, 1, k)
            # 0: blocking allocation (direct reclaim at or below min)
            up = np.minimum(n, f + c.direct_reclaim_batch) - kb
            tl[:, s, 0] = np.maximum(np.where(f > c.wmark_min, f - kb, up), 0)
            ts[:, s, 0] = 2 * b + woken
            tr[:, s, 0] = lam / kb
            _shared_events(c, f, amark, woken, (tl, ts, tr), s, 2 * b, k)
            # 5: load phase switch
            if c.bursty:
                ts[:, s, 5] = 2 * (1 - b) + k
                tr[:, s, 5] = c.burst_start_rate if b == 0 else c.burst_end_rate
    return tl, ts, tr


def _shared_events(
    c: ZoneChain,
    f: np.ndarray,
    amark: int,
    woken: np.ndarray,
    tables: tuple[np.ndarray, np.ndarray, np.ndarray],
    s: int,
    base: int,
    k: int,
) -> None:
    """Events 1-4 of state ``s`` (kswapd ``k``; ``base`` its state with kswapd asleep),
    the same whether stalls take time or not: 1 a free; 2 a kswapd reclaim batch (awake
    only; it sleeps above high); 3 a gather (a GFP_NOWAIT attempt, waking kswapd at or
    below low); 4 a GFP_ATOMIC allocation (a page iff f > the atomic mark)."""
    tl, ts, tr = tables
    n = c.managed_pages
    tl[:, s, 1] = np.minimum(n, f + 1)
    ts[:, s, 1] = s
    tr[:, s, 1] = c.free_rate
    if k == 1:
        fr = np.minimum(n, f + c.reclaim_batch)
        tl[:, s, 2] = fr
        ts[:, s, 2] = base + np.where(fr > c.wmark_high, 0, 1)
        tr[:, s, 2] = c.kswapd_rate
    ts[:, s, 3] = base + woken
    tr[:, s, 3] = c.gather_rate
    tl[:, s, 4] = np.where(f > amark, f - 1, f)
    ts[:, s, 4] = base + woken
    tr[:, s, 4] = c.atomic_alloc_rate


def _timed_level_events(c: ZoneChain) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``level_events`` of a chain whose direct-reclaim stalls take time (§4.13).

    K = ``alloc_tasks`` tasks allocate, each at lambda_b / K while it runs; an allocation
    finding f <= min stalls its task (f unchanged, the task joins stall phase 1). A stall
    has ``stall_phases`` = m exponential phases of rate m / ``stall_mean_s`` each; leaving
    the last one, its D pages land (f' = min(N, f + D)), kswapd wakes if f' <= low and the
    task retries: f' > min takes its pages (f' - kb) and the task runs again, else it
    stalls again (back to phase 1, f').
    """
    n = c.managed_pages
    configs = c.stall_states
    nc = len(configs)
    ph = c.stall_phases
    kt = c.alloc_tasks
    start, advance, end, restart = stall_moves(configs)
    per = 2 * c.phases
    m = per * nc
    ne = N_EVENTS + ph
    f = levels(c)
    nl = f.size
    tl = np.repeat(f[:, None, None], m * ne, axis=1).reshape(nl, m, ne).copy()
    ts = np.zeros((nl, m, ne), dtype=np.int64)
    tr = np.zeros((nl, m, ne))
    amark = atomic_min_mark(c.wmark_min)
    kb = c.alloc_batch_pages
    step = ph / c.stall_mean_s
    landed = np.minimum(n, f + c.direct_reclaim_batch)
    retry_ok = landed > c.wmark_min
    for ci, cfg in enumerate(configs):
        running = kt - sum(cfg)
        for b in range(c.phases):
            lam = c.alloc_rate if b == 0 else float(c.burst_alloc_rate)  # type: ignore[arg-type]
            for k in (0, 1):
                s = ci * per + 2 * b + k
                base = ci * per + 2 * b
                woken = np.where(f <= c.wmark_low, 1, k)
                # 0: blocking allocation of a running task; at or below min it stalls
                if running > 0:
                    ok = f > c.wmark_min
                    tl[:, s, 0] = np.where(ok, np.maximum(f - kb, 0), f)
                    ts[:, s, 0] = np.where(ok, base, start[ci] * per + 2 * b) + woken
                    tr[:, s, 0] = lam / kb * running / kt
                _shared_events(c, f, amark, woken, (tl, ts, tr), s, base, k)
                if c.bursty:
                    ts[:, s, 5] = ci * per + 2 * (1 - b) + k
                    tr[:, s, 5] = c.burst_start_rate if b == 0 else c.burst_end_rate
                # 6 + j: a task in stall phase j + 1 moves on (the last phase: its stall ends)
                for j in range(ph):
                    if cfg[j] == 0:
                        continue
                    e = N_EVENTS + j
                    tr[:, s, e] = cfg[j] * step
                    if j < ph - 1:
                        ts[:, s, e] = advance[ci][j] * per + 2 * b + k
                        continue
                    wk = np.where(landed <= c.wmark_low, 1, k)
                    tl[:, s, e] = np.where(retry_ok, np.maximum(landed - kb, 0), landed)
                    ts[:, s, e] = np.where(retry_ok, end[ci], restart[ci]) * per + 2 * b + wk
    return tl, ts, tr


def _transitions(c: ZoneChain, events=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(source, target, rate) of every off-diagonal transition; index = s (N+1) + f.
    ``events``: ``level_events(c)`` when the caller has it already."""
    tl, ts, tr = level_events(c) if events is None else events
    nf = level_count(c)
    f = np.arange(nf)[:, None, None]
    sub = np.arange(sub_states(c))[None, :, None]
    src = np.broadcast_to(sub * nf + f, tr.shape)
    dst = ts * nf + tl
    keep = (tr > 0.0) & (src != dst)
    return src[keep], dst[keep], tr[keep]


def generator(c: ZoneChain, events=None) -> sp.csr_matrix:
    """The generator Q (CSR, rows sum to 0); state (cfg, b, k, f) has index
    (cfg 2 phases + 2b + k)(N+1) + f.
    ``events``: ``level_events(c)`` when the caller has it already."""
    import scipy.sparse as sp

    size = sub_states(c) * level_count(c)
    s, d, r = _transitions(c, events)
    q = sp.coo_matrix((r, (s, d)), shape=(size, size)).tocsr()  # duplicates are summed
    q = q - sp.diags(np.asarray(q.sum(axis=1)).ravel())
    return q.tocsr()


def _closed_class(q: sp.csr_matrix, start: int) -> np.ndarray:
    """States of the unique closed class reachable from ``start`` (ValueError if several)."""
    from scipy.sparse.csgraph import breadth_first_order, connected_components

    adj = q.copy()
    adj.setdiag(0)
    adj.eliminate_zeros()
    reach = np.sort(breadth_first_order(adj, start, directed=True, return_predecessors=False))
    sub = adj[reach][:, reach]
    ncomp, labels = connected_components(sub, directed=True, connection="strong")
    # a class is closed when no transition leaves it
    src, dst = sub.nonzero()
    leaving = np.zeros(ncomp, dtype=bool)
    leaving[labels[src[labels[src] != labels[dst]]]] = True
    closed = np.flatnonzero(~leaving)
    if len(closed) != 1:
        raise ValueError(
            f"the chain has {len(closed)} closed classes reachable from the idle state; "
            "its stationary distribution is not unique (are all rates zero?)"
        )
    return reach[labels == closed[0]]


GTH_MAX_STATES = 1200
"""Closed classes up to this size are solved with GTH (every probability to high relative
accuracy, even 1e-300); larger ones with one sparse LU."""


def gth_stationary(q: np.ndarray) -> np.ndarray:
    """Stationary vector of an irreducible generator (dense) by Grassmann-Taksar-Heyman
    elimination: no subtractions, so tiny probabilities keep their relative accuracy."""
    a = np.array(q, dtype=float)
    np.fill_diagonal(a, 0.0)
    n = a.shape[0]
    for m in range(n - 1, 0, -1):
        s = a[m, :m].sum()
        if s <= 0.0:
            raise ValueError("generator is not irreducible")
        a[:m, m] /= s
        a[:m, :m] += np.outer(a[:m, m], a[m, :m])
    pi = np.zeros(n)
    pi[0] = 1.0
    for m in range(1, n):
        pi[m] = pi[:m] @ a[:m, m]
    return pi / pi.sum()


@njit(cache=True)
def _solve_small(a, b):
    """X with (-a) @ X = b for a small square matrix (Gauss, partial pivoting); NaN if
    singular. The negation is copied element by element: an array expression (``-a``)
    would compile a ufunc kernel, at half a second of Numba's time."""
    m = a.shape[0]
    aa = np.empty((m, m))
    for i in range(m):
        for j in range(m):
            aa[i, j] = -a[i, j]
    x = np.empty(b.shape)
    for i in range(b.shape[0]):
        for j in range(b.shape[1]):
            x[i, j] = b[i, j]
    for col in range(m):
        piv = col
        for r in range(col + 1, m):
            if abs(aa[r, col]) > abs(aa[piv, col]):
                piv = r
        if aa[piv, col] == 0.0:
            for i in range(x.shape[0]):
                for j in range(x.shape[1]):
                    x[i, j] = np.nan
            return x
        if piv != col:
            for j in range(m):
                aa[col, j], aa[piv, j] = aa[piv, j], aa[col, j]
            for j in range(x.shape[1]):
                x[col, j], x[piv, j] = x[piv, j], x[col, j]
        for r in range(col + 1, m):
            fac = aa[r, col] / aa[col, col]
            if fac != 0.0:
                for j in range(col, m):
                    aa[r, j] -= fac * aa[col, j]
                for j in range(x.shape[1]):
                    x[r, j] -= fac * x[col, j]
    for col in range(m - 1, -1, -1):
        for j in range(x.shape[1]):
            v = x[col, j]
            for k in range(col + 1, m):
                v -= aa[col, k] * x[k, j]
            x[col, j] = v / aa[col, col]
    return x


@njit(cache=True)
def _descents(g_mats, c, n, rmax):
    """H[d] = G_{c+d} G_{c+d-1} ... G_{c+1} (H[0] = I): where a chain entering level c + d
    first enters level c."""
    m = g_mats.shape[1]
    dmax = min(rmax, n - c)
    h = np.zeros((dmax + 1, m, m))
    for i in range(m):
        h[0, i, i] = 1.0
    for d in range(1, dmax + 1):
        g = g_mats[c + d]
        for i in range(m):
            for j in range(m):
                v = 0.0
                for k in range(m):
                    v += g[i, k] * h[d - 1, k, j]
                h[d, i, j] = v
    return h


@njit(cache=True)
def _censored_level(c, h, tl, ts, tr):
    """(Abar_cc, D_c): the chain censored to levels <= c, on level c, and its rates down."""
    m = tr.shape[1]
    a = np.zeros((m, m))
    down = np.zeros((m, m))
    for s in range(m):
        out = 0.0
        for e in range(tr.shape[2]):
            r = tr[c, s, e]
            j = tl[c, s, e]
            s2 = ts[c, s, e]
            if r == 0.0 or (j == c and s2 == s):
                continue
            out += r
            if j == c - 1:
                down[s, s2] += r
            elif j == c:
                a[s, s2] += r
            else:
                for t in range(m):
                    a[s, t] += r * h[j - c, s2, t]
        a[s, s] -= out
    return a, down


@njit(cache=True)
def _mg1_levels(tl, ts, tr, n, c_lo, rmax):
    """Top-down first-passage matrices, then Ramaswami's formula bottom up.

    Returns (x, ok): x[c, s] proportional to pi on levels > c_lo (level c_lo is left to
    the caller, which fills it from the censored generator of level c_lo); ok is False
    if a censored level matrix was singular.
    """
    m = tr.shape[1]
    g_mats = np.zeros((n + 1, m, m))
    for c in range(n, c_lo, -1):
        h = _descents(g_mats, c, n, rmax)
        a, down = _censored_level(c, h, tl, ts, tr)
        g = _solve_small(a, down)
        if math.isnan(g[0, 0]):
            return np.zeros((n + 1, m)), g_mats, False
        for i in range(m):  # rows are probability vectors: remove round-off drift
            tot = 0.0
            for j in range(m):
                g[i, j] = max(g[i, j], 0.0)
                tot += g[i, j]
            if tot > 0.0:
                for j in range(m):
                    g[i, j] /= tot
        for i in range(m):  # element-wise: an array assignment compiles Numba's error text
            for j in range(m):
                g_mats[c, i, j] = g[i, j]
    return np.zeros((n + 1, m)), g_mats, True


@njit(cache=True)
def _ramaswami(x, g_mats, tl, ts, tr, n, c_lo, rmax):
    """x_c (-Abar_cc) = sum_{g<c} x_g Abar_gc for c = c_lo+1..N (x[c_lo] given); in place."""
    m = tr.shape[1]
    for c in range(c_lo + 1, n + 1):
        h = _descents(g_mats, c, n, rmax)
        a, _down = _censored_level(c, h, tl, ts, tr)
        rhs = np.zeros((m, 1))
        lo = max(c_lo, c - rmax - 1)
        for g in range(lo, c):
            for s in range(m):
                xg = x[g, s]
                if xg == 0.0:
                    continue
                for e in range(tr.shape[2]):
                    r = tr[g, s, e]
                    j = tl[g, s, e]
                    if r == 0.0 or j < c:
                        continue
                    s2 = ts[g, s, e]
                    for t in range(m):
                        rhs[t, 0] += xg * r * h[j - c, s2, t]
        at = np.empty((m, m))  # the transpose, element by element (no array expression)
        for i in range(m):
            for j in range(m):
                at[i, j] = a[j, i]
        y = _solve_small(at, rhs)
        big = 0.0
        for t in range(m):
            x[c, t] = max(y[t, 0], 0.0)
            big = max(big, x[c, t])
        if big > 1e250:  # keep the unnormalised vector finite
            for g in range(c + 1):
                for t in range(m):
                    x[g, t] *= 1e-250
    return x


MG1_MAX_PAGES = 1 << 24


def _stationary_mg1(c: ZoneChain, cls: np.ndarray, events=None) -> np.ndarray | None:
    """pi by the level recursion (single-page allocations only); None if it fails.
    ``events``: ``level_events(c)`` when the caller has it already."""
    nf = level_count(c)
    n = nf - 1  # the top level
    m = sub_states(c)
    tl, ts, tr = level_events(c) if events is None else events
    up = np.where(tr > 0.0, tl - np.arange(nf)[:, None, None], 0)
    rmax = int(max(up.max(), 1))
    levels = cls % nf
    c_lo = int(levels.min())
    x, g_mats, ok = _mg1_levels(tl, ts, tr, n, c_lo, rmax)
    if not ok:
        return None
    h = _descents(g_mats, c_lo, n, rmax)
    a, _down = _censored_level(c_lo, h, tl, ts, tr)
    subs = np.sort(cls[levels == c_lo] // nf)
    x[c_lo, subs] = gth_stationary(a[np.ix_(subs, subs)]) if len(subs) > 1 else 1.0
    x = _ramaswami(x, g_mats, tl, ts, tr, n, c_lo, rmax)
    pi = np.zeros(m * nf)
    for s_ in range(m):
        pi[s_ * nf : (s_ + 1) * nf] = x[:, s_]
    mask = np.zeros(m * nf, dtype=bool)
    mask[cls] = True
    pi[~mask] = 0.0
    total = pi.sum()
    if not np.isfinite(total) or total <= 0.0:
        return None
    return pi / total


SPARSE_LU_MAX_STATES = 200_000


def stationary_distribution(c: ZoneChain, method: str = "auto") -> np.ndarray:
    """pi as an array of shape (configurations x phases, 2, N + 1), summing to 1
    (``ZoneStationary.pi``).

    ``method``: "auto" (level recursion when allocations take one page, else GTH for tiny
    and sparse LU for small chains), or "mg1", "gth", "lu" to force one (tests).
    """
    return _stationary(c, method)[0]


def _stationary(c: ZoneChain, method: str) -> tuple[np.ndarray, tuple[np.ndarray, ...]]:
    """(``stationary_distribution``, ``level_events``)."""
    import scipy.sparse as sp
    import scipy.sparse.linalg as spla

    events = level_events(c)
    q = generator(c, events)
    nf = level_count(c)
    start = nf - 1  # (calm, asleep, f = N)
    cls = _closed_class(q, start)
    pi = np.zeros(q.shape[0])
    if method == "auto":
        if len(cls) <= GTH_MAX_STATES // 4:
            method = "gth"
        elif c.alloc_batch_pages == 1:
            method = "mg1"
        else:
            method = "lu"
    if len(cls) == 1:
        pi[cls[0]] = 1.0
    elif method == "mg1":
        if c.alloc_batch_pages != 1:
            raise ValueError("the level recursion needs alloc_batch_pages = 1")
        res = _stationary_mg1(c, cls, events)
        if res is None:
            raise ValueError("level recursion failed (singular censored level)")
        pi = res
    elif method == "gth":
        if len(cls) > GTH_MAX_STATES:
            raise ValueError(f"GTH is for at most {GTH_MAX_STATES} states")
        pi[cls] = gth_stationary(q[cls][:, cls].toarray())
    elif method == "lu":
        if len(cls) > SPARSE_LU_MAX_STATES:
            raise ValueError(
                f"{len(cls)} states: too many for the sparse LU solve of batched allocations "
                f"(at most {SPARSE_LU_MAX_STATES})"
            )
        a = q[cls][:, cls].T.tocsr()
        # replace the last balance equation by sum(pi) = 1
        last = len(cls) - 1
        a = sp.vstack([a[:last], sp.csr_matrix(np.ones((1, len(cls))))]).tocsc()
        rhs = np.zeros(len(cls))
        rhs[-1] = 1.0
        x = np.maximum(spla.spsolve(a, rhs), 0.0)
        pi[cls] = x / x.sum()
    else:
        raise ValueError(f"unknown method {method!r}")
    return pi.reshape(len(c.stall_states) * c.phases, 2, nf), events


def _fluxes(c: ZoneChain, pi: np.ndarray, events) -> dict[str, float]:
    """Stationary rates read from the transitions (any chain): below-min entries, and
    for timed stalls the stalls (allocations finding f <= min, retries after a stall
    finding it again) and kswapd wake-ups (transitions from asleep to awake)."""
    tl, ts, tr = events
    pos = levels(c)
    nf = pos.size
    m = tr.shape[1]
    x = pi.reshape(m, nf).T[:, :, None] * tr  # flux[f, s, e]
    f = pos[:, None, None]
    out = {
        "below_min_entries_per_s": float(
            x[np.broadcast_to((f > c.wmark_min) & (pos[tl] <= c.wmark_min), x.shape)].sum()
        )
    }
    if c.timed_stalls:
        last = N_EVENTS + c.stall_phases - 1
        landed = np.minimum(c.managed_pages, pos + c.direct_reclaim_batch)
        below = pos <= c.wmark_min
        # with a fine band each event has two slots (its lower and upper level)
        shift = (0, N_EVENTS + c.stall_phases) if c.coarse_pages > 1 else (0,)
        out["stalls_per_s"] = float(
            sum(x[below, :, d].sum() + x[landed <= c.wmark_min, :, last + d].sum() for d in shift)
        )
        asleep = (np.arange(m) % 2 == 0)[None, :, None]
        out["kswapd_wakeups_per_s"] = float(
            x[np.broadcast_to(asleep & (ts % 2 == 1), x.shape)].sum()
        )
        per = 2 * c.phases
        stalled = np.array([sum(cfg) for cfg in c.stall_states], dtype=float)
        out["stalled_tasks_mean"] = float(
            (pi.reshape(len(stalled), per * nf).sum(axis=1) * stalled).sum()
        )
    return out


def solve(c: ZoneChain, method: str = "auto") -> ZoneStationary:
    """Stationary distribution and the stationary rates of the chain."""
    pi, events = _stationary(c, method)
    flux = _fluxes(c, pi, events)
    f = levels(c)
    below = f <= c.wmark_min
    wake_zone = f <= c.wmark_low
    amark = atomic_min_mark(c.wmark_min)
    stalls = 0.0
    wakeups = 0.0
    for b in range(c.phases if not c.timed_stalls else 0):
        lam = c.alloc_rate if b == 0 else float(c.burst_alloc_rate)  # type: ignore[arg-type]
        ev = lam / c.alloc_batch_pages
        stalls += ev * pi[b][:, below].sum()
        wakeups += (ev + c.gather_rate + c.atomic_alloc_rate) * pi[b, 0, wake_zone].sum()
    stalls = flux.pop("stalls_per_s", stalls)
    wakeups = flux.pop("kswapd_wakeups_per_s", wakeups)
    pf = pi.sum(axis=(0, 1))
    return ZoneStationary(
        pi=pi,
        below_min_prob=float(pf[below].sum()),
        kswapd_awake_prob=float(pi[:, 1, :].sum()),
        stalls_per_s=float(stalls),
        kswapd_wakeups_per_s=float(wakeups),
        atomic_fails_per_s=float(c.atomic_alloc_rate * pf[f <= amark].sum()),
        free_pages_mean=float((pf * f).sum()),
        **flux,
    )


TRUNCATION_MASS = 1e-12
""":func:`solve_truncated` accepts a smaller zone when its law puts less than this mass
near the smaller zone's cap."""


def solve_truncated(
    c: ZoneChain, mass: float = TRUNCATION_MASS, solver=None
) -> tuple[ZoneChain, ZoneStationary]:
    """(chain, law) of ``c`` solved on N' = high + a margin <= N pages, the margin growing
    (x4, from 64 x ``coarse_pages`` x four of the largest batches) until the law puts less
    than ``mass`` within four batches (of levels) of N' (§4.8: below the cap the chain
    does not know N); ``c`` itself when no smaller zone qualifies. ``solver``: the
    function that gives a chain's law (default :func:`solve`; the host passes the law
    store's ``zone_law``)."""
    from dataclasses import replace

    solve_one = solve if solver is None else solver

    batch = 4 * max(c.reclaim_batch, c.direct_reclaim_batch, c.alloc_batch_pages)
    margin = 64 * c.coarse_pages * batch
    while c.wmark_high + margin < c.managed_pages:
        small = replace(c, managed_pages=c.wmark_high + margin)
        law = solve_one(small)
        near = levels(small) > small.managed_pages - batch * small.coarse_pages
        if float(law.pi.sum(axis=(0, 1))[near].sum()) < mass:
            return small, law
        margin *= 4
    return c, solve_one(c)
