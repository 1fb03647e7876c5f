"""Shards: --shard I/N parsing, SLURM array variables, and a partition of the points."""

from __future__ import annotations

import pytest

from mcstudy.executors.errors import ExecutorError
from mcstudy.sweep.shards import (
    Shard,
    parse_shard,
    resolve_shard,
    shard_from_slurm,
    slurm_facts,
)


def test_parse_shard():
    assert parse_shard("0/3") == Shard(0, 3)
    assert parse_shard(" 2 / 3 ") == Shard(2, 3)
    assert str(Shard(1, 4)) == "1/4"
    for bad in ("3/3", "1", "a/b", "-1/3", "1/0", ""):
        with pytest.raises(ExecutorError, match="--shard"):
            parse_shard(bad)


def test_shards_partition_the_points():
    n, count = 23, 4
    seen = []
    for i in range(count):
        mine = Shard(i, count).select(range(n))
        assert all(j % count == i for j in mine)
        seen += mine
    assert sorted(seen) == list(range(n))


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"SLURM_ARRAY_TASK_ID": "0", "SLURM_ARRAY_TASK_COUNT": "3"}, Shard(0, 3)),
        (
            {
                "SLURM_ARRAY_TASK_ID": "3",
                "SLURM_ARRAY_TASK_COUNT": "3",
                "SLURM_ARRAY_TASK_MIN": "1",
            },
            Shard(2, 3),
        ),
        (
            {
                "SLURM_ARRAY_TASK_ID": "14",
                "SLURM_ARRAY_TASK_COUNT": "3",
                "SLURM_ARRAY_TASK_MIN": "10",
                "SLURM_ARRAY_TASK_STEP": "2",
            },
            Shard(2, 3),
        ),
        ({"SLURM_JOB_ID": "5"}, None),
        ({}, None),
    ],
)
def test_shard_from_slurm_array_variables(env, expected):
    assert shard_from_slurm(env) == expected


def test_irregular_or_incomplete_arrays_are_refused():
    with pytest.raises(ExecutorError, match="evenly spaced"):
        shard_from_slurm(
            {"SLURM_ARRAY_TASK_ID": "7", "SLURM_ARRAY_TASK_COUNT": "3", "SLURM_ARRAY_TASK_MIN": "1"}
        )
    with pytest.raises(ExecutorError, match="SLURM_ARRAY_TASK_COUNT is not set"):
        shard_from_slurm({"SLURM_ARRAY_TASK_ID": "1"})
    with pytest.raises(ExecutorError, match="expected an integer"):
        shard_from_slurm({"SLURM_ARRAY_TASK_ID": "x", "SLURM_ARRAY_TASK_COUNT": "3"})


def test_explicit_shard_wins_over_slurm():
    env = {"SLURM_ARRAY_TASK_ID": "1", "SLURM_ARRAY_TASK_COUNT": "2"}
    assert resolve_shard("0/5", env) == Shard(0, 5)
    assert resolve_shard(None, env) == Shard(1, 2)
    assert resolve_shard(None, {}) is None


def test_slurm_facts_for_provenance():
    assert slurm_facts({}) is None
    facts = slurm_facts(
        {"SLURM_JOB_ID": "12", "SLURM_ARRAY_JOB_ID": "10", "SLURM_CPUS_PER_TASK": "4", "HOME": "/"}
    )
    assert facts == {"job_id": "12", "array_job_id": "10", "cpus_per_task": "4"}
