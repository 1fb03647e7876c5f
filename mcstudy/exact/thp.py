"""Exact values for the THP model (docs/model.md §5.3) and the IPIs that isolated CPUs see.

Pressure environment: a two-state Markov chain (0 calm, 1 pressure episode) with
generator ``Q`` and stationary law ``pi``; it modulates split rates and allocation
failure probabilities.

* **Population.** A class of PMD mappings with Poisson arrivals (rate lambda) and
  exponential departures at rate ``nu[e] = 1 / L + sigma[e]`` is a Markov-modulated
  M/M/inf queue. Its conditional means ``m[e] = E[N; env = e]`` solve the linear system
  ``m (Q - diag(nu)) = -lambda pi``. With no modulation (``sigma[0] == sigma[1]`` or no
  episodes) N is Poisson with mean ``lambda E[T]``, ``T = min(X, Exp(sigma))``, for *any*
  lifetime law of X (M/G/inf insensitivity), so the variance equals the mean and the
  deposit (4096 bytes per mapping) has a Poisson law: that is docs/model.md §5.3.
  Fork copies arrive in batches (``fork_rate * q * N``): their means solve the same
  system with that arrival vector; their law is not Poisson.
* **Splits.** E[splits/s] = sum_e sigma[e] m[e] (Campbell). In steady state without
  modulation and without forks the split process is Poisson: departures of M/G/inf are
  Poisson (displacement theorem) and a split is an independent mark of a departure.
* **cache_k.** With Poisson splits of rate S spread uniformly over c CPUs, one CPU's
  cache level is a birth-death chain (refill rho while below K, use S / c): pi_k is
  proportional to (rho c / S)^k, and a split finds the cache empty with probability pi_0
  (PASTA).
* **IPIs.** Rounds and deliveries per second are linear in the event rates (exact for
  any modulation); the cycle hit probability of the tagged isolated CPU is
  ``1 - pi expm((Q - diag(h)) P) 1`` when every event's rounds arrive at one instant
  (h[e] = rate of events delivering >= 1 round to it in state e); without modulation the
  per-cycle count is compound Poisson (Panjer recursion), which gives its quantiles and
  the law of the largest count over n independent cycles, ``P(max <= k) = F(k)^n``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numba import njit

from mcstudy.exact.gather import fallbacks_pmf, gather_exact
from mcstudy.exact.timed import env_fallbacks_mean
from mcstudy.kernel.policies import collapse_policy, ipi_policy, round_delivery

PAGE_TABLE_BYTES = 4096
PMD_MAP_BYTES = 2 * 1024 * 1024


# --------------------------------------------------------------------------- environment


def env_generator(pressure_fraction: float, episode_s: float) -> tuple[np.ndarray, np.ndarray]:
    """Generator Q (1/s) and stationary law pi of the calm/pressure chain.

    Mean episode ``episode_s``; mean calm period ``episode_s (1 - phi) / phi``.
    """
    phi = float(pressure_fraction)
    if not 0.0 <= phi < 1.0 or episode_s <= 0.0:
        raise ValueError("need 0 <= pressure_fraction < 1 and episode_s > 0")
    if phi == 0.0:
        return np.zeros((2, 2)), np.array([1.0, 0.0])
    to_calm = 1.0 / episode_s
    to_pressure = phi / ((1.0 - phi) * episode_s)
    q = np.array([[-to_pressure, to_pressure], [to_calm, -to_calm]])
    return q, np.array([1.0 - phi, phi])


def modulated_means(arrivals: np.ndarray, nu: np.ndarray, q: np.ndarray) -> np.ndarray:
    """``m[e] = E[N; env = e]`` of a Markov-modulated M/M/inf queue.

    ``arrivals[e]``: rate of arrivals *jointly* with env e (lambda pi[e] for Poisson
    arrivals); ``nu[e]``: per-mapping departure rate in state e. Solves
    ``m (Q - diag(nu)) = -arrivals``.
    """
    a = (q - np.diag(nu)).T
    if np.all(arrivals == 0.0):
        return np.zeros_like(arrivals, dtype=float)
    return np.linalg.solve(a, -np.asarray(arrivals, dtype=float))


def sojourn_mean(dist: str, mean: float, shape: float, sigma: float) -> float:
    """E[min(X, Exp(sigma))] = E[(1 - exp(-sigma X)) / sigma] (s), X the lifetime law."""
    from scipy import integrate

    if sigma <= 0.0:
        return mean
    if dist == "exponential":
        return 1.0 / (1.0 / mean + sigma)
    frozen = lifetime_law(dist, mean, shape)

    def integrand(x: float) -> float:
        return frozen.sf(x) * math.exp(-sigma * x)

    # E[min(X, E)] = int_0^inf P(X > x) P(E > x) dx; split at the scale of both
    brk = sorted({min(mean, 1.0 / sigma), max(mean, 1.0 / sigma)})
    total = 0.0
    lo = 0.0
    for hi in [*brk, math.inf]:
        val, _ = integrate.quad(integrand, lo, hi, limit=400, epsabs=0.0, epsrel=1e-12)
        total += val
        lo = hi
    return total


def lifetime_law(dist: str, mean: float, shape: float) -> Any:
    """scipy frozen distribution of a lifetime with the given mean."""
    from scipy import stats

    if dist == "exponential":
        return stats.expon(scale=mean)
    if dist == "lognormal":
        mu = math.log(mean) - 0.5 * shape * shape
        return stats.lognorm(s=shape, scale=math.exp(mu))
    if dist == "pareto":
        xm = mean * (shape - 1.0) / shape
        return stats.pareto(b=shape, scale=xm)
    raise ValueError(f"unknown lifetime distribution {dist!r}")


# --------------------------------------------------------------------------- population


@dataclass(frozen=True)
class PopulationInput:
    """Rates of the THP population (1/s unless stated)."""

    fault_rate: float
    zero_fault_rate: float
    collapse_rate: float
    lifetime_s: float
    lifetime_dist: str
    lifetime_shape: float
    sig: np.ndarray  # [3, 2]: split rate per mapping, class x env
    fork_rate: float
    fork_copy_prob: float
    fork_child_lifetime_s: float
    pressure_fraction: float
    pressure_episode_s: float


@dataclass(frozen=True)
class PopulationExact:
    """Stationary means (per class and env), and whether N is exactly Poisson."""

    means: np.ndarray  # [3, 2] E[N_c; env = e] (mappings)
    exact: bool  # means (and split rates) are exact
    poisson: bool  # the total N is Poisson (variance = mean)

    @property
    def mean(self) -> float:
        return float(self.means.sum())

    def conditional(self, pi: np.ndarray) -> np.ndarray:
        """E[N_c | env = e] (mappings), for the stationary start."""
        out = np.zeros((3, 2))
        for e in range(2):
            if pi[e] > 0:
                out[:, e] = self.means[:, e] / pi[e]
        return out


def population_exact(inp: PopulationInput) -> PopulationExact:
    """Stationary means of the three classes (anon THPs, huge zero page, fork copies)."""
    q, pi = env_generator(inp.pressure_fraction, inp.pressure_episode_s)
    modulated = inp.pressure_fraction > 0.0 and bool(np.any(inp.sig[:, 0] != inp.sig[:, 1]))
    forks = inp.fork_rate > 0.0 and inp.fork_copy_prob > 0.0
    arr = np.array([inp.fault_rate + inp.collapse_rate, inp.zero_fault_rate])
    means = np.zeros((3, 2))
    exponential = inp.lifetime_dist == "exponential"
    exact = exponential or not modulated
    for c in range(2):
        if exponential or modulated:
            nu = 1.0 / inp.lifetime_s + inp.sig[c]
            means[c] = modulated_means(arr[c] * pi, nu, q) if inp.pressure_fraction > 0 else 0.0
            if inp.pressure_fraction == 0.0:
                means[c, 0] = arr[c] / nu[0]
        else:
            # not modulated: the population ignores the environment; insensitivity
            m = arr[c] * sojourn_mean(
                inp.lifetime_dist, inp.lifetime_s, inp.lifetime_shape, float(inp.sig[c, 0])
            )
            means[c] = m * pi
    if forks:
        nu_f = 1.0 / inp.fork_child_lifetime_s + inp.sig[2]
        feed = inp.fork_rate * inp.fork_copy_prob * (means[0] + means[1])
        if inp.pressure_fraction > 0:
            means[2] = modulated_means(feed, nu_f, q)
        else:
            means[2, 0] = feed[0] / nu_f[0]
    return PopulationExact(means=means, exact=exact, poisson=exact and not modulated and not forks)


def poisson_quantile(mean: float, q: float) -> float:
    """The q-quantile of Poisson(mean) (smallest k with F(k) >= q)."""
    from scipy import stats

    if mean <= 0.0:
        return 0.0
    return float(stats.poisson.ppf(q, mean))


# --------------------------------------------------------------------------- cache_k


def cache_level_law(cache_k: int, refill_per_cpu: float, split_rate_per_cpu: float) -> np.ndarray:
    """Stationary law of one CPU's cache level (birth-death: refill up, splits down)."""
    if cache_k < 0:
        raise ValueError("cache_k must be >= 0")
    k = np.arange(cache_k + 1)
    if split_rate_per_cpu <= 0.0:
        out = np.zeros(cache_k + 1)
        out[-1] = 1.0 if refill_per_cpu > 0.0 else 0.0
        if refill_per_cpu <= 0.0:
            out[0] = 1.0  # never refilled, never used: starts (and stays) empty
        return out
    if refill_per_cpu <= 0.0:
        out = np.zeros(cache_k + 1)
        out[0] = 1.0
        return out
    logr = math.log(refill_per_cpu / split_rate_per_cpu)
    w = k * logr
    w -= w.max()
    p = np.exp(w)
    return p / p.sum()


