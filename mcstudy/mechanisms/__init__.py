"""Mechanisms: pieces of kernel behaviour that several models compose (``@njit`` code and
the tables it reads), between the engine (streams, samplers, blocks) and the models.

* ``zone_events``, ``zone_tables``: the zone pressure chain (``docs/model.md`` §4.1,
  §4.4), its event rules and uniformised event tables, built from one record
  (``zone_tables.ZoneRates``);
* ``rt_ipi``: the sync IPI rounds an isolated RT CPU receives (``docs/model.md``
  §5.6-§5.8);
* ``paths``: pressure episodes, Poisson arrival times and split times of one sequence.

A mechanism imports only ``mcstudy.engine``, ``mcstudy.kernel`` and other mechanisms,
never a model; models import mechanisms, never each other.
"""
