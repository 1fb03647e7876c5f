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

from collections.abc import Mapping
from typing import Any

import numpy as np

from mcstudy.models.base import Model
from mcstudy.storage.points import running_of
from mcstudy.study import Study
from mcstudy.units import unit_attrs

CHECKPOINT_DIM = "checkpoint"
SEQUENCES = "running_sequences"
VALUE = "running_estimate"
LOW = "running_low"
HIGH = "running_high"
RUNNING_VARS = (SEQUENCES, VALUE, LOW, HIGH)


def running_series(model: Model, body: dict[str, Any]) -> np.ndarray | None:
    """A done record's running main estimate as one array (rows: sequences, estimate,
    low, high; one column per checkpoint), or None when it has none: what a sweep keeps
    of it per point (about 0.5 KB) until the dataset is assembled."""
    run = running_of(body)
    if run is None or run["estimate"] != model.main_key():
        return None
    return np.array([run["sequences"], run["value"], run["low"], run["high"]], dtype=np.float64)


def running_variables(
    study: Study, model: Model, runs: Mapping[int, np.ndarray]
) -> dict[str, tuple[list[str], np.ndarray, dict[str, Any]]]:
    """The ``running_*`` variables of the dataset from each point's
    :func:`running_series` (empty when no point has one)."""
    n = study.n_points
    main = model.main_key()
    k = max((r.shape[1] for r in runs.values()), default=0)
    if k == 0:
        return {}
    seq = np.full((n, k), -1, dtype=np.int64)
    val, low, high = (np.full((n, k), np.nan) for _ in range(3))
    for i, r in runs.items():
        m = r.shape[1]
        seq[i, :m] = r[0].astype(np.int64)
        val[i, :m] = r[1]
        low[i, :m] = r[2]
        high[i, :m] = r[3]
    dims = [*study.sweep, CHECKPOINT_DIM]
    shape = (*study.shape, k)
    cells = model.point_variables()
    units = unit_attrs(cells[main].units if main in cells else "")
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
        VALUE: (dims, val.reshape(shape), {**units, "long_name": what, "estimate": main}),
        LOW: (
            dims,
            low.reshape(shape),
            {**units, "long_name": f"low end of the 95 % interval of {what}"},
        ),
        HIGH: (
            dims,
            high.reshape(shape),
            {**units, "long_name": f"high end of the 95 % interval of {what}"},
        ),
    }
