"""Run kernel variants of one model in this process and print their results' digests.

Used by ``test_jitcache.py`` in subprocesses that share (or do not share) a Numba cache
directory: ``python cache_worker.py MODEL I [I ...]`` runs variant ``I`` of
``Model.all_warmup_variants()`` for each ``I`` in order and prints one JSON object
``{I: sha256 of its per-block tallies and exact values}``.
"""

from __future__ import annotations

import hashlib
import json
import sys

import numpy as np


def digest(model_name: str, index: int) -> str:
    """SHA-256 of variant ``index``'s per-block int and float tallies (64 sequences in
    blocks of 16, Philox key of the variant) and of its exact values when it has them."""
    from mcstudy.engine.blocks import BlockPlan
    from mcstudy.models.registry import get_model

    model = get_model(model_name)
    variant = model.all_warmup_variants()[index]
    params = model.Params.model_validate(variant.params)
    prepared = model.prepare(params)
    plan = BlockPlan(sequences=64, block_size=16)
    out_i, out_f = model.simulate(prepared, variant.stream, plan, 0, plan.n_blocks)
    h = hashlib.sha256()
    h.update(np.ascontiguousarray(out_i).tobytes())
    h.update(np.ascontiguousarray(out_f).tobytes())
    if variant.exact:
        h.update(json.dumps(model.exact(params), sort_keys=True, default=repr).encode())
    return h.hexdigest()


def main(argv: list[str]) -> None:
    model_name, indices = argv[0], [int(a) for a in argv[1:]]
    print(json.dumps({i: digest(model_name, i) for i in indices}))


if __name__ == "__main__":
    main(sys.argv[1:])
