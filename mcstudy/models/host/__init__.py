"""The coupled host study (``model = "host"``, ``docs/model.md`` §11): the zone pressure
chain, the THPs, khugepaged, munmap gathers and an isolated RT CPU in one simulation, the
zone being the only source of allocation failure."""
