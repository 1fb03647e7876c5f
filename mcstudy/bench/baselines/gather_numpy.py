"""The gather model as per-attempt NumPy, vectorised over sequences (benchmark baseline).

All sequences advance together: each round draws one uniform per sequence that still
has tables left (its next GFP_NOWAIT batch-page attempt), so the number of rounds is
the largest number of attempts of any sequence.
"""

from __future__ import annotations

import numpy as np

from mcstudy.bench.baselines.gather_python import GatherTotals


def simulate_gathers_numpy(
    seed: int,
    sequences: int,
    n_tables: int,
    fail_p: float,
    max_table_batch: int,
    ipi_targets: int = 0,
    deliver_prob: float = 1.0,
    chunk: int = 1 << 18,
) -> GatherTotals:
    """``sequences`` gathers, ``chunk`` sequences per vectorised pass."""
    rng = np.random.default_rng(seed)
    tot = GatherTotals()
    for start in range(0, sequences, chunk):
        m = min(chunk, sequences - start)
        remaining = np.full(m, n_tables, dtype=np.int64)
        f = np.zeros(m, dtype=np.int64)
        a = np.zeros(m, dtype=np.int64)
        active = np.arange(m)
        while active.size:
            fail = rng.random(active.size) < fail_p
            a[active] += 1
            f[active] += fail
            remaining[active] -= np.where(fail, 1, max_table_batch)
            active = active[remaining[active] > 0]
        if ipi_targets and deliver_prob >= 1.0:
            d = f * ipi_targets
        elif ipi_targets:
            d = rng.binomial(f * ipi_targets, deliver_prob)
        else:
            d = np.zeros(m, dtype=np.int64)
        tot.sequences += m
        tot.fallbacks += int(f.sum())
        tot.gathers_with_fallback += int(np.count_nonzero(f))
        tot.alloc_attempts += int(a.sum())
        tot.sync_ipis += int(d.sum())
        tot.fallbacks_sq += int((f * f).sum())
        tot.alloc_attempts_sq += int((a * a).sum())
        tot.sync_ipis_sq += int((d * d).sum())
    return tot
