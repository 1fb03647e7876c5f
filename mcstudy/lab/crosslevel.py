"""Cross-level predictions: the zone chain calibrated at one pressure level, used to predict
another (docs/lab.md §5).

For an ordered pair of levels (A calibrates, B is predicted) the chain is A's: its zone
(managed pages, marks without boost), kswapd's speed, the pages one stall frees and, for
the timed-stall chain, its stall law (A's PSI stall time per stall); only the load rates
are B's: ``alloc_rate``, ``free_rate`` (B's ``/proc/vmstat``) and ``gather_rate`` (B's
workload). The exact solver then predicts B's zone rows: time at or below min, stalls per
second, and the first-attempt failure fraction of each kind of gather (P(f <= min) for
both: the chain has no task that allocates before it unmaps). The lab shows predicted /
guest for B's rows, beside the ratio of B's own chain; nothing is fitted to those rows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from functools import lru_cache

from mcstudy.exact.pressure import solve
from mcstudy.lab.checks import LabCheck, LevelData
from mcstudy.lab.zone import ZoneCalibration, solve_timed
from mcstudy.lab.zonerows import TIMED
from mcstudy.mechanisms.zone import Zone

LOAD_RATES = ("alloc_rate", "free_rate", "gather_rate")
"""The only fields of the predicted level's chain that a cross-level prediction takes."""
CROSS_ROWS = {
    "time_below_min_frac": "below_min",
    "stalls_per_s": "stalls",
    "nowait_fail_prob": "below_min",
    "nowait_fail_prob_independent": "below_min",
}
"""The predicted level's rows a cross-level prediction is shown against, and which of the
chain's answers predicts each."""
STALLS = ("instantaneous", "timed")
"""The two chains: stalls that take no time (the rows without suffix) and timed stalls
(the rows with :data:`mcstudy.lab.zonerows.TIMED`)."""


@lru_cache(maxsize=32)
def solve_instant(chain: Zone) -> tuple[float, float]:
    """(P(f <= min), stalls per second) of a chain with instantaneous stalls (the exact
    solver on the whole zone, as :func:`mcstudy.lab.zone.calibrate_level` solves it)."""
    st = solve(chain)
    return float(st.below_min_prob), float(st.stalls_per_s)


def with_load(chain: Zone, load: Zone) -> Zone:
    """``chain`` with the load rates (:data:`LOAD_RATES`) of ``load``, nothing else."""
    return replace(chain, **{k: getattr(load, k) for k in LOAD_RATES})


@dataclass(frozen=True)
class CrossPrediction:
    """The chain of level ``calibrated_mib`` with the load of level ``predicted_mib``."""

    calibrated_mib: int
    predicted_mib: int
    stalls: str
    """"instantaneous" or "timed" (:data:`STALLS`)."""
    chain: Zone
    below_min_prob: float
    stalls_per_s: float

    def predicted(self, quantity: str) -> float:
        """The prediction for one of :data:`CROSS_ROWS`."""
        return self.below_min_prob if CROSS_ROWS[quantity] == "below_min" else self.stalls_per_s


def predict_from(
    a_mib: int, a: ZoneCalibration, b_mib: int, b: ZoneCalibration
) -> list[CrossPrediction]:
    """Level ``b_mib`` predicted by ``a``'s chains (instantaneous, and timed where ``a``
    has one); a chain that cannot be solved gives NaN."""
    out = []
    chain = with_load(a.chain, b.chain)
    try:
        p, s = solve_instant(chain)
    except (ValueError, MemoryError):
        p = s = math.nan
    out.append(CrossPrediction(a_mib, b_mib, "instantaneous", chain, p, s))
    if a.timed_chain is not None:
        timed = with_load(a.timed_chain, b.chain)
        try:
            p, s, _ = solve_timed(timed)
        except (ValueError, MemoryError):
            p = s = math.nan
        out.append(CrossPrediction(a_mib, b_mib, "timed", timed, p, s))
    return out


def cross_predictions(levels: list[LevelData], itself: bool = False) -> list[CrossPrediction]:
    """Every ordered pair of calibrated levels (A calibrates, B is predicted), in run
    order; a level predicted by its own chain only with ``itself``."""
    cal = [(lv.mib, lv.calibration) for lv in levels if lv.calibration is not None]
    return [
        p
        for a_mib, a in cal
        for b_mib, b in cal
        if itself or a_mib != b_mib
        for p in predict_from(a_mib, a, b_mib, b)
    ]


def _ratio(pred: float, guest: float, half: float) -> str:
    if not (math.isfinite(pred) and math.isfinite(guest)):
        return "n/a"
    if guest > 0:
        return f"x{pred / guest:.3g}"
    return f"guest 0 (upper bound {half:.2g})" + (
        f": at least x{pred / half:.3g}" if half > 0 and pred > 0 else ""
    )


def cross_level_notes(preds: list[CrossPrediction], rows: list[LabCheck]) -> list[str]:
    """One line per prediction of a level by another level's chain: predicted / guest of
    each of the predicted level's rows, with the ratio of that level's own chain."""
    by = {(r.phase, r.quantity): r for r in rows if not r.not_measurable}
    lines = []
    for p in preds:
        if p.calibrated_mib == p.predicted_mib:
            continue
        phase = f"zone {p.predicted_mib} MiB"
        suffix = TIMED if p.stalls == "timed" else ""
        parts = []
        for q in CROSS_ROWS:
            r = by.get((phase, q))
            if r is None:
                continue
            own = by.get((phase, q + suffix))
            pred = p.predicted(q)
            parts.append(
                f"{q} {pred:.3g} / {r.measured:.3g} ± {r.halfwidth:.2g} = "
                f"{_ratio(pred, r.measured, r.halfwidth)}"
                + (f" (own chain {_ratio(own.predicted, r.measured, r.halfwidth)})" if own else "")
            )
        if not parts:
            continue
        lines.append(
            f"cross-level, {p.stalls} stalls: {p.predicted_mib} MiB predicted by the "
            f"{p.calibrated_mib} MiB chain with {p.predicted_mib} MiB's alloc, free and "
            "gather rates only (predicted / guest ± noise = ratio): " + "; ".join(parts)
        )
    return lines
