"""JIT cost: what compiling the kernels adds to a first run, and how fast a run starts
when they are cached.

Per model, ``mcstudy run`` on a tiny config in a fresh process: ``uncached`` with
``NUMBA_CACHE_DIR`` at a new empty directory (every kernel the run needs is compiled),
``cached`` again with that directory, now warm. Each records the wall time, the compile
seconds of the run's provenance (its warm-up), and the seconds from the command's start
to its first committed point. (``--quick`` measures only the cached start of the first
model, against the default cache, which the benchmark process has just filled.)

For the default study (``mcstudy run`` with no config): ``default_compile`` is the
warm-up of every kernel variant its points need, in a fresh process with an empty cache
(full run) or the default one (``--quick``); ``default_first_point`` is the time from
``mcstudy run`` starting to its first committed point with the cache warm, after which
the run is interrupted, and ``first_simulation_seconds`` the time from that start to the
first kernel call of that point (the start-up the user waits for: imports, the study's
checks, the kernels loaded from the cache, the point prepared). The HTML report is off (``--no-report``): it is no JIT cost.
"""

from __future__ import annotations

import datetime as _dt
import itertools
import json
import os
import signal
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
_RUNS = itertools.count()
"""each measured run writes a new output (a repeated measurement never meets the run
directory of the previous one)"""


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


def _environment(cache_dir: Path | None) -> dict[str, str]:
    env = dict(os.environ)
    if cache_dir is not None:
        env["NUMBA_CACHE_DIR"] = str(cache_dir)
    return env


def _first_point(run_dir: Path) -> float | None:
    """Wall-clock time (epoch s) the run's first point file was committed."""
    times = [p.stat().st_mtime for p in (run_dir / "points").glob("point-*.json")]
    return min(times) if times else None


def _first_simulation(run_dir: Path) -> float | None:
    """Wall-clock time (epoch s) the first kernel call of the run's first committed
    point began (its record's ``simulation_started_utc``)."""
    files = sorted((run_dir / "points").glob("point-*.json"), key=lambda p: p.stat().st_mtime)
    if not files:
        return None
    from mcstudy.storage.points import read_point

    try:
        prov = read_point(files[0]).get("provenance") or {}
        stamp = prov.get("simulation_started_utc")
        return None if stamp is None else _dt.datetime.fromisoformat(stamp).timestamp()
    except (McStudyError, OSError, ValueError, AttributeError):
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
    out = workdir / f"{case.model}-{label}-{next(_RUNS)}.nc"
    cmd = [sys.executable, "-m", "mcstudy", "run", str(cfg), "--out", str(out)]
    cmd += RUN_OPTIONS
    started = time.time()
    t0 = time.perf_counter()
    proc = subprocess.run(
        cmd, env=_environment(cache_dir), capture_output=True, text=True, check=False
    )
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["(no output)"]
        raise McStudyError(
            f"benchmark start of model {case.model!r} ({label}) failed "
            f"with exit status {proc.returncode}: {tail[0]}"
        )
    first = _first_point(out.with_suffix(".run"))
    return {
        "model": case.model,
        "mode": label,
        "wall_seconds": wall,
        "compile_seconds": _compile_seconds(out),
        "first_point_seconds": None if first is None else first - started,
        "numba_cache_dir": "fresh temporary" if cache_dir is not None else "default",
        "command": "mcstudy run <tiny config> --out <tmp> " + " ".join(RUN_OPTIONS),
    }


_WARM_DEFAULT = """
import json, time
from mcstudy.study import default_config, load_study
from mcstudy.sweep.task import warm_model
study = load_study(default_config())
params = [p.params for p in study.points()]
t0 = time.perf_counter()
c0 = time.process_time()
warm_model(study.model, params)
print(json.dumps({"seconds": time.perf_counter() - t0, "cpu_seconds": time.process_time() - c0,
                  "config": str(default_config()),
                  "model": study.section.model, "points": study.n_points}))
"""


def measure_default_compile(cache_dir: Path | None, label: str) -> dict[str, Any]:
    """Seconds a fresh process spends compiling (``uncached``) or loading (``cached``) the
    kernel variants of the default study, which ``mcstudy run`` does before its first
    point (the rest of a run is the same with or without the cache)."""
    proc = subprocess.run(
        [sys.executable, "-c", _WARM_DEFAULT],
        env=_environment(cache_dir),
        capture_output=True,
        text=True,
        check=False,
        cwd=Path.cwd(),
    )
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["(no output)"]
        raise McStudyError(f"compiling the default study ({label}) failed: {tail[0]}")
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    return {
        "model": "default study",
        "mode": label,
        "compile_seconds": got["seconds"],
        "compile_cpu_seconds": got["cpu_seconds"],
        "config": got["config"],
        "study_model": got["model"],
        "numba_cache_dir": "fresh temporary" if cache_dir is not None else "default",
    }


def bytecode_cache(env: dict[str, str] | None = None) -> str:
    """Whether a fresh ``mcstudy`` process reads its modules from Python's bytecode cache
    (``__pycache__``) or compiles them from source, which adds about 0.2 s to every start
    (measured on the default study): ``"on"``, or ``"off: ..."`` with the reason."""
    import importlib.util

    import mcstudy.cli

    env = os.environ if env is None else env
    pyc = importlib.util.cache_from_source(mcstudy.cli.__file__)
    if Path(pyc).exists():
        return "on"
    if env.get("PYTHONDONTWRITEBYTECODE"):
        return (
            "off: PYTHONDONTWRITEBYTECODE is set and mcstudy's modules have no bytecode "
            "(every start compiles them from source)"
        )
    return "off: mcstudy's modules have no bytecode yet (a first start writes it)"


def _sigint_default() -> None:
    """In the child: SIGINT's default action (a bench started in the background of a
    shell script inherits SIGINT ignored, and could not then stop the run it measures)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def measure_default_first_point(
    workdir: Path, cache_dir: Path | None, timeout: float = 600.0
) -> dict[str, Any]:
    """Seconds from starting ``mcstudy run`` (the default study, its own config) to its
    first committed point; the run is then interrupted (Ctrl-C) and left unfinished."""
    workdir.mkdir(parents=True, exist_ok=True)
    out = workdir / f"default-{next(_RUNS)}.nc"
    run_dir = out.with_suffix(".run")
    cmd = [sys.executable, "-m", "mcstudy", "run", "--out", str(out), *RUN_OPTIONS]
    started = time.time()
    proc = subprocess.Popen(
        cmd,
        env=_environment(cache_dir),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_sigint_default,  # the bench interrupts it, even from a background job
    )
    first = None
    try:
        while first is None and time.time() - started < timeout and proc.poll() is None:
            time.sleep(0.01)
            first = _first_point(run_dir)
        first = first or _first_point(run_dir)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
        try:
            _, err = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:  # never leave a run behind
            proc.kill()
            _, err = proc.communicate()
    if first is None:
        tail = err.strip().splitlines()[-1:] or ["(no output)"]
        raise McStudyError(f"the default study committed no point: {tail[0]}")
    sim = _first_simulation(run_dir)
    return {
        "model": "default study",
        "mode": "cached",
        "first_simulation_seconds": None if sim is None else sim - started,
        "first_point_seconds": first - started,
        "numba_cache_dir": "fresh temporary" if cache_dir is not None else "default",
        "python_bytecode_cache": bytecode_cache(_environment(cache_dir)),
        "command": "mcstudy run --out <tmp> " + " ".join(RUN_OPTIONS),
    }