def cache_chain_mmpp(
    cache_k: int,
    refill_per_cpu: float,
    use_rate: tuple[float, float],
    fail_p: tuple[float, float],
    pressure_fraction: float,
    episode_s: float,
) -> tuple[float, float, float]:
    """One CPU's cache when its splits are a Markov-modulated Poisson process.

    State (env, level); splits at ``use_rate[env]`` per second take a table when the
    level is > 0, else try the atomic allocation (fails with ``fail_p[env]``).
    Returns (failures/s, P(a split finds the cache empty), mean level). Exact for
    that process; for the THP model it takes the split rate at the conditional mean THP
    count given the env, which is exact in the limit of a large population.
    """
    q, pi = env_generator(pressure_fraction, episode_s)
    envs = [0] if pressure_fraction == 0.0 else [0, 1]
    k1 = cache_k + 1
    n = len(envs) * k1
    g = np.zeros((n, n))
    for i, e in enumerate(envs):
        for k in range(k1):
            a = i * k1 + k
            if len(envs) == 2:
                g[a, (1 - i) * k1 + k] += q[e, 1 - e]
            if k < cache_k:
                g[a, a + 1] += refill_per_cpu
            if k > 0:
                g[a, a - 1] += use_rate[e]
    g -= np.diag(g.sum(axis=1))
    # stationary law: pi G = 0 with sum(pi) = 1 (replace one balance equation)
    a_mat = g.T.copy()
    a_mat[-1, :] = 1.0
    rhs = np.zeros(n)
    rhs[-1] = 1.0
    if refill_per_cpu == 0.0 and all(use_rate[e] == 0.0 for e in envs):
        # nothing moves: the level keeps its initial value; start empty by convention
        law = np.zeros(n)
        for i in range(len(envs)):
            law[i * k1] = pi[envs[i]]
    else:
        law = np.linalg.lstsq(a_mat, rhs, rcond=None)[0]
        law = np.maximum(law, 0.0)
        law /= law.sum()
    fails = splits = empty_splits = level = 0.0
    for i, e in enumerate(envs):
        block = law[i * k1 : (i + 1) * k1]
        splits += block.sum() * use_rate[e]
        empty_splits += block[0] * use_rate[e]
        fails += block[0] * use_rate[e] * fail_p[e]
        level += float(np.arange(k1) @ block)
    miss = empty_splits / splits if splits > 0 else math.nan
    return fails, miss, level


