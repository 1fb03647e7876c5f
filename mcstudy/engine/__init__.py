"""Keyed random streams, exact samplers, tally layouts and the block plan.

Importing this package points Numba's on-disk cache at a directory keyed by the
kernels' sources (``jitcache``), before any kernel is compiled.
"""

from mcstudy.engine.jitcache import configure as _configure_jit_cache

_configure_jit_cache()
