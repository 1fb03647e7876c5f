"""THP model parameters and configs: validation messages and an end-to-end run."""

from __future__ import annotations

from pathlib import Path

import pytest

from mcstudy.errors import ConfigError
from mcstudy.study import load_study
from tests.paths import REPO


@pytest.mark.parametrize("name", ["thp.toml", "rt.toml"])
def test_shipped_configs_validate(name):
    study = load_study(REPO / "configs" / name)
    assert study.section.model == "thp"
    assert study.n_points >= 12
    points = list(study.points())
    assert len(points) == study.n_points


def test_thp_config_host_is_80_percent_of_1_tib():
    from mcstudy.models.thp.model import thp_exact

    study = load_study(REPO / "configs" / "thp.toml", overrides=["pressure_fraction=0.0"])
    p = next(iter(study.points())).params
    ex = thp_exact(p)
    thps = 0.8 * 2**40 / 2**21
    assert ex["thp_mean_exact"] == pytest.approx(thps, rel=1e-6)
    assert ex["deposit_bytes_mean_exact"] == pytest.approx(thps * 4096, rel=1e-6)


def _write(tmp_path: Path, params: str) -> Path:
    cfg = tmp_path / "c.toml"
    cfg.write_text(
        '[study]\nname = "t"\nmodel = "thp"\nseed = 1\nsequences = 2\nblock_size = 1\n'
        f"[params]\n{params}\n"
    )
    return cfg


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ("isolated_cpus = 80", "isolated_cpus (80) must be below online_cpus (80)"),
        ("mm_cpus = 77", "must not exceed the housekeeping CPUs"),
        ('split_gfp = "atomic"', "needs gfp_atomic_fail_p and pressure_atomic_fail_p"),
        ('lifetime_dist = "pareto"\nlifetime_shape = 1.0', "tail index) > 1"),
        ('table_policy = "lazy"', "table_policy"),
        ("pressure_fraction = 1.0", "pressure_fraction"),
        ("cache_k = -1", "cache_k"),
        ("fault_rate = 1e8\nhorizon_s = 1e6", "events per sequence"),
        ("rt_cycle_us = 2e6\nhorizon_s = 1.0", "rt_cycle_us must not exceed horizon_s"),
        ("deposit_policy = 1", "deposit_policy: unknown parameter"),
    ],
)
def test_bad_parameters_give_one_clear_error(tmp_path, params, message):
    with pytest.raises(ConfigError) as err:
        load_study(_write(tmp_path, params))
    assert message in str(err.value)
    assert "c.toml" in str(err.value)


def test_small_study_runs_end_to_end(tmp_path):
    """A shrunken configs/rt.toml through the study runner into a labelled dataset."""
    from mcstudy.sweep.coordinator import run_study

    study = load_study(
        REPO / "configs" / "rt.toml",
        overrides=[
            "study.sequences=2",
            "horizon_s=20.0",
            'sweep.ipi_policy=["broadcast", "rcu"]',
            'sweep.collapse_policy=["sync_ipi"]',
            "sweep.pressure_fraction=[0.0, 0.5]",
            "sweep.rt_mm_share=[1.0]",
        ],
    )
    ds = run_study(study, show_progress=False)
    assert ds.attrs["model"] == "thp"
    assert dict(ds.sizes) == {
        "ipi_policy": 2,
        "collapse_policy": 1,
        "pressure_fraction": 2,
        "rt_mm_share": 1,
        "checkpoint": 2,  # the running estimate after 1 and 2 blocks
    }
    iso = ds.isolated_cpu_ipis_per_s.sel(collapse_policy="sync_ipi", rt_mm_share=1.0)
    assert float(iso.sel(ipi_policy="rcu").max()) == 0.0
    assert float(iso.sel(ipi_policy="broadcast", pressure_fraction=0.5)) > float(
        iso.sel(ipi_policy="broadcast", pressure_fraction=0.0)
    )
    attrs = ds.isolated_cpu_ipis_per_s.attrs
    assert attrs["units"] == "s-1" and attrs["mcstudy_units"] == "IPIs/s"  # CF, declared
    assert int(ds.sequences.max()) == 2