# --------------------------------------------------------------------------- IPIs


def gather_fallbacks_pgf(n_tables: int, fail_p: float, max_table_batch: int, z: float) -> float:
    """E[z^F] for the fallbacks F of one gather (docs/model.md §3.1):
    G_r(z) = p z G_{r-1}(z) + (1 - p) G_{r-B}(z), G_r = 1 for r <= 0."""
    return float(_gather_pgf(int(n_tables), float(fail_p), int(max_table_batch), float(z)))


@njit(cache=True)
def _gather_pgf(n, p, batch, z):
    g = np.ones(n + 1)
    for r in range(1, n + 1):
        s = r - batch if r > batch else 0
        g[r] = p * z * g[r - 1] + (1.0 - p) * g[s]
    return g[n]


@njit(cache=True)
def _thin(pmf, keep):
    # P(D = d) = sum_f P(F = f) C(f, d) keep^d (1 - keep)^(f - d), by the recursion on f
    n = pmf.shape[0]
    out = np.zeros(n)
    row = np.zeros(n)
    row[0] = 1.0  # Binomial(0, keep)
    for f in range(n):
        if f > 0:
            for d in range(f, 0, -1):
                row[d] = row[d] * (1.0 - keep) + row[d - 1] * keep
            row[0] *= 1.0 - keep
        w = pmf[f]
        if w != 0.0:
            for d in range(f + 1):
                out[d] += w * row[d]
    return out


