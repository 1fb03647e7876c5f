"""Performance measurements of mcstudy (``mcstudy bench``).

One run measures, on one machine and in one process (plus a few subprocesses):

* ``limits``: raw draws per second of the project's Philox stream and of Numba's own
  ``np.random.random`` in a tight loop, with 1 thread and with all threads;
* ``throughput``: every registered model's kernel through the block engine
  (sequences/s, simulated events/s, events per generator draw-time);
* ``baselines``: the same model written the way a user would otherwise write it
  (pure Python, NumPy, SimPy) and the kernel's speedup over each;
* ``scaling``: parallel efficiency from 1 to all threads, and time and peak memory
  against the number of sequences (fresh subprocesses);
* ``jitcost``: wall time of ``mcstudy run`` on a tiny config in a fresh process, with an
  empty Numba cache and with a warm one.

Definitions used throughout (also written into the JSON):

* a **draw** is one 32-bit word of the project's generator (``engine.rng.next_u32``);
  the **draw-time** at T threads is 1 / (words per second of the tight ``next_u32`` loop
  running on T threads);
* **events per draw-time** of a model at T threads = (its simulated events per second)
  x (draw-time at T threads) = events/s divided by words/s, both at T threads.
"""
