"""Mechanisms: pieces of kernel behaviour that several models compose (``@njit`` code and
the tables it reads), between the engine (streams, samplers, blocks) and the models.

* ``zone``: the zone pressure chain's one parameter record (``zone.Zone``, ``docs/model.md``
  §4.1), which the pressure model, the host study, the exact solver, the reference
  simulators and the lab all take;
* ``zone_events``, ``zone_tables``: the chain's event rules and uniformised event tables
  (``docs/model.md`` §4.4), built from that record;
* ``rt_ipi``: the sync IPI rounds an isolated RT CPU receives (``docs/model.md``
  §5.6-§5.8);
* ``paths``: pressure episodes, Poisson arrival times and split times of one sequence.

A mechanism imports only ``mcstudy.engine``, ``mcstudy.kernel`` and other mechanisms,
never a model; models import mechanisms, never each other.
"""
