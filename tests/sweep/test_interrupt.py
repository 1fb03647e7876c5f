"""Ctrl-C: SIGINT to the whole process group (what a terminal sends) stops a run within a
few seconds in every executor, commits nothing more and no point as failed, prints one
line saying how to resume and exits 130; ``--resume`` then gives the uninterrupted
result bit for bit. Progress output suits logs."""

from __future__ import annotations

import io
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from mcstudy.cli import main
from mcstudy.storage.dataset import open_dataset
from mcstudy.sweep.progress import CompileNotice, SweepProgress
from tests.paths import REPO
from tests.sweep.helpers import assert_same_results

# six points of about a second each on one thread (a Numba kernel most of the time)
LONG = """
[study]
name = "long"
model = "gather"
seed = 2024
sequences = 120_000
block_size = 4096

[params]
kernel = "v6.15"
ipi_policy = "kernel_mode"

[sweep]
gfp_nowait_fail_p = [0.5, 0.6]
tables_per_gather = [50000, 100000, 200000]
"""


def _env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env.update(extra)
    return env


def _as_under_a_terminal() -> None:
    """In the child: SIGINT's default action, as a terminal's foreground command has it
    (a test run in the background of a shell script inherits SIGINT ignored, which
    mcstudy rightly respects: its Ctrl-C is not meant for it)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _start(args: list[str], **env: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "mcstudy", "run", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(**env),
        start_new_session=True,  # its own process group, as under a terminal
        preexec_fn=_as_under_a_terminal,
    )


def _points(run_dir: Path) -> int:
    return len(list((run_dir / "points").glob("point-*.json"))) if run_dir.is_dir() else 0


def _wait_for_points(proc: subprocess.Popen, run_dir: Path, n: int, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while _points(run_dir) < n and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert proc.poll() is None, f"the run ended before the interrupt: {proc.communicate()}"


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("long")
    cfg = tmp / "long.toml"
    cfg.write_text(LONG)
    out = tmp / "reference.nc"
    res = CliRunner().invoke(main, ["run", str(cfg), "--out", str(out), "--quiet", "--no-report"])
    assert res.exit_code == 0, res.output
    return cfg, open_dataset(out)


EXECUTORS = {
    "local-1-process": ["--threads", "1"],
    "local-2-processes": ["--workers", "2", "--threads", "1"],
    "dask": ["--executor", "dask", "--workers", "2", "--threads", "1"],
}


@pytest.mark.slow
@pytest.mark.parametrize("executor", list(EXECUTORS))
def test_ctrl_c_stops_at_once_and_resume_is_bit_identical(tmp_path, reference, executor):
    cfg, ref = reference
    out = tmp_path / "x.nc"
    args = [str(cfg), "--out", str(out), "--no-report", *EXECUTORS[executor]]
    proc = _start(args)
    _wait_for_points(proc, tmp_path / "x.run", 1)
    time.sleep(0.3)  # inside the next point's kernel
    os.killpg(proc.pid, signal.SIGINT)
    t0 = time.monotonic()
    _, err = proc.communicate(timeout=60)
    latency = time.monotonic() - t0
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "Error" not in err, err
    line = [x for x in err.splitlines() if "interrupted" in x]
    assert len(line) == 1 and "continue with: mcstudy run" in line[0] and "--resume" in line[0]
    assert latency < 10.0, latency  # typically 1-2 s on an idle 2-core machine
    kept = _points(tmp_path / "x.run")
    assert 1 <= kept < 6
    st = CliRunner().invoke(main, ["status", str(out)])
    assert "0 failed" in st.output, st.output  # the point in flight was never recorded
    assert not out.exists()
    res = CliRunner().invoke(
        main, ["run", *args[: -len(EXECUTORS[executor])], "--resume", "--quiet"]
    )
    assert res.exit_code == 0, res.output
    assert f"{6 - kept} computed, {kept} kept" in res.output
    assert_same_results(ref, open_dataset(out))


@pytest.mark.slow
def test_ctrl_c_while_compiling_and_a_second_ctrl_c(tmp_path, reference):
    cfg, _ = reference
    out = tmp_path / "x.nc"
    # an empty Numba cache: the kernels compile for many seconds
    proc = _start(
        [str(cfg), "--out", str(out), "--no-report"], NUMBA_CACHE_DIR=str(tmp_path / "nc")
    )
    deadline = time.monotonic() + 120
    while not (tmp_path / "x.run").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(1.5)
    os.killpg(proc.pid, signal.SIGINT)
    t0 = time.monotonic()
    time.sleep(0.05)
    try:
        os.killpg(proc.pid, signal.SIGINT)  # the second: at once, whatever the first does
    except ProcessLookupError:
        pass
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert time.monotonic() - t0 < 10.0
    assert "Traceback" not in err and _points(tmp_path / "x.run") == 0


def test_progress_in_a_log_is_plain_lines():
    log = io.StringIO()
    bar = SweepProgress(5, "study", stream=log, interval=0.0)
    for _ in range(5):
        bar.update()
    bar.close()
    text = log.getvalue()
    assert "\r" not in text
    lines = text.splitlines()
    assert lines[0].startswith("study: 1/5 points (20 %)") and "left" in lines[0]
    assert lines[-1].startswith("study: 5/5 points (100 %)")
    quiet = io.StringIO()
    with SweepProgress(5, "study", stream=quiet, interval=3600.0) as bar:
        bar.update(5)
    assert quiet.getvalue().count("\n") == 1  # only the final line


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_compile_notice_says_so_with_a_timer():
    tty = _Tty()
    notice = CompileNotice(True, tty)
    notice.tick(0.5)
    assert tty.getvalue() == ""  # a cached start shows nothing
    for s in (1.2, 1.7, 2.1, 3.0):
        notice.tick(s)
    notice.done(3.2)
    assert "\rcompiling kernels (first run only; cached for later runs): 1 s" in tty.getvalue()
    assert ": 3 s" in tty.getvalue() and "compiled kernels in 3.2 s" in tty.getvalue()
    log = io.StringIO()
    notice = CompileNotice(True, log)
    for s in (1.2, 5.0, 9.0):
        notice.tick(s)
    notice.done(9.5)
    assert log.getvalue().splitlines() == [
        "compiling kernels (first run only; cached for later runs) ...",
        "compiled kernels in 9.5 s",
    ]


@pytest.mark.slow
def test_a_run_in_a_log_prints_lines_not_carriage_returns(tmp_path):
    from tests.sweep.helpers import write_config

    cfg = write_config(tmp_path)
    cmd = [sys.executable, "-m", "mcstudy", "run", str(cfg), "--out", str(tmp_path / "x.nc")]
    res = subprocess.run(
        [*cmd, "--no-report"],
        capture_output=True,
        text=True,
        env=_env(MCSTUDY_PROGRESS_SECONDS="0.001"),
        timeout=300,
    )
    assert res.returncode == 0, res.stderr
    assert "\r" not in res.stderr
    assert "small: 6/6 points (100 %)" in res.stderr


def _block_sigint() -> None:
    _as_under_a_terminal()
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})


def _sigint_at(args: list[str], offset: float, blocked: bool = True) -> tuple[int, str, str]:
    """Run ``python -m mcstudy ARGS`` with SIGINT sent ``offset`` s after the start; its
    (status, stdout, stderr). With ``blocked`` the child starts with SIGINT blocked, so a
    signal sent while Python itself starts (the first tens of milliseconds, before any
    mcstudy code) waits for mcstudy's first line, which unblocks it, instead of meeting
    the interpreter's default handler: every offset lands on mcstudy code."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "mcstudy", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
        preexec_fn=_block_sigint if blocked else _as_under_a_terminal,
    )
    try:
        out, err = proc.communicate(timeout=offset)  # (ends early if the command does)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=300)
    return proc.returncode, out, err