def thinned_pmf(pmf: np.ndarray, keep: float) -> np.ndarray:
    """Law of Binomial(F, keep) given the law of F (pmf over 0..n)."""
    pmf = np.asarray(pmf, dtype=float)
    if keep >= 1.0:
        return pmf.copy()
    return _thin(pmf, float(keep))


@njit(cache=True)
def _panjer(lam, sev, kmax, tail_tol):
    g = np.zeros(kmax + 1)
    g[0] = math.exp(lam * (sev[0] - 1.0))
    acc = g[0]
    ns = sev.shape[0]
    last = 0
    for k in range(1, kmax + 1):
        s = 0.0
        for j in range(1, min(k, ns - 1) + 1):
            s += j * sev[j] * g[k - j]
        g[k] = lam / k * s
        acc += g[k]
        last = k
        if 1.0 - acc < tail_tol and g[k] < tail_tol:
            break
    return g[: last + 1]


def compound_poisson_pmf(
    rate: float, severity: np.ndarray, kmax: int = 20000, tail_tol: float = 1e-300
) -> np.ndarray:
    """Law of a Poisson(rate) sum of i.i.d. counts with law ``severity`` (Panjer)."""
    sev = np.asarray(severity, dtype=float)
    return _panjer(float(rate), sev, int(kmax), float(tail_tol))


def pmf_quantile(pmf: np.ndarray, q: float) -> float:
    """Smallest k with F(k) >= q (NaN if the pmf's mass never reaches q)."""
    cdf = np.cumsum(pmf)
    idx = np.searchsorted(cdf, q - 1e-15, side="left")
    return float(idx) if idx < len(pmf) else math.nan


def expected_max_of_iid(pmf: np.ndarray, n: int) -> float:
    """E[max of n i.i.d. counts with law ``pmf``] = sum_k (1 - F(k)^n)."""
    pmf = np.asarray(pmf, dtype=float)
    tail = np.cumsum(pmf[::-1])[::-1]  # tail[k] = P(X >= k)
    sf = np.append(tail[1:], 0.0)  # P(X > k)
    # F(k)^n = exp(n log1p(-sf)); sum over k of 1 - F(k)^n
    return float(np.sum(-np.expm1(n * np.log1p(-np.minimum(sf, 1.0 - 1e-300)))))


