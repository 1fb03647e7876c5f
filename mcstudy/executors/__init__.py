"""Where points run: map a point function over tasks, on this machine or a Dask cluster.

* ``base``    - the executor interface and ``TaskLost`` (a task no worker could finish)
* ``threads`` - cores available, Numba/BLAS thread limits of worker processes
* ``local``   - this process, or spawned worker processes on this machine
* ``dask``    - a Dask distributed cluster (a ``LocalCluster``, or one started by
  dask-jobqueue's ``SLURMCluster``)

Executors know nothing of studies, run directories or records: the sweep coordinator
(``mcstudy.sweep``) hands them a picklable function and its tasks and commits what comes
back. This package's ``__init__`` imports nothing, so a spawned worker can set its
thread limits before Numba is imported.
"""
