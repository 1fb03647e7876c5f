"""Adaptive precision: each point runs blocks until its main estimate reaches
target_rel_err (or max_sequences), reproducibly: the blocks run are blocks 0..k-1 of the
fixed-size plan, so the result equals a fixed run of k blocks bit for bit."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mcstudy.engine.blocks import CHUNK_BLOCKS
from mcstudy.errors import ConfigError
from mcstudy.models.registry import get_model
from mcstudy.study import load_study
from mcstudy.sweep.coordinator import run_study
from mcstudy.sweep.point import REL_ERR, TARGET_MET, next_chunk, relative_error, run_point

ADAPTIVE = """
[study]
name = "adaptive"
model = "gather"
seed = 99
sequences = 2048
block_size = 1024
{adaptive}

[params]
ipi_policy = "broadcast"

[sweep]
kernel = ["v6.3-baremetal", "v6.3-kvm-pv"]
gfp_nowait_fail_p = [0.02, 0.3]
tables_per_gather = [509, 2000]
"""


def make(tmp_path, adaptive="target_rel_err = 0.05\nmax_sequences = 400_000", name="a.toml"):
    path = tmp_path / name
    path.write_text(ADAPTIVE.format(adaptive=adaptive))
    return path


@pytest.mark.parametrize(
    ("adaptive", "message"),
    [
        ("target_rel_err = 0.05", "target_rel_err needs max_sequences"),
        ("max_sequences = 10_000", "max_sequences applies only with target_rel_err"),
        ("target_rel_err = 0.05\nmax_sequences = 1000", "must be at least sequences (2048)"),
        (
            "target_rel_err = 0.0\nmax_sequences = 10_000",
            "target_rel_err = 0.0: expected greater than 0",
        ),
        ("target_rel_err = 1.5\nmax_sequences = 10_000", "expected less than 1"),
        ("target_rel_err = 0.1\nmax_sequences = 0", "max_sequences = 0"),
    ],
)
def test_bad_adaptive_settings_are_one_clear_error(tmp_path, adaptive, message):
    path = make(tmp_path, adaptive)
    with pytest.raises(ConfigError) as info:
        load_study(path)
    assert message in str(info.value) and str(path) in str(info.value)
    assert "[study]" in str(info.value)


def test_next_chunk_bounds():
    # far from the target: at most double, and never more than CHUNK_BLOCKS
    assert next_chunk(10, 1.0, 0.01, 10**6) == 10
    assert next_chunk(1000, 1.0, 0.01, 10**6) == CHUNK_BLOCKS
    # close to the target: the predicted need (+10 %), at least done/8
    assert next_chunk(100, 0.0105, 0.01, 10**6) == math.ceil(100 * 1.05**2 * 1.1) - 100
    assert next_chunk(100, 0.01001, 0.01, 10**6) == 13
    # unknown precision (no events yet): double
    assert next_chunk(8, math.inf, 0.01, 10**6) == 8
    assert next_chunk(8, math.inf, 0.01, 3) == 3  # never past max_sequences


def test_relative_error_of_the_main_estimate():
    model = get_model("gather")
    assert relative_error(model, {"fallbacks_mean": 2.0, "fallbacks_stderr": 0.1}) == 0.05
    assert relative_error(model, {"fallbacks_mean": 0.0, "fallbacks_stderr": 0.0}) == math.inf


def test_adaptive_points_meet_the_target_and_equal_fixed_runs(tmp_path):
    study = load_study(make(tmp_path))
    ds = run_study(study, show_progress=False)
    flat = {name: ds[name].values.ravel() for name in ds.data_vars}
    seqs = flat["sequences"]
    assert ((seqs % 1024 == 0) | (seqs == 400_000)).all()  # whole blocks, or the cap
    assert (seqs >= 2048).all() and (seqs <= 400_000).all()
    kvm = slice(4, 8)  # the v6.3-kvm-pv points have fallbacks: each reaches the target
    assert (flat[TARGET_MET][kvm] == 1).all()
    assert (flat[REL_ERR][kvm] <= 0.05).all()
    assert np.allclose(
        flat[REL_ERR][kvm],
        flat["fallbacks_stderr"][kvm] / flat["fallbacks_mean"][kvm],
        rtol=0,
        atol=0,
    )
    # bare metal never falls back: precision unknowable, so it runs to the cap
    assert (flat[TARGET_MET][:4] == 0).all() and (seqs[:4] == 400_000).all()
    assert np.isinf(flat[REL_ERR][:4]).all()
    # harder points need more sequences (p = 0.02 with 509 tables: rare fallbacks)
    assert seqs[4] > seqs[7]

    # point 4, recomputed as a fixed-size run of the same number of sequences
    n = int(seqs[4])
    fixed = load_study(make(tmp_path, "", name="f.toml"), [f"sequences={n}"])
    point = list(fixed.points())[4]
    res = run_point(fixed, fixed.model, point)
    adaptive = run_point(study, study.model, list(study.points())[4])
    for key, value in res.values.items():
        assert np.float64(adaptive.values[key]).tobytes() == np.float64(value).tobytes(), key
    assert adaptive.tallies == res.tallies
    # the running estimate recorded on the way is the fixed run's, checkpoint by checkpoint
    assert adaptive.running is not None and res.running is not None
    assert adaptive.running.sequences == res.running.sequences
    assert adaptive.running.sequences[-1] == n
    for key in ("value", "low", "high"):
        a, b = getattr(adaptive.running, key), getattr(res.running, key)
        assert np.array(a).tobytes() == np.array(b).tobytes(), key
    assert adaptive.running.value[-1] == adaptive.values["fallbacks_mean"]


def test_cap_stops_a_point_that_cannot_reach_the_target(tmp_path):
    study = load_study(make(tmp_path, "target_rel_err = 0.0001\nmax_sequences = 5000"))
    res = run_point(study, study.model, list(study.points())[5])
    assert res.values["sequences"] == 5000  # the last block is the cap's partial block
    assert res.values[TARGET_MET] == 0 and res.values[REL_ERR] > 0.0001
    assert res.blocks == 5
