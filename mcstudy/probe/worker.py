"""The probe's worker process: ``python -m mcstudy.probe.worker`` (JSON in, JSON out).

Started by :mod:`mcstudy.probe.runner` already pinned to the probe CPU, so its fresh mm
has never run anywhere else (``mm_cpumask`` holds that CPU only) and it has one
thread: the IPIs the other CPUs receive during a phase come from the phase or from the
background, never from a sibling thread. It imports the standard library, the probe's
stdlib-only modules and ``mcstudy.kernel.procfs`` (the /proc parsers, stdlib only),
nothing else (no numpy/Numba threads, no allocator noise).

stdin: ``{"cpu", "thps", "baselines", "munmap_bytes", "munmap_offset", "thp_mode"}``.
stdout: ``{"ok": true, ...raw measurements...}`` or ``{"ok": false, "error": "..."}``.
"""

from __future__ import annotations

import gc
import json
import os
import sys

from mcstudy.errors import McStudyError
from mcstudy.probe.phases import run_phases


def main() -> int:
    cfg = json.loads(sys.stdin.read())
    gc.disable()  # no collector runs (and arena frees) inside a measurement window
    try:
        cpu = int(cfg["cpu"])
        if os.sched_getaffinity(0) != {cpu}:
            os.sched_setaffinity(0, {cpu})
        out = {"ok": True, "cpu": cpu, **run_phases(cfg)}
    except McStudyError as exc:  # ProbeError, or ProcFormatError of a malformed /proc file
        out = {"ok": False, "error": str(exc)}
    except OSError as exc:
        out = {"ok": False, "error": f"probe step failed: {exc}"}
    sys.stdout.write(json.dumps(out))
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