def _assert_interrupted_or_done(status: int, out: str, err: str, resume: str | None) -> bool:
    """130, no traceback, one line saying so (with the command that continues a run);
    or, for a signal that came after the work, the command's own status 0. True if
    interrupted."""
    assert "Traceback" not in err and "Error" not in err, err
    if status == 0:
        assert "wrote " in out or "points:" in out, (out, err)
        return False
    assert status == 130, (status, err)
    lines = [x for x in err.splitlines() if x.startswith("mcstudy: interrupted")]
    assert len(lines) == 1, err
    if resume is not None:
        assert lines[0].endswith(f"; continue with: {resume}"), lines[0]
    return True


def test_ctrl_c_while_python_imports_numpy_exits_130_with_the_resume_line(tmp_path):
    from tests.sweep.helpers import write_config

    cfg = write_config(tmp_path)
    out = tmp_path / "x.nc"
    resume = f"mcstudy run {cfg} --out {out} --no-report --resume"
    args = ["run", str(cfg), "--out", str(out), "--no-report"]
    # the interpreter starting; then (as a terminal sends it) click, NumPy, SciPy importing
    for offset, blocked in ((0.0, True), (0.1, True), (0.2, True), (0.3, False)):
        status, o, e = _sigint_at(args, offset, blocked)
        assert _assert_interrupted_or_done(status, o, e, resume), (offset, e)
    status, o, e = _sigint_at(["status", str(tmp_path / "nowhere.run")], 0.1)
    assert _assert_interrupted_or_done(status, o, e, None)


