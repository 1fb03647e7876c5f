"""Numba's disk cache never runs the wrong kernel.

Numba keys a cached function by its file and qualified name, and the signature; two
kernels with one qualified name (closures made by one factory) share an entry, and a
warm cache then hands one the other's machine code. So: every cached kernel is a
module-level function with a unique qualified name, and for every model, a cache filled
by one kernel variant in one process gives, in a second process, every other variant's
results bit for bit as a fresh cache does.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from numba.core.registry import CPUDispatcher

from mcstudy.engine.jitcache import PACKAGE, kernel_sources
from mcstudy.models.registry import builtin_model_names, get_model

WORKER = Path(__file__).with_name("cache_worker.py")
REPO = PACKAGE.parent


def _module_name(path: Path) -> str:
    return ".".join(path.relative_to(REPO).with_suffix("").parts)


def _cached_dispatchers() -> list[tuple[str, str, CPUDispatcher]]:
    """(module, attribute, dispatcher) of every ``cache=True`` kernel in the package."""
    out = []
    for path in kernel_sources():
        module = importlib.import_module(_module_name(path))
        for attr, obj in vars(module).items():
            if isinstance(obj, CPUDispatcher) and obj.__module__ == module.__name__:
                if obj._cache.__class__.__name__ != "NullCache":
                    out.append((module.__name__, attr, obj))
    return out


def test_every_cached_kernel_is_a_module_level_function_with_a_unique_name():
    found = _cached_dispatchers()
    assert len(found) > 50  # the package has about a hundred cached kernels
    seen: dict[tuple[str, str], str] = {}
    for module, attr, disp in found:
        qual = disp.py_func.__qualname__
        assert "<locals>" not in qual, f"{module}.{attr}: a cached closure ({qual})"
        assert disp.py_func.__closure__ is None, f"{module}.{attr} closes over variables"
        assert qual == attr, f"{module}.{attr} is bound under another name ({qual})"
        assert (module, qual) not in seen, f"{module}: two cached kernels named {qual}"
        seen[(module, qual)] = attr


def _run(model: str, indices: list[int], cache: Path) -> dict[int, str]:
    env = {**os.environ, "NUMBA_CACHE_DIR": str(cache), "NUMBA_NUM_THREADS": "2"}
    env.pop("NUMBA_DISABLE_JIT", None)
    res = subprocess.run(
        [sys.executable, str(WORKER), model, *map(str, indices)],
        env=env, cwd=REPO, capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr[-3000:]
    return {int(k): v for k, v in json.loads(res.stdout.strip().splitlines()[-1]).items()}


@pytest.mark.slow
@pytest.mark.parametrize("model", builtin_model_names())
def test_warm_cache_of_one_variant_gives_every_other_variant_bit_for_bit(model, tmp_path):
    n = len(get_model(model).all_warmup_variants())
    fresh = {}
    for i in range(n):  # each variant alone, on an empty cache
        fresh.update(_run(model, [i], tmp_path / f"fresh{i}"))
    assert len(set(fresh.values())) == n, "two variants gave the same results"
    for fill in range(n):  # fill a cache with one variant, then run all of them on it
        cache = tmp_path / f"warm{fill}"
        assert _run(model, [fill], cache) == {fill: fresh[fill]}
        others = [i for i in range(n) if i != fill] + [fill]
        warm = _run(model, others, cache)
        assert warm == fresh, f"{model}: a cache filled by variant {fill} changed results"


_CACHE_DIR_OF = """
import importlib, json, sys
from numba.core.registry import CPUDispatcher
mod = importlib.import_module(sys.argv[1])
from mcstudy.engine.jitcache import cache_base, kernel_hash
paths = sorted({str(v.stats.cache_path) for v in vars(mod).values()
                if isinstance(v, CPUDispatcher) and v._cache is not None
                and v.py_func.__module__ == mod.__name__})
print(json.dumps({"paths": paths, "want": str(cache_base() / kernel_hash())}))
"""


@pytest.mark.parametrize(
    "module",
    sorted(
        ".".join(p.relative_to(REPO).with_suffix("").parts)
        for p in (REPO / "mcstudy").rglob("*.py")
        if any(
            line.startswith("@njit(cache=True")
            for line in p.read_text(encoding="utf-8").splitlines()
        )
    ),
)
def test_a_kernel_module_imported_first_caches_under_the_kernel_hash(module, tmp_path):
    """Imported first in a fresh process, every module with cached kernels has them
    cached under the directory keyed by the kernels' sources, not Numba's default (a
    module decorated before ``mcstudy.engine`` configured the cache would load stale
    machine code after another kernel file changed)."""
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path)}
    res = subprocess.run(
        [sys.executable, "-c", _CACHE_DIR_OF, module],
        env=env, cwd=REPO, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr[-3000:]
    got = json.loads(res.stdout.strip().splitlines()[-1])
    assert got["paths"], f"{module}: no cached kernel found"
    for path in got["paths"]:
        assert path.startswith(got["want"]), f"{module} caches in {path}"
