"""Golden probe predictions (``tests/golden.py``): the model's answer for each probe phase
on a grid of layouts and kernel profiles. Regenerate only on purpose (--update-golden)."""

from __future__ import annotations

import dataclasses

from mcstudy.kernel.profiles import get_profile
from mcstudy.probe.predict import (
    broadcast_per_other_cpu,
    collapse_sync_rounds,
    match_profile,
    munmap_prediction,
    split_tables_freed,
    tables_in_fresh_slot,
)
from tests.golden import check_golden

MIB = 1 << 20
SLOT = 1 << 40
PROFILES = ("v6.3-baremetal", "v6.3-kvm-pv", "v6.14-pt-reclaim", "v6.15")
KERNELS = [
    ("6.18.44", "x86_64", {"CONFIG_PT_RECLAIM": "y"}, True),
    ("6.16.1", "x86_64", None, False),
    ("6.16.1", "x86_64", {"CONFIG_PT_RECLAIM": "n"}, False),
    ("6.5.0", "x86_64", None, True),
    ("6.3.0", "x86_64", None, False),
    ("6.1.0", "x86_64", {"CONFIG_MMU_GATHER_RCU_TABLE_FREE": "n"}, False),
    ("6.8.0", "aarch64", None, False),
    ("7.0.0", "aarch64", {"CONFIG_PT_RECLAIM": "y"}, False),
]


def predictions() -> dict:
    out: dict = {"munmap": [], "collapse": [], "profiles": [], "slots": [], "split": []}
    for profile in PROFILES:
        for size, offset in ((64 * MIB, MIB), (3 * MIB, 4096), (1536 * MIB, 0)):
            for neighbours in ("isolated", "adjacent"):
                start = SLOT + offset
                end = start + size
                floor, ceiling = (0, None) if neighbours == "isolated" else (start, end)
                p = munmap_prediction(
                    size, offset, neighbours, start, end, floor, ceiling, profile, 4
                )
                out["munmap"].append([profile, size, offset, neighbours, dataclasses.asdict(p)])
        for policy in ("sync_ipi", "fresh_table", "rcu_free"):
            for p in (0.0, 0.25, 1.0):
                rounds = collapse_sync_rounds(policy, get_profile(profile), p)
                out["collapse"].append([profile, policy, p, rounds])
    for release, machine, config, hyp in KERNELS:
        m = match_profile(release, machine, config, "/proc/config.gz", hyp)
        out["profiles"].append([release, machine, m.name, list(m.basis), list(m.caveats)])
    for start, end in ((SLOT, SLOT + 512 * MIB), (SLOT + MIB, SLOT + 65 * MIB)):
        out["slots"].append(dataclasses.asdict(tables_in_fresh_slot(start, end)))
    out["split"] = [split_tables_freed(SLOT + MIB, SLOT + MIB + 4096)]
    out["broadcast"] = [broadcast_per_other_cpu(c) for c in (2, 4, 64)]
    return out


def test_probe_predictions_golden(update_golden):
    case = {"profiles": list(PROFILES), "kernels": [list(k[:2]) for k in KERNELS]}
    check_golden("probe_predictions", case, {"predictions": predictions()}, update_golden)
