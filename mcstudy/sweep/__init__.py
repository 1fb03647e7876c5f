"""The sweep: which points run, how one point is computed, and commits as results arrive.

* ``point``       - one point through the block engine (fixed or adaptive precision)
* ``task``        - what a worker does for one point: compute it, return its record
* ``shards``      - ``--shard I/N`` and SLURM array variables
* ``coordinator`` - ``run_sweep`` (run directory, resume, commit) and ``run_study`` (in
  memory)
* ``status``, ``merge`` - ``mcstudy status`` and ``mcstudy merge``
* ``cli``         - the ``run``, ``status``, ``merge`` and ``show`` commands

It sits above ``mcstudy.storage`` (where results go) and ``mcstudy.executors`` (where
points run); neither imports it.
"""
