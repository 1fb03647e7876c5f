"""What the THP model itself finds at a point (``docs/model.md`` §5.1, §6.1):

* an unfinished transient: the deposit or the reserve changes between the two halves of
  the measured window by more than 4 standard errors (a sequence starts from the
  stationary population, but the per-CPU caches start from an approximate law);
* vacuous estimates: no split in the window (the cache-miss probability and split-time
  failures say nothing), no RT cycle; a note (not a finding) when every split rate is 0.
"""

from __future__ import annotations

import math
from typing import Any

from mcstudy.findings import Finding
from mcstudy.kernel.policies import table_policy
from mcstudy.models.thp.prepare import PreparedThp
from mcstudy.stats.agreement import Z_FLAG

_DRIFTS = {"deposit_bytes_drift": "deposit_bytes_mean", "reserve_bytes_drift": "reserve_bytes_mean"}


def thp_findings(prepared: PreparedThp, values: dict[str, Any]) -> list[Finding]:
    """Transients and vacuous estimates of one point (``point`` left None)."""
    out = []
    for name, estimate in _DRIFTS.items():
        d, se = values.get(name), values.get(f"{name}_stderr")
        if d is None or se is None or not (math.isfinite(d) and math.isfinite(se)) or se <= 0:
            continue
        if abs(d / se) > Z_FLAG:
            out.append(
                Finding(
                    None,
                    estimate,
                    "transient",
                    f"{estimate} changes between the halves of the measured window by more "
                    f"than {Z_FLAG:g} standard errors: the transient is not over; set "
                    "warmup_s",
                )
            )
    p = prepared.params
    if values.get("splits") == 0 and not table_policy(p.table_policy).deposit:
        if not any(r > 0.0 for rates in p.split_rates() for r in rates):
            out.append(
                Finding(
                    None,
                    "split_cache_miss_prob",
                    "note",
                    "every split rate is 0: no PMD split can happen, so split-time "
                    "allocations are never needed",
                )
            )
        else:
            out.append(
                Finding(
                    None,
                    "split_cache_miss_prob",
                    "vacuous",
                    "no PMD split in the measured window: split-time allocations were never "
                    "needed, so the on-demand cost is not measured here",
                )
            )
    return out
