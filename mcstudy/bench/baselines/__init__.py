"""What a user would write instead of mcstudy's kernels, for speed comparisons only.

Every baseline simulates the same model as its kernel and returns the same tallies, so
tests can check it against the exact values before its speed is trusted:

* ``gather_python``: per-attempt pure-Python loop (the per-table loop is
  ``mcstudy.reference.gather``);
* ``gather_numpy``: per-attempt NumPy, vectorised over sequences;
* ``pressure_simpy``: a SimPy process model of the reference pressure chain
  (docs/model.md §4.1);
* ``pressure_numpy``: the same chain, many independent copies stepped in lockstep
  with NumPy (Gillespie).
"""