def hit_prob_modulated(q: np.ndarray, pi: np.ndarray, h: np.ndarray, period_s: float) -> float:
    """P(>= 1 hitting event in a window of ``period_s``) for events of rate h[env]."""
    from scipy import linalg

    m = (q - np.diag(h)) * period_s
    return float(1.0 - pi @ linalg.expm(m) @ np.ones(2))


@dataclass(frozen=True)
class IpiInput:
    """Everything the IPI side depends on (rates 1/s, probabilities)."""

    collapse_rate: float
    collapse_policy: str
    deposit: bool
    fresh_nowait: bool
    khugepaged_sync: bool
    uses_trt: bool
    fallback_ipi: bool
    ipi_policy: str
    gather_rate: float
    tables_per_gather: int
    max_table_batch: int
    nowait_p: tuple[float, float]  # GFP_NOWAIT failure probability in calm / pressure
    rt_mm_share: float
    kernel_prob: float  # P(an isolated CPU is in kernel mode when a round arrives)
    pressure_fraction: float
    pressure_episode_s: float
    rt_cycle_s: float
    sync_round_s: float
    cycles: int
    fallbacks_mean: tuple[float, float] | None = None
    """Mean fallbacks of a gather starting in calm / pressure, when the caller knows them
    (the host study's zone chain, ``mcstudy.exact.timed.zone_fallbacks_mean``); None:
    from the calm/pressure chain with attempts ``sync_round_s`` apart after failures."""


@dataclass(frozen=True)
class IpiExact:
    collapse_rounds_per_s: float
    fallback_rounds_per_s: float
    fallbacks_per_s: float
    fresh_failures_per_s: float
    rcu_frees_per_s: float
    isolated_collapse_per_s: float
    isolated_fallback_per_s: float
    hit_prob: float  # NaN where not exact
    cycle_pmf: np.ndarray | None  # law of the per-cycle count (no modulation, instant bursts)


def _collapse_outcome(inp: IpiInput, p: float) -> tuple[float, float, float]:
    """Per collapse at failure probability p: (E rounds, E fresh failures, E rcu frees)."""
    policy_rcu = not ipi_policy(inp.ipi_policy).sends_rounds
    col = collapse_policy(inp.collapse_policy)
    if not col.fresh_table:
        return (1.0 if inp.khugepaged_sync and not policy_rcu else 0.0), 0.0, 0.0
    fail_fresh = p if (inp.deposit and inp.fresh_nowait) else 0.0
    rounds = fail_fresh * (1.0 if inp.khugepaged_sync and not policy_rcu else 0.0)
    rcu = 0.0
    if col.old_table_by_rcu:
        rcu = 1.0 - fail_fresh
    elif inp.uses_trt:
        # the old table: one tlb_remove_table() in a gather of one table
        fb = (1.0 - fail_fresh) * gather_exact(1, p, inp.max_table_batch).fallback_prob
        if inp.fallback_ipi and not policy_rcu:
            rounds += fb
        else:
            rcu += fb
    return rounds, fail_fresh, rcu


def iso_round_prob(inp: IpiInput) -> float:
    """P(one round reaches the tagged isolated CPU)."""
    return round_delivery(ipi_policy(inp.ipi_policy), inp.rt_mm_share, inp.kernel_prob)


