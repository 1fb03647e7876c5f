"""Every estimator and 95 % interval of mcstudy, one module per family.

* ``interval``   - z of a two-sided 95 % interval; Poisson score intervals of non-negative
  means at their effective number of events; Wilson intervals of clustered proportions
* ``proportion`` - k/n with Wilson's score interval
* ``mean``       - means of per-sequence values with their standard errors
* ``ratio``      - ratios of sums and of independent means (delta method)
* ``quantile``   - quantiles: of a count histogram (inverting Wilson intervals), and of a
  mixed Poisson count's stationary law from its time moments
* ``agreement``  - Monte Carlo against exact: one disagreement rule for every model

One convention for "cannot estimate": the value is NaN (never 0), and the result says
why in its ``reason`` (``None`` when it could estimate). Samplers live in
``mcstudy.engine.sampling``; these functions only turn reduced tallies into numbers.
"""
