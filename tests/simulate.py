"""Run one model on one parameter set through the block engine (shared by model tests)."""

from __future__ import annotations

from mcstudy.engine.blocks import BlockPlan, run_blocks
from mcstudy.engine.rng import stream_key
from mcstudy.models.registry import get_model


def simulate_model(
    model_name: str, params: dict, sequences: int, seed: int, point: int, block_size: int
):
    """(tallies, estimates, exact values) of ``sequences`` sequences keyed by (seed, point)."""
    model = get_model(model_name)
    p = model.Params.model_validate(params)
    prepared = model.prepare(p)
    plan = BlockPlan(sequences, block_size)
    key = stream_key(seed, point)
    tallies = run_blocks(
        lambda f, n: model.simulate(prepared, key, plan, f, n),
        plan,
        model.tallies,
    )
    return tallies, model.estimates(prepared, tallies), model.exact(p)
