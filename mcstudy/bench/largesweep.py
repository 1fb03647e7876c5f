"""Peak memory of the commands that read a large sweep, measured on fake point files.

``python -m mcstudy.bench.largesweep --points 100000 --dir DIR`` builds, in ``DIR``, the
run directory of a gather study of that many points (a 100 x N sweep of
``gfp_nowait_fail_p`` and ``tables_per_gather``) from one computed point (the last,
whose estimates are not 0): every point file is that record with its own index, coordinates and Philox key, checksummed like a
real one (it passes every check of ``mcstudy status``). It then runs, each in a fresh
process, ``mcstudy merge`` (assembly of the dataset), ``mcstudy status``, ``mcstudy
show`` and ``mcstudy report`` of the result, and ``mcstudy run --resume`` (every point
done: the run reads them all, then assembles and writes the dataset), and prints one
JSON document: for each
command its wall time and peak resident memory (``ru_maxrss`` of that child, from
``wait4``), in bytes and per point. The files are reused when ``DIR`` already holds
them. Nothing is timed against a limit here: the numbers are for the benchmark record
(``benchmarks/test_large_sweep.py``) and the bound of ``mcstudy.study.POINT_BASE_BYTES``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

FAIL_P = [round(1e-3 * (k + 1), 6) for k in range(100)]
"""The first sweep axis (100 values); the second, ``tables_per_gather``, is 1..N/100."""
COMMANDS = ("resume", "merge", "status", "show", "report")


def config_text(n_points: int) -> str:
    """A gather study of ``n_points`` points (a multiple of 100)."""
    if n_points % 100 or n_points < 100:
        raise ValueError("--points must be a positive multiple of 100")
    tables = ", ".join(str(t) for t in range(1, n_points // 100 + 1))
    return f"""# {n_points} points of fake results: mcstudy.bench.largesweep
[study]
name = "large"
model = "gather"
seed = 1
sequences = 64

[params]
kernel = "v6.15"

[sweep]
gfp_nowait_fail_p = {json.dumps(FAIL_P)}
tables_per_gather = [{tables}]
"""


def build(directory: Path, n_points: int) -> tuple[Path, Path]:
    """The config and the run directory of a fake ``n_points`` study in ``directory``
    (made unless they are there already)."""
    from mcstudy.engine.rng import stream_key
    from mcstudy.storage.points import encode_mapping, write_point
    from mcstudy.storage.rundir import RunDir
    from mcstudy.study import load_study
    from mcstudy.sweep.point import point_code_version
    from mcstudy.sweep.task import PointTask, compute_point

    directory.mkdir(parents=True, exist_ok=True)
    cfg = directory / f"large-{n_points}.toml"
    run_dir = directory / f"large-{n_points}.run"
    if (run_dir / "points" / f"point-{n_points - 1:07d}.json").exists():
        return cfg, run_dir
    cfg.write_text(config_text(n_points))
    study = load_study(cfg, max_points=n_points)
    model = study.model
    rd = RunDir(run_dir)
    rd.create(study, point_code_version(model), f"large-{n_points}.nc")
    # the last point (the largest p and gather): its estimates are not 0, so the
    # reports and answers of the copies take the paths of a real sweep's
    template = compute_point(PointTask(study, model, study.point(n_points - 1), 1, "local"))
    keys = list(study.sweep)
    seed = study.section.seed
    for index, values in enumerate(_product(study.sweep)):
        body = dict(template)
        body["point"] = index
        body["coords"] = encode_mapping(dict(zip(keys, values, strict=True)))
        body["stream_key"] = list(stream_key(seed, index))
        write_point(rd.points_dir, body)
    return cfg, run_dir


def _product(sweep: dict[str, list[Any]]):
    import itertools

    return itertools.product(*sweep.values())


def measure(args: list[str], cwd: Path) -> dict[str, Any]:
    """Wall time, exit status and peak RSS (bytes) of ``python -m mcstudy ARGS``."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "mcstudy", *args],
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - t0
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    proc.returncode = os.waitstatus_to_exitcode(status)
    return {
        "command": "mcstudy " + " ".join(args),
        "exit_status": proc.returncode,
        "seconds": seconds,
        "rss_peak_bytes": usage.ru_maxrss * 1024,
        "stderr_tail": err.strip().splitlines()[-1:] if proc.returncode else [],
    }


def run(directory: Path, n_points: int, commands: tuple[str, ...] = COMMANDS) -> dict[str, Any]:
    """Build (or reuse) the fake study and measure each command; the JSON document."""
    t0 = time.perf_counter()
    cfg, run_dir = build(directory, n_points)
    built = time.perf_counter() - t0
    dataset = run_dir.with_suffix(".nc")
    argv = {
        "resume": [
            *("run", str(cfg), "--out", str(dataset), "--resume", "--no-report", "--quiet"),
            *("--max-points", str(n_points)),
        ],
        "merge": ["merge", str(run_dir)],
        "status": ["status", str(run_dir)],
        "show": ["show", str(dataset)],
        "report": ["report", str(dataset), "-o", str(run_dir.with_suffix(".html"))],
    }
    results = {}
    for name in commands:
        got = measure(argv[name], directory)
        got["rss_peak_bytes_per_point"] = got["rss_peak_bytes"] / n_points
        results[name] = got
    return {
        "points": n_points,
        "model": "gather",
        "build_seconds": built,
        "commands": results,
        "definition": "peak RSS: ru_maxrss of the command's process (wait4), the whole "
        "process including the interpreter and its libraries",
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--points", type=int, default=100_000)
    parser.add_argument("--dir", type=Path, required=True)
    parser.add_argument("--commands", default=",".join(COMMANDS))
    opts = parser.parse_args(argv)
    commands = tuple(c for c in opts.commands.split(",") if c)
    print(json.dumps(run(opts.dir, opts.points, commands), indent=1))


if __name__ == "__main__":
    main()
