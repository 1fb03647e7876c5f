"""What to benchmark for each registered model: parameters and what counts as an event.

The list is driven by the model registry (``models.base.builtin_model_names``): a model with a
case in ``CASES`` is measured with it; any other registered model is measured with its
``warmup_params()`` (and its ``events`` integer tally if it has one), so new models are
picked up without editing this package. A case whose parameters no longer validate
falls back the same way, and says so in the results.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from mcstudy.engine.blocks import DEFAULT_BLOCK_SIZE
from mcstudy.models.base import Model
from mcstudy.models.registry import builtin_model_names, get_model, model_names


@dataclass(frozen=True)
class BenchCase:
    """One benchmark point of one model.

    ``events_tally`` names the integer tally counting simulated events (None: the model
    reports none), ``events_unit`` says what one event is; ``baselines`` names entries
    of ``bench.baselines.registry.BASELINES`` written for this model.
    """

    model: str
    label: str
    params: Mapping[str, Any]
    events_tally: str | None
    events_unit: str
    block_size: int = DEFAULT_BLOCK_SIZE
    baselines: tuple[str, ...] = ()
    note: str = ""

    def model_instance(self) -> Model:
        return get_model(self.model)

    def validated_params(self) -> Any:
        return self.model_instance().Params.model_validate(dict(self.params))


GATHER = BenchCase(
    model="gather",
    label="n=513 p=0.01",
    params={"tables_per_gather": 513, "gfp_nowait_fail_p": 0.01},
    events_tally="alloc_attempts",
    events_unit="GFP_NOWAIT batch-page attempts",
    baselines=("python-per-table", "python-per-attempt", "numpy-per-attempt"),
)

PRESSURE = BenchCase(
    model="pressure",
    label="Normal zone of tests/data/proc, alloc x1.1",
    params={  # configs/pressure.toml (calibrated zone), one of its sweep points
        "managed_pages": 5394266,
        "wmark_min": 14769,
        "wmark_low": 20163,
        "wmark_high": 25557,
        "alloc_rate": 10000.0,
        "alloc_scale": 1.1,
        "free_rate": 10000.0,
        "kswapd_rate": 100.0,
        "gather_rate": 50.0,
        "tables_per_gather": 8,
        "initial_free": 25557,
        "warmup_s": 30.0,
        "horizon_s": 30.0,
        "kernel": "v6.15",
    },
    events_tally="events",
    events_unit=(
        "uniformised chain events, warm-up included (kswapd clock ticks while it sleeps "
        "count too: < 0.5 % of events here)"
    ),
    block_size=4,
    baselines=("python-reference", "simpy", "numpy-gillespie"),
    note="a sequence is 30 s warm-up + 30 s counted from the high mark: ~1.3e6 events",
)

THP = BenchCase(
    model="thp",
    label="defaults, horizon 60 s",
    params={"horizon_s": 60.0},
    events_tally=None,
    events_unit="",
    note="the model counts no events: sequences/s only",
)

CASES: dict[str, BenchCase] = {"gather": GATHER, "pressure": PRESSURE, "thp": THP}
"""Known cases by model name (the first is the headline case of that model)."""


def _fallback(name: str, note: str) -> BenchCase:
    model = get_model(name)
    events = "events" if "events" in model.tallies.ints else None
    return BenchCase(
        model=name,
        label="warmup_params",
        params=model.warmup_params(),
        events_tally=events,
        events_unit="events" if events else "",
        note=note,
    )


def bench_cases(models: tuple[str, ...] | None = None) -> list[BenchCase]:
    """The case of every requested (default: every built-in) model, in registry order."""
    known = model_names()
    names = builtin_model_names() if models is None else models
    unknown = [m for m in names if m not in known]
    if unknown:
        raise KeyError(f"unknown model(s) {', '.join(unknown)}; known: {', '.join(known)}")
    out = []
    for name in names:
        case = CASES.get(name)
        if case is None:
            out.append(_fallback(name, "no benchmark case defined: measured at warmup_params()"))
            continue
        try:
            case.validated_params()
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(x) for x in first["loc"])
            out.append(_fallback(name, f"case params invalid ({where}: {first['msg']})"))
            continue
        out.append(case)
    return out
