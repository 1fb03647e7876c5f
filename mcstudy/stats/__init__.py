"""Every estimator and 95 % interval of mcstudy, one module per family.

* ``interval``   - z of a two-sided 95 % interval, normal intervals, unions of intervals
* ``proportion`` - k/n with Wilson's score interval
* ``mean``       - means of per-sequence values with their standard errors
* ``ratio``      - ratios of sums and of independent means (delta method)
* ``poisson``    - Garwood's exact interval for a Poisson rate
* ``quantile``   - quantiles of binned distributions with distribution-free intervals

One convention for "cannot estimate": the value is NaN (never 0), and the result says
why in its ``reason`` (``None`` when it could estimate). Samplers live in
``mcstudy.engine.sampling``; these functions only turn reduced tallies into numbers.
"""
