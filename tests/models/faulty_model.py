"""A gather model that fails, dies or sleeps on request: fault injection for executor tests.

Test-only. The switches are environment variables (inherited by spawned worker processes
and by Dask workers started after they are set), so the same config can fail in one run
and succeed when retried, with the same config hash:

* ``MCSTUDY_TEST_FAIL_TABLES``: comma-separated ``tables_per_gather`` values whose points
  raise ``RuntimeError``;
* ``MCSTUDY_TEST_DIE_TABLES``: values whose points kill their worker process (os._exit);
* ``MCSTUDY_TEST_SLEEP``: seconds every point sleeps before simulating.
"""

from __future__ import annotations

import os
import time

from mcstudy.models.gather.model import GatherModel
from mcstudy.models.gather.params import GatherParams
from mcstudy.models.registry import register

FAIL_ENV = "MCSTUDY_TEST_FAIL_TABLES"
DIE_ENV = "MCSTUDY_TEST_DIE_TABLES"
SLEEP_ENV = "MCSTUDY_TEST_SLEEP"
NAME = "test-faulty-gather"


def _listed(env: str, value: int | None) -> bool:
    raw = os.environ.get(env, "")
    return value is not None and str(value) in {x.strip() for x in raw.split(",") if x.strip()}


@register
class FaultyGatherModel(GatherModel):
    """The gather model, plus injected failures (see the module docstring)."""

    name = NAME

    def prepare(self, params: GatherParams):
        if _listed(DIE_ENV, params.tables_per_gather):
            os._exit(17)
        if _listed(FAIL_ENV, params.tables_per_gather):
            raise RuntimeError(f"injected failure at tables_per_gather={params.tables_per_gather}")
        delay = float(os.environ.get(SLEEP_ENV, "0") or 0)
        if delay > 0:
            time.sleep(delay)
        return super().prepare(params)
