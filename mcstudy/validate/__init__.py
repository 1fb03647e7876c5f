"""``mcstudy validate``: the coverage self-test of every interval the models report.

* ``cases``    - the validation points of each model, each with exact values
* ``coverage`` - seeded replications of a case and the statistics of its intervals
* ``cli``      - the command
"""