def ipi_exact(inp: IpiInput) -> IpiExact:
    """Exact IPI rates, and the cycle hit probability / per-cycle law where they exist."""
    q, pi = env_generator(inp.pressure_fraction, inp.pressure_episode_s)
    q1 = iso_round_prob(inp)
    pol = ipi_policy(inp.ipi_policy)
    sends = inp.uses_trt and inp.fallback_ipi and pol.sends_rounds
    c_rounds = c_fresh = c_rcu = f_rounds = fbs = f_rcu = 0.0
    h = np.zeros(2)
    per_gather = _gather_fallback_means(inp, q, sends)
    for e in range(2):
        if pi[e] == 0.0:
            continue
        p = inp.nowait_p[e]
        r, ff, rc = _collapse_outcome(inp, p)
        c_rounds += pi[e] * inp.collapse_rate * r
        c_fresh += pi[e] * inp.collapse_rate * ff
        c_rcu += pi[e] * inp.collapse_rate * rc
        h[e] += inp.collapse_rate * r * q1
        if inp.uses_trt and inp.gather_rate > 0.0:
            fbs += pi[e] * inp.gather_rate * per_gather[e]
            if sends:
                f_rounds += pi[e] * inp.gather_rate * per_gather[e]
                keep = 1.0 - inp.kernel_prob if pol.kernel_mode_only else 0.0
                share = inp.rt_mm_share if pol.mm_only else 1.0
                z = keep  # P(no delivery) per round
                pgf = gather_fallbacks_pgf(inp.tables_per_gather, p, inp.max_table_batch, z)
                h[e] += inp.gather_rate * share * (1.0 - pgf)
            else:
                f_rcu += pi[e] * inp.gather_rate * per_gather[e]
    never_fails = all(inp.nowait_p[e] == 0.0 for e in range(2) if pi[e] > 0.0)
    instant = (
        inp.sync_round_s == 0.0
        or not sends
        or inp.gather_rate == 0.0
        or inp.tables_per_gather == 1
        or never_fails
        or q1 == 0.0
    )
    hit = hit_prob_modulated(q, pi, h, inp.rt_cycle_s) if instant else math.nan
    pmf = None
    if instant and inp.pressure_fraction == 0.0:
        pmf = _cycle_pmf(inp, q1, sends)
    return IpiExact(
        collapse_rounds_per_s=c_rounds,
        fallback_rounds_per_s=f_rounds,
        fallbacks_per_s=fbs,
        fresh_failures_per_s=c_fresh,
        rcu_frees_per_s=c_rcu + f_rcu,
        isolated_collapse_per_s=c_rounds * q1,
        isolated_fallback_per_s=f_rounds * q1,
        hit_prob=hit,
        cycle_pmf=pmf,
    )


def _gather_fallback_means(inp: IpiInput, q: np.ndarray, sends: bool) -> np.ndarray:
    """Mean fallbacks of a gather starting in calm / pressure (docs/model.md §11.8): a
    fallback that sends a sync round makes the next attempt ``sync_round_s`` later, when
    the pressure state may have changed; call_rcu() fallbacks take no time."""
    if inp.fallbacks_mean is not None:
        return np.asarray(inp.fallbacks_mean, dtype=float)
    round_s = inp.sync_round_s if sends else 0.0
    p = np.asarray(inp.nowait_p, dtype=float)
    return env_fallbacks_mean(inp.tables_per_gather, inp.max_table_batch, p, q, round_s)


def _cycle_pmf(inp: IpiInput, q1: float, sends: bool) -> np.ndarray | None:
    """Per-cycle delivered count (no modulation, every event's rounds at one instant)."""
    p = inp.nowait_p[0]
    period = inp.rt_cycle_s
    r, _, _ = _collapse_outcome(inp, p)
    lam_c = inp.collapse_rate * period
    lam_g = inp.gather_rate * period if sends else 0.0
    # burst sizes: a collapse delivers Bernoulli(r q1); a gather a mixture
    sev_c = np.array([1.0 - r * q1, r * q1])
    if lam_g > 0.0:
        if inp.tables_per_gather > 5000:
            return None
        f_pmf = fallbacks_pmf(inp.tables_per_gather, p, inp.max_table_batch)
        pol = ipi_policy(inp.ipi_policy)
        keep = inp.kernel_prob if pol.kernel_mode_only else 1.0
        share = inp.rt_mm_share if pol.mm_only else 1.0
        d = thinned_pmf(f_pmf, keep) * share
        d[0] += 1.0 - share
    else:
        d = np.array([1.0])
    lam = lam_c + lam_g
    if lam == 0.0:
        return np.array([1.0])
    n = max(len(sev_c), len(d))
    sev = np.zeros(n)
    sev[: len(sev_c)] += lam_c / lam * sev_c
    sev[: len(d)] += lam_g / lam * d
    return compound_poisson_pmf(lam, sev)
