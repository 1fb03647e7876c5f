"""JIT cost: wall time of ``mcstudy run`` on a tiny config in a fresh process.

``uncached``: ``NUMBA_CACHE_DIR`` points at a new empty directory, so every kernel the
run needs is compiled. ``cached``: the same command again with that directory, now
warm. (In ``--quick`` mode only the cached start is measured, against Numba's default
cache, which the benchmark process itself has just filled.) The compile seconds that
the run records in its provenance (the model's warm-up) are reported beside the wall
time, which also includes interpreter start, imports and writing the output; the HTML
report is switched off (``--no-report``), as it is no JIT cost.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from mcstudy.bench.cases import BenchCase
from mcstudy.errors import McStudyError

TINY_SEQUENCES = 1000
RUN_OPTIONS = ["--quiet", "--no-report"]
"""options of the measured ``mcstudy run``: no progress bar, no HTML report (not JIT)"""


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)
    raise TypeError(f"cannot write {v!r} to a TOML config")


def tiny_config(case: BenchCase, sequences: int | None = None) -> str:
    """A one-point study of ``case`` (TOML text): ``sequences`` sequences, by default
    ``TINY_SEQUENCES`` or one block of the case, whichever is fewer (a pressure
    sequence is a million events: the run itself must cost next to nothing)."""
    if sequences is None:
        sequences = min(TINY_SEQUENCES, case.block_size)
    lines = [
        "[study]",
        f'name = "bench-jit-{case.model}"',
        f'model = "{case.model}"',
        "seed = 1",
        f"sequences = {sequences}",
        f"block_size = {min(case.block_size, sequences)}",
        "",
        "[params]",
    ]
    lines += [f"{k} = {_toml_value(v)}" for k, v in case.params.items()]
    return "\n".join(lines) + "\n"


def _compile_seconds(out: Path) -> float | None:
    try:
        from mcstudy.storage.dataset import open_dataset

        ds = open_dataset(out)
        prov = json.loads(ds.attrs["provenance"])
        ds.close()
        value = prov.get("compile_seconds")
        return None if value is None else float(value)
    except (McStudyError, OSError, KeyError, ValueError):
        return None


def measure_start(
    case: BenchCase, workdir: Path, cache_dir: Path | None, label: str
) -> dict[str, Any]:
    """Run ``mcstudy run`` on the tiny config of ``case`` in a fresh process.

    ``cache_dir`` None keeps the environment's Numba cache location.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    cfg = workdir / f"{case.model}.toml"
    cfg.write_text(tiny_config(case))
    out = workdir / f"{case.model}-{label}.nc"
    env = dict(os.environ)
    if cache_dir is not None:
        env["NUMBA_CACHE_DIR"] = str(cache_dir)
    cmd = [sys.executable, "-m", "mcstudy", "run", str(cfg), "--out", str(out)]
    cmd += RUN_OPTIONS
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["(no output)"]
        raise McStudyError(
            f"benchmark start of model {case.model!r} ({label}) failed "
            f"with exit status {proc.returncode}: {tail[0]}"
        )
    return {
        "model": case.model,
        "mode": label,
        "wall_seconds": wall,
        "compile_seconds": _compile_seconds(out),
        "numba_cache_dir": "fresh temporary" if cache_dir is not None else "default",
        "command": "mcstudy run <tiny config> --out <tmp> " + " ".join(RUN_OPTIONS),
    }
