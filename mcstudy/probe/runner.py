"""Start the pinned worker process and collect its raw measurements.

The worker is a fresh interpreter (``python -m mcstudy.probe.worker``) forked from this
thread while the thread is pinned to the probe CPU; the affinity is inherited through
fork and exec, so the worker's new mm starts on, and never leaves, that CPU. The
caller's affinity is restored at once.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import mcstudy
from mcstudy.probe.errors import ProbeError
from mcstudy.probe.host import HostFacts, ProbeRequest, probe_cpu

WORKER_TIMEOUT_S = 900.0


def run_worker(
    facts: HostFacts, req: ProbeRequest, timeout_s: float = WORKER_TIMEOUT_S
) -> dict[str, Any]:
    """Run every phase in the worker; its JSON result (ProbeError if it could not)."""
    cpu = probe_cpu(facts, req)
    cfg = {
        "cpu": cpu,
        "thps": req.thps,
        "baselines": req.baselines,
        "munmap_bytes": req.munmap_bytes,
        "munmap_offset": req.munmap_offset,
        "thp_mode": facts.thp_mode,
    }
    env = dict(os.environ)
    root = str(Path(mcstudy.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    old = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {cpu})
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "mcstudy.probe.worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
    finally:
        os.sched_setaffinity(0, old)
    try:
        out, err = proc.communicate(json.dumps(cfg), timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise ProbeError(f"the probe worker did not finish within {timeout_s:.0f} s") from None
    if proc.returncode != 0 or not out.strip():
        last = err.strip().splitlines()[-1] if err.strip() else "no message"
        raise ProbeError(f"the probe worker failed (exit status {proc.returncode}): {last}")
    try:
        data = json.loads(out)
    except ValueError:
        raise ProbeError("the probe worker wrote an unreadable result") from None
    if not data.get("ok"):
        raise ProbeError(data.get("error", "the probe worker failed"))
    return data
