"""The child process of the host study's warm-up (``HostModel.run_warmups``).

``python -m mcstudy.models.host.warm [--level-recursion]`` compiles the zone's path
(``zone.zone_path``, for the argument types ``host_block`` passes it), the THP exact
solver and, if asked, the exact level recursion, into Numba's cache, while the parent compiles the per-sequence
consumers (``kernels.sequence_consumers``); the parent then compiles ``host_block``,
whose callees Numba loads (``mcstudy.engine.beside``).
"""

from __future__ import annotations

import sys

from mcstudy.engine import beside
from mcstudy.exact.warm import compile_level_recursion
from mcstudy.models.host import kernels as KH
from mcstudy.models.host.model import RECURSION, HostModel


def main(argv: list[str]) -> int:
    """Compile the zone path (and the recursion with ``RECURSION``)."""
    beside.watch_parent()
    model = HostModel()
    params = model.Params.model_validate(model.warmup_params())
    prepared = model.prepare(params)
    KH.compile_zone_path(prepared.zone, prepared.arrays)
    model.exact(params)  # the THP exact solver (exact/thp.py)
    if RECURSION in argv:
        compile_level_recursion()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
