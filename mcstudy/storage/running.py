"""The running main estimate of every point, as dataset variables.

Each done point records its ``main_estimate`` and 95 % interval after every checkpoint
(``mcstudy.engine.blocks.is_checkpoint``: 1, 2, 3, 4, 6, 8, 11, 16, ... blocks, and its
last block). The dataset holds them along one extra dimension, ``checkpoint``:

* ``running_sequences`` (int64): sequences done at the checkpoint, -1 past a point's last;
* ``running_estimate``, ``running_low``, ``running_high`` (float64, NaN past the last):
  the estimate and its 95 % interval on those sequences, which are the first sequences of
  the stored run (blocks are keyed), so the curve is the path the stored estimate took.

The report's Convergence section draws these and never re-runs a kernel. Cost: 32 bytes
per checkpoint and point (12 checkpoints up to 64 blocks, 40 up to a million).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mcstudy.models.base import Model
from mcstudy.storage.points import running_of
from mcstudy.study import Study

CHECKPOINT_DIM = "checkpoint"
SEQUENCES = "running_sequences"
VALUE = "running_estimate"
LOW = "running_low"
HIGH = "running_high"
RUNNING_VARS = (SEQUENCES, VALUE, LOW, HIGH)


def running_variables(
    study: Study, model: Model, records: dict[int, dict[str, Any]]
) -> dict[str, tuple[list[str], np.ndarray, dict[str, Any]]]:
    """The ``running_*`` variables of the dataset (empty when no record has them)."""
    n = study.n_points
    main = model.main_estimate
    runs: list[dict[str, Any] | None] = []
    for i in range(n):
        run = running_of(records[i]) if i in records else None
        runs.append(run if run is not None and run["estimate"] == main else None)
    k = max((len(r["sequences"]) for r in runs if r is not None), default=0)
    if k == 0:
        return {}
    seq = np.full((n, k), -1, dtype=np.int64)
    val, low, high = (np.full((n, k), np.nan) for _ in range(3))
    for i, r in enumerate(runs):
        if r is None:
            continue
        m = len(r["sequences"])
        seq[i, :m] = r["sequences"]
        val[i, :m] = r["value"]
        low[i, :m] = r["low"]
        high[i, :m] = r["high"]
    dims = [*study.sweep, CHECKPOINT_DIM]
    shape = (*study.shape, k)
    units = model.variables[main].units if main in model.variables else ""
    what = f"{main} on the first running_sequences sequences of the point (its running estimate)"
    return {
        SEQUENCES: (
            dims,
            seq.reshape(shape),
            {
                "units": "1",
                "long_name": "sequences done at the checkpoint",
                "missing_value_note": "-1 past the point's last checkpoint",
            },
        ),
        VALUE: (dims, val.reshape(shape), {"units": units, "long_name": what, "estimate": main}),
        LOW: (
            dims,
            low.reshape(shape),
            {"units": units, "long_name": f"low end of the 95 % interval of {what}"},
        ),
        HIGH: (
            dims,
            high.reshape(shape),
            {"units": units, "long_name": f"high end of the 95 % interval of {what}"},
        ),
    }
