"""Time and peak memory of one run, measured in a fresh process.

Run as ``python -m mcstudy.bench.memprobe`` with a JSON job list on standard input;
prints one JSON list of results. Each job runs a benchmark case for ``sequences``
sequences through the block engine after a warm-up, and reports:

* ``seconds``: wall time of the run;
* ``rss_before_bytes``: resident memory after the warm-up, just before the run;
* ``rss_peak_bytes``: peak resident memory during the run (VmHWM after resetting it
  through /proc/self/clear_refs; where that is not possible, ``ru_maxrss`` of the
  whole process, flagged by ``peak_since_start``);
* ``tracemalloc_peak_bytes``: peak of Python-level allocations (NumPy arrays included;
  Numba's own allocations inside kernels are not traced) in a second, untimed run of
  the same size under tracemalloc, which slows Python-level work several-fold; None
  when the timed run took longer than ``TRACE_MAX_SECONDS``.
"""

from __future__ import annotations

import gc
import json
import resource
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

from mcstudy.kernel.procfs import parse_kb_fields

TRACE_MAX_SECONDS = 5.0
"""runs longer than this are not repeated under tracemalloc"""
_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")


def _status_kib(field: str) -> int | None:
    """A kB field of /proc/self/status (kB; None where the file or the field is missing)."""
    try:
        text = _STATUS.read_text()
    except OSError:
        return None
    return parse_kb_fields(text, str(_STATUS)).get(field)


def _reset_peak() -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0); False where unsupported."""
    try:
        _CLEAR_REFS.write_text("5")
    except OSError:
        return False
    return _status_kib("VmHWM") is not None


def run_job(job: dict[str, Any]) -> dict[str, Any]:
    """Warm up, then time one run of ``job["sequences"]`` sequences and record memory."""
    import numba

    from mcstudy.bench.cases import BenchCase
    from mcstudy.bench.throughput import events_of, run_case

    numba.set_num_threads(int(job["threads"]))
    case = BenchCase(
        model=job["model"],
        label=job["label"],
        params=job["params"],
        events_tally=job["events_tally"],
        events_unit="",
        block_size=int(job["block_size"]),
    )
    case.model_instance().warmup([case.validated_params()])
    run_case(case, min(int(job["sequences"]), case.block_size * 4))  # start the thread pool
    gc.collect()
    exact_peak = _reset_peak()
    rss_before = (_status_kib("VmRSS") or 0) * 1024
    t0 = time.perf_counter()
    tallies = run_case(case, int(job["sequences"]))
    seconds = time.perf_counter() - t0
    if exact_peak:
        peak = (_status_kib("VmHWM") or 0) * 1024
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    traced_peak = None
    if seconds <= TRACE_MAX_SECONDS:
        # a second, traced run: tracemalloc slows Python-level work (so not timed)
        tracemalloc.start()
        run_case(case, int(job["sequences"]))
        _, traced_peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    return {
        "model": case.model,
        "sequences": int(job["sequences"]),
        "threads": int(job["threads"]),
        "events": events_of(case, tallies),
        "seconds": seconds,
        "rss_before_bytes": rss_before,
        "rss_peak_bytes": peak,
        "peak_since_start": not exact_peak,
        "tracemalloc_peak_bytes": traced_peak,
    }


def main() -> None:
    jobs = json.load(sys.stdin)
    results = []
    for job in jobs:
        try:
            results.append(run_job(job))
        except Exception as exc:  # report it for this job; the others still run
            lines = str(exc).strip().splitlines()
            msg = f"{type(exc).__name__}: {lines[0] if lines else ''}"
            results.append({"model": job["model"], "sequences": job["sequences"], "error": msg})
    json.dump(results, sys.stdout)


if __name__ == "__main__":
    main()
