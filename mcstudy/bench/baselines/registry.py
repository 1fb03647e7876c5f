"""Baselines by name: how to run each on a benchmark case, and whether it can.

``run(case, n, seed)`` does ``n`` units of ``unit`` (sequences, or simulated events)
and returns (sequences or None, events or None); the kernel's speedup over a baseline
compares rates in the baseline's ``unit``.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mcstudy.bench.cases import BenchCase


@dataclass(frozen=True)
class Baseline:
    name: str
    model: str
    description: str
    unit: str
    """what ``n`` counts: "sequences" or "events\""""
    run: Callable[[BenchCase, int, int], tuple[int | None, int | None]]
    n0: int
    requires: str | None = None
    """importable module the baseline needs (None: nothing beyond the dependencies)"""

    def unavailable(self, case: BenchCase) -> str | None:
        """Why this baseline cannot run on ``case`` (None if it can)."""
        if self.requires and importlib.util.find_spec(self.requires) is None:
            return f"{self.requires} not installed (pip install 'mcstudy[bench]')"
        if self.model == "gather":
            return _gather_unsupported(case)
        if self.model == "pressure":
            return _pressure_unsupported(case)
        return None


# ----------------------------------------------------------------------------- gather


def _gather_args(case: BenchCase) -> dict[str, Any]:
    p = case.validated_params()
    ipi = p.ipi()
    return {
        "n_tables": p.n_tables(),
        "fail_p": p.gfp_nowait_fail_p,
        "max_table_batch": p.batch(),
        "ipi_targets": ipi.targets,
        "deliver_prob": ipi.deliver_prob,
    }


def _gather_unsupported(case: BenchCase) -> str | None:
    from mcstudy.kernel.profiles import get_profile

    p = case.validated_params()
    if p.pressure_episode_prob > 0.0:
        return "baselines model no pressure episodes"
    if not get_profile(p.kernel).uses_tlb_remove_table:
        return "kernel profile does not use tlb_remove_table()"
    return None


def _python_per_table(case: BenchCase, n: int, seed: int) -> tuple[int, int]:
    from mcstudy.reference.gather import simulate_gathers_reference

    out = simulate_gathers_reference(seed, n, **_gather_args(case))
    return n, sum(o.alloc_attempts for o in out)


def _python_per_attempt(case: BenchCase, n: int, seed: int) -> tuple[int, int]:
    from mcstudy.bench.baselines.gather_python import simulate_gathers_per_attempt

    tot = simulate_gathers_per_attempt(seed, n, **_gather_args(case))
    return tot.sequences, tot.alloc_attempts


def _numpy_per_attempt(case: BenchCase, n: int, seed: int) -> tuple[int, int]:
    from mcstudy.bench.baselines.gather_numpy import simulate_gathers_numpy

    tot = simulate_gathers_numpy(seed, n, **_gather_args(case))
    return tot.sequences, tot.alloc_attempts


# --------------------------------------------------------------------------- pressure


def _chain(case: BenchCase):
    """The reference chain (``exact.pressure.ZoneChain``) of a pressure-model case."""
    return case.validated_params().exact_chain()


def _pressure_unsupported(case: BenchCase) -> str | None:
    p = case.validated_params()
    if not p.is_reference():
        return "baselines simulate only the reference chain (extensions active)"
    return None


def _mean_event_rate(c) -> float:
    """Events per second with kswapd awake half the time (only to size a run)."""
    return c.alloc_rate + c.free_rate + c.gather_rate + 0.5 * c.kswapd_rate


def _uniformisation_rate(c) -> float:
    """Lambda of the reference chain: all clocks, kswapd's included (events/s)."""
    return c.alloc_rate + c.free_rate + c.gather_rate + c.kswapd_rate


def _python_reference_pressure(case: BenchCase, n: int, seed: int) -> tuple[None, int]:
    """One reference trajectory of n / Lambda simulated seconds: n uniformised events
    in expectation, the unit of the kernel's ``events`` tally."""
    from mcstudy.reference.pressure import ZoneRef, simulate_reference

    p = case.validated_params()
    c = _chain(case)
    z = ZoneRef(c, tables_per_gather=p.tables_per_gather, max_table_batch=p.batch())
    # the reference starts from all pages free (it has no initial_free); its cost per
    # simulated second does not depend on where the chain is
    simulate_reference(seed, 1, z, 0.0, n / _uniformisation_rate(c))
    return None, n


def _initial_free(case: BenchCase) -> int | None:
    return getattr(case.validated_params(), "initial_free", None)


def _simpy(case: BenchCase, n: int, seed: int) -> tuple[None, int]:
    from mcstudy.bench.baselines.pressure_simpy import simulate_pressure_simpy

    c = _chain(case)
    tot = simulate_pressure_simpy(
        c, n / _mean_event_rate(c), seed, initial_free=_initial_free(case)
    )
    return None, tot.events


def _pressure_numpy(case: BenchCase, n: int, seed: int) -> tuple[None, int]:
    from mcstudy.bench.baselines.pressure_numpy import simulate_pressure_numpy

    chains = 4096
    tot, _ = simulate_pressure_numpy(
        _chain(case), max(1, n // chains), chains, seed, initial_free=_initial_free(case)
    )
    return None, tot.events


BASELINES: dict[str, Baseline] = {
    b.name: b
    for b in (
        Baseline(
            "python-per-table",
            "gather",
            "pure Python, one step per table (mcstudy.reference.gather)",
            "sequences",
            _python_per_table,
            n0=64,
        ),
        Baseline(
            "python-per-attempt",
            "gather",
            "pure Python, one random() per batch-page attempt",
            "sequences",
            _python_per_attempt,
            n0=1024,
        ),
        Baseline(
            "numpy-per-attempt",
            "gather",
            "NumPy, attempts vectorised over sequences",
            "sequences",
            _numpy_per_attempt,
            n0=1 << 14,
        ),
        Baseline(
            "python-reference",
            "pressure",
            "pure Python Gillespie (mcstudy.reference.pressure); events = Lambda x time",
            "events",
            _python_reference_pressure,
            n0=4096,
        ),
        Baseline(
            "simpy",
            "pressure",
            "SimPy processes: allocator, freer, gatherer, kswapd",
            "events",
            _simpy,
            n0=4096,
            requires="simpy",
        ),
        Baseline(
            "numpy-gillespie",
            "pressure",
            "NumPy, 4096 chains stepped in lockstep (Gillespie)",
            "events",
            _pressure_numpy,
            n0=1 << 16,
        ),
    )
}
