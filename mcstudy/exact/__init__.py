"""Exact and analytic solutions that the simulations are checked against.

Importing this package first imports ``mcstudy.engine``, which points Numba's on-disk
cache at the directory keyed by the kernels' sources: the solvers here hold ``@njit``
code, and Numba picks a function's cache directory when it is decorated, so a process
that imports a solver first must still cache it there (``mcstudy.engine.jitcache``).
"""

import mcstudy.engine  # noqa: F401
