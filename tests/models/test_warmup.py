"""Warm-up compiles only the kernel variants a study uses, and every kernel is cached on
disk so that a second process loads it instead of compiling it again."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numba.core.registry
import pytest

from mcstudy.models.registry import get_model
from mcstudy.study import load_study
from tests.paths import REPO

CONFIGS = REPO / "configs"


def _variants(config: str) -> list[tuple]:
    study = load_study(CONFIGS / config)
    return [
        (v.params.get("estimator"), v.params.get("lifetime_dist"), v.exact)
        for v in study.model.warmup_variants(p.params for p in study.points())
    ]


@pytest.mark.slow
def test_a_study_warms_only_the_variants_its_points_use():
    assert _variants("pressure.toml") == [(None, None, True)]  # plain; cut-down zone solved
    assert _variants("pressure-validation.toml") == [("importance", None, True)]
    assert _variants("thp.toml") == [(None, "exponential", True)]  # aggregate kernel only
    assert len(_variants("default.toml")) == 2  # host: bursty and steady zone chains
    assert len(_variants("gather-grid.toml")) == 1
    pressure, thp = get_model("pressure"), get_model("thp")
    assert len(pressure.all_warmup_variants()) == 2 and len(thp.all_warmup_variants()) == 2
    lognormal = thp.Params.model_validate({**thp.warmup_params(), "lifetime_dist": "lognormal"})
    assert [v.params["lifetime_dist"] for v in thp.warmup_variants([lognormal])] == ["lognormal"]


def _kernel_dispatchers():
    import importlib
    import pkgutil

    import mcstudy

    for info in pkgutil.walk_packages(mcstudy.__path__, "mcstudy."):
        if info.name.endswith(("__main__", ".cli")):
            continue
        module = importlib.import_module(info.name)
        for name, obj in vars(module).items():
            if isinstance(obj, numba.core.registry.CPUDispatcher):
                yield f"{info.name}.{name}", obj


def test_kernels_close_over_constants_only():
    """A closure over another dispatcher gives a cache key that differs in every process
    (Numba pickles the closure's cells into it): such a kernel compiles on every run."""
    plain = (bool, int, float, str, type(None))
    found = 0
    for name, dispatcher in _kernel_dispatchers():
        found += 1
        cells = dispatcher.py_func.__closure__ or ()
        assert all(isinstance(c.cell_contents, plain) for c in cells), name
    assert found > 20


_WARM_TWICE = """
import json, sys
from mcstudy.models.registry import get_model
from mcstudy.models.thp import kernels as KB
m = get_model("thp")
m.warmup([m.Params.model_validate(m.warmup_params())])
d = KB.simulate_thp_blocks_aggregate
print(json.dumps({"hits": len(d.stats.cache_hits), "misses": len(d.stats.cache_misses),
                  "individual": len(KB.simulate_thp_blocks_individual.signatures)}))
"""


@pytest.mark.slow
def test_a_second_process_loads_the_thp_kernel_from_the_cache(tmp_path):
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "cache")}
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    runs = []
    for _ in range(2):
        out = subprocess.run(
            [sys.executable, "-c", _WARM_TWICE], env=env, capture_output=True, text=True
        )
        assert out.returncode == 0, out.stderr[-2000:]
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    assert runs[0] == {"hits": 0, "misses": 1, "individual": 0}  # compiled, aggregate only
    assert runs[1] == {"hits": 1, "misses": 0, "individual": 0}  # loaded from the cache
