"""Sweeps at scale: point-level execution, resume, shards, local processes and Dask.

A sweep is the ordered table of points of a study (``Study.points()``). Each point is
computed on its own, with random streams keyed by (study seed, point index), by an
executor (``local``: this process or spawned worker processes; ``dask``: a Dask
distributed cluster), and committed as one checksummed JSON file in the run directory
(``<dataset stem>.run/points/``). The final dataset is assembled from those files only.

Modules, one job each:

* ``threads``  - cores available, Numba/BLAS thread limits of worker processes
* ``checked``  - JSON files with a SHA-256 header, written atomically
* ``points``   - the per-point record (values, tallies, provenance), encode/decode/verify
* ``version``  - the code version that results of a model depend on
* ``rundir``   - the run directory: study.json, points/, quarantine/, scanning
* ``manifest`` - the manifest (status, seed, timings, host of every point)
* ``shards``   - ``--shard I/N`` and SLURM array variables
* ``worker``   - the task a worker runs for one point
* ``local``, ``dask`` - the executors
* ``sweep``    - the coordinator: what to run, commit as results arrive
* ``assemble`` - point files -> the final dataset (``point_status``, provenance)

This package's ``__init__`` imports nothing heavy, so a spawned worker can set its
thread limits before Numba is imported.
"""
