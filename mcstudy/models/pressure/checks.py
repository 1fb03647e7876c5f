"""What the pressure model itself finds at a point (``docs/model.md`` §4.6, §6.1):

* an unfinished transient: a time fraction that changes between the two halves of the
  counted window by more than 4 standard errors, or an automatic warm-up that had to be
  cut before the chain's estimated relaxation time;
* vacuous estimates: no gather failed (the GFP_NOWAIT failure probability is then only
  an upper bound), with the reason when the zone's drift cannot bring it to min; a note
  (not a finding) when no gather runs at all (``gather_rate = 0``, asked for).
"""

from __future__ import annotations

import math
from typing import Any

from mcstudy.findings import Finding
from mcstudy.models.pressure.prepare import PreparedPressure
from mcstudy.stats.agreement import Z_FLAG

_FRACTIONS = {"below_frac": "time_below_min_frac", "awake_frac": "kswapd_awake_frac"}


def _transient(prepared: PreparedPressure, values: dict[str, Any]) -> list[Finding]:
    out = []
    start = prepared.start
    for name, estimate in _FRACTIONS.items():
        d = values.get(f"{name}_drift")
        se = values.get(f"{name}_drift_stderr")
        if d is None or se is None or not (math.isfinite(d) and math.isfinite(se)) or se <= 0:
            continue
        if abs(d / se) > Z_FLAG:
            how = (
                "sequences start from the exact stationary law"
                if start.stationary
                else f"warm-up {start.warmup_s:.3g} s from a fixed start"
            )
            out.append(
                Finding(
                    None,
                    estimate,
                    "transient",
                    f"{estimate} changes between the halves of the counted window by more "
                    f"than {Z_FLAG:g} standard errors ({how}): the transient is not over; "
                    "lengthen warmup_s or leave initial_free unset",
                )
            )
    if start.warmup_cut:
        out.append(
            Finding(
                None,
                None,
                "transient",
                "the zone's estimated relaxation time from its start is longer than any "
                "warm-up can simulate (a balanced or nearly balanced zone drifts for hours); "
                "the counted window describes the zone after its start, not a stationary "
                "zone",
            )
        )
    return out


def _vacuous(prepared: PreparedPressure, values: dict[str, Any]) -> list[Finding]:
    p = prepared.params
    if p.estimator != "plain" or values.get("nowait_fail_prob") != 0.0:
        return []
    demand = max(p.lam, p.lam_burst if p.bursty else 0.0) + p.atomic_alloc_rate
    if p.gather_rate <= 0.0:
        why = "gather_rate = 0: no gather ran, so no batch page was asked for"
        return [Finding(None, "nowait_fail_prob", "note", why)]
    if demand <= p.free_rate:
        why = (
            "no gather's batch page failed: allocations never outpace frees "
            "(alloc_rate x alloc_scale <= free_rate), so the zone reaches min only by "
            "rare fluctuations; nowait_fail_prob is an upper bound (use estimator = "
            "'importance' for the value)"
        )
    else:
        why = (
            "no gather's batch page failed in the simulated time: nowait_fail_prob is "
            "an upper bound (use estimator = 'importance' or more sequences)"
        )
    return [Finding(None, "nowait_fail_prob", "vacuous", why)]


def pressure_findings(prepared: PreparedPressure, values: dict[str, Any]) -> list[Finding]:
    """Transients and vacuous estimates of one point (``point`` left None)."""
    return _transient(prepared, values) + _vacuous(prepared, values)
