"""Scaling: parallel efficiency over thread counts, and time and memory over sequences.

Time and memory against the number of sequences are measured in fresh subprocesses
(``mcstudy.bench.memprobe``), so that one run's allocations, caches and thread pool
cannot hide another's growth.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from typing import Any

import numpy as np

from mcstudy.bench.cases import BenchCase
from mcstudy.errors import McStudyError


def thread_counts(max_threads: int, quick: bool) -> list[int]:
    """1, the powers of two below ``max_threads`` (all counts up to 8), and ``max_threads``."""
    if quick or max_threads <= 1:
        return sorted({1, max_threads})
    if max_threads <= 8:
        return list(range(1, max_threads + 1))
    return sorted({1 << k for k in range(int(math.log2(max_threads)) + 1)} | {max_threads})


def parallel_efficiency(rate_1: float, rate_t: float, threads: int) -> float:
    """rate with ``threads`` threads / (``threads`` x rate with one thread)."""
    return rate_t / (threads * rate_1)


def sequence_sizes(
    rate: float, decades: tuple[int, ...], max_seconds: float, block_size: int
) -> list[int]:
    """The sizes 10**d (d in ``decades``) expected to run within ``max_seconds`` at ``rate``
    sequences/s; when fewer than two fit, two decades ending at the largest that fits."""
    fits = [10**d for d in decades if 10**d / rate <= max_seconds]
    if len(fits) >= 2:
        return fits
    top = max(block_size, int(10 ** math.floor(math.log10(max(1.0, rate * max_seconds)))))
    return [max(1, top // 10), top]


def probe(jobs: list[dict[str, Any]], timeout: float) -> list[dict[str, Any]]:
    """Run ``jobs`` in one fresh ``python -m mcstudy.bench.memprobe`` process."""
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "mcstudy.bench.memprobe"],
            input=json.dumps(jobs),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        sizes = ", ".join(f"{j['sequences']:.0e}" for j in jobs)
        raise McStudyError(
            f"memory probe ({sizes} sequences) timed out after {timeout:.0f} s"
        ) from None
    if proc.returncode != 0:
        tail = proc.stderr.strip().splitlines()[-1:] or ["(no output)"]
        raise McStudyError(f"memory probe failed with exit status {proc.returncode}: {tail[0]}")
    return json.loads(proc.stdout)


def job(case: BenchCase, sequences: int, threads: int) -> dict[str, Any]:
    return {
        "model": case.model,
        "label": case.label,
        "params": dict(case.params),
        "events_tally": case.events_tally,
        "block_size": case.block_size,
        "sequences": sequences,
        "threads": threads,
    }


def summarise(points: list[dict[str, Any]]) -> dict[str, Any]:
    """Fit time = fixed + per_sequence x sequences, and compare peak-memory growth.

    The fit weights each run by 1 / time**2 (relative errors), so small runs count as
    much as large ones; ``max_relative_residual`` says how far any run is from the line.
    ``rss_growth_difference_bytes`` is the growth of the largest run minus that of the
    smallest: about 0 when memory is flat in the number of sequences.
    """
    pts = sorted(points, key=lambda p: p["sequences"])
    for p in pts:
        p["ns_per_sequence"] = 1e9 * p["seconds"] / p["sequences"]
        p["rss_growth_bytes"] = max(0, p["rss_peak_bytes"] - p["rss_before_bytes"])
    n = np.array([p["sequences"] for p in pts], dtype=np.float64)
    t = np.array([p["seconds"] for p in pts], dtype=np.float64)
    w = 1.0 / np.maximum(t, 1e-9)
    design = np.column_stack([np.ones_like(n), n]) * w[:, None]
    (fixed, per_seq), *_ = np.linalg.lstsq(design, t * w, rcond=None)
    resid = np.abs(fixed + per_seq * n - t) / t
    lo, hi = pts[0], pts[-1]
    return {
        "fit_fixed_seconds": float(fixed),
        "fit_ns_per_sequence": float(per_seq * 1e9),
        "max_relative_residual": float(resid.max()),
        "rss_growth_difference_bytes": hi["rss_growth_bytes"] - lo["rss_growth_bytes"],
        "sequences_ratio": hi["sequences"] / lo["sequences"],
    }
