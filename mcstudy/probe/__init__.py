"""Live-kernel probe: measure page-table deposits, splits, collapse IPIs and munmap frees.

``mcstudy probe`` runs controlled experiments on the running Linux kernel in a fresh,
single-threaded worker process pinned to one CPU (``worker``/``phases``, standard
library only), reads ``/proc`` before and after each phase (``procstats``), subtracts
background measured in no-work windows of the same length (``noise``), and holds every
measurement against the model's prediction (``predict``, ``checks``). Results go to an
xarray dataset (``dataset``), a text table (``table``) and a report section
(``section``).

Importing this package imports nothing heavy: the worker process must stay free of
numpy/Numba threads and allocations.
"""