@pytest.mark.slow
def test_ctrl_c_at_any_instant_of_a_run_exits_130_with_the_resume_line(tmp_path):
    """SIGINT every 0.25 s from the start to the end of a run with its report: while
    Python imports, while the sweep computes, while the dataset and the report are
    written; each exits 130 with the line that continues the run (or, after the work,
    the run's own 0), and the last interrupted run resumes to the whole result."""
    from tests.sweep.helpers import write_config

    cfg = write_config(tmp_path)
    out = tmp_path / "x.nc"
    args = ["run", str(cfg), "--out", str(out), "--quiet"]
    t0 = time.monotonic()
    status, o, e = _sigint_at(args, 600.0)  # (never sent: the run ends first)
    assert status == 0, e
    whole = time.monotonic() - t0
    seen, step = 0, 0.25
    for k in range(int(whole / step) + 1):
        for p in tmp_path.glob("x.*"):
            if p.is_dir():
                shutil.rmtree(p)
            else:
                p.unlink()
        status, o, e = _sigint_at(args, step * k, blocked=k == 0)
        resume = f"mcstudy run {cfg} --out {out} --quiet --resume"
        if not _assert_interrupted_or_done(status, o, e, resume):
            break  # the run was done: later signals come later still
        seen += 1
    assert seen >= whole / step / 2, (seen, whole)  # most of the run was interrupted
    res = CliRunner().invoke(main, [*args, "--resume", "--no-report"])
    assert res.exit_code == 0, res.output


@pytest.mark.slow
def test_ctrl_c_during_a_report_exits_130(tmp_path):
    """The report runs Numba kernels in the main thread (convergence): a Ctrl-C there
    ended in SystemError and exit 1."""
    from tests.sweep.helpers import write_config

    cfg = write_config(tmp_path)
    out = tmp_path / "x.nc"
    assert (
        CliRunner().invoke(main, ["run", str(cfg), "--out", str(out), "--no-report"]).exit_code == 0
    )
    args = ["report", str(out), "-o", str(tmp_path / "r.html")]
    times = []
    for _ in range(2):  # the shorter of two: the first pays for cold file caches
        t0 = time.monotonic()
        assert _sigint_at(args, 600.0)[0] == 0
        times.append(time.monotonic() - t0)
    whole = min(times)
    interrupted = 0
    for k in range(1, 9):  # as a terminal sends it: SIGINT not blocked at the start
        status, o, e = _sigint_at(args, whole * k / 10, blocked=False)
        interrupted += _assert_interrupted_or_done(status, o, e, None)
    # signals sent at 10 % .. 80 % of the run: most must land inside it (a loaded machine
    # makes a run's length vary, so not all of them)
    assert interrupted >= 5, (interrupted, times)
