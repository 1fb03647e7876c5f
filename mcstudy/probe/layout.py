"""Where the probe places its regions among the VMAs of ``/proc/self/maps``.

Both functions take the sorted (start, end) byte ranges of
:func:`mcstudy.probe.procstats.read_maps`. Standard library only (runs in the worker).
"""

from __future__ import annotations


def gap_around(maps: list[tuple[int, int]], start: int, end: int) -> tuple[int, int | None]:
    """(floor, ceiling) that ``free_pgtables()`` passes for unmapping [start, end) (bytes).

    floor = the previous VMA's ``vm_end`` (0 = ``FIRST_USER_ADDRESS`` if none), ceiling
    = the next VMA's ``vm_start`` (None = ``USER_PGTABLES_CEILING``, no VMA above).
    VMAs overlapping [start, end) (the one being unmapped) are skipped.
    """
    floor, ceiling = 0, None
    for s, e in maps:
        if e <= start:
            floor = max(floor, e)
        elif s >= end and (ceiling is None or s < ceiling):
            ceiling = s
    return floor, ceiling


def free_slot(
    maps: list[tuple[int, int]], span: int, low: int, high: int, margin: int
) -> int | None:
    """Lowest ``span``-aligned address s in [low, high) with no VMA in [s - margin, s + span + margin)."""
    s = -(-low // span) * span
    while s + span + margin <= high:
        lo, hi = s - margin, s + span + margin
        if all(e <= lo or b >= hi for b, e in maps):
            return s
        s += span
    return None
