"""The models' kernel inputs are named tuples read by name (Numba takes no dataclass), each
built by one packer that converts every field, so the kernels see one stable signature:
the THP population's ``PopFloats`` / ``PopInts`` (``thp.prepare.pack_population``) and the
gather model's ``GatherInputs`` (``gather.model.pack_gather``)."""

from __future__ import annotations

import ast

import numba
import numpy as np
import pytest
from numba import types

from mcstudy.kernel.ipi import IpiTargets
from mcstudy.models.gather.model import pack_gather
from mcstudy.models.gather.params import GatherParams
from mcstudy.models.thp.params import ThpParams
from mcstudy.models.thp.prepare import pack_population
from tests.paths import REPO

PACKAGE = REPO / "mcstudy"
PACKERS = {
    "PopFloats": "mcstudy/models/thp/prepare.py",
    "PopInts": "mcstudy/models/thp/prepare.py",
    "GatherInputs": "mcstudy/models/gather/model.py",
}
"""named tuple -> the one file that builds it (in its packer)"""


def calls(source: str) -> set[str]:
    """Names of the functions and classes ``source`` calls (``X(...)``, ``m.X(...)``)."""
    out = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call):
            f = node.func
            out.add(f.id if isinstance(f, ast.Name) else getattr(f, "attr", ""))
    return out


def test_the_check_sees_a_call():
    assert calls("x = K.PopInts(1, 2)\ny = PopFloats(t0=1.0)\n") >= {"PopInts", "PopFloats"}
    assert "PopInts" not in calls("class PopInts(NamedTuple):\n    a: int\n")


@pytest.mark.parametrize("name", sorted(PACKERS))
def test_only_the_packer_builds_the_kernel_input(name):
    builders = [
        path.relative_to(REPO).as_posix()
        for path in sorted(PACKAGE.rglob("*.py"))
        if name in calls(path.read_text())
    ]
    assert builders == [PACKERS[name]], f"{name} is built outside its packer: {builders}"


def test_population_inputs_have_one_numba_type():
    """Whole numbers, numpy scalars of other widths, another lifetime law: one type, a
    uniform tuple of float64 and one of int64 (no literal or mixed element types)."""
    q = np.array([[-0.1, 0.1], [0.9, -0.9]])
    fp, ip = pack_population(ThpParams(), q, 17.0, 2)
    other = pack_population(
        ThpParams(warmup_s=1, horizon_s=3, cache_k=4, lifetime_dist="lognormal"),
        q.astype(np.float32),
        np.int64(17),
        np.int32(2),
    )
    assert numba.typeof(other[0]) == numba.typeof(fp)
    assert numba.typeof(other[1]) == numba.typeof(ip)
    assert isinstance(numba.typeof(fp), types.NamedUniTuple)
    assert numba.typeof(fp).dtype == types.float64
    assert isinstance(numba.typeof(ip), types.NamedUniTuple)
    assert numba.typeof(ip).dtype == types.int64
    assert (other[0].t1 - other[0].t0, fp.to_calm, other[0].center) == (3.0, 0.9, 17.0)
    assert (ip.individual, other[1].individual, other[1].split_cpus) == (0, 1, 2)


def test_gather_inputs_have_one_numba_type():
    """numpy integers and flags, whole-number probabilities, P = 1 (log1p(-1) = -inf,
    an "always" threshold): one flat type, no literal or value-dependent field types."""
    base = {"tables_per_gather": 4, "gfp_nowait_fail_p": 0.01}
    g = pack_gather(GatherParams(**base), 4, 2, True, IpiTargets(3, 0.5))
    other = pack_gather(
        GatherParams(**base, pressure_fail_p=1, pressure_episode_prob=1.0),
        np.int64(4),
        np.int32(2),
        np.bool_(False),
        IpiTargets(np.int64(3), 1),
    )
    assert numba.typeof(other) == numba.typeof(g)
    assert [str(t) for t in numba.typeof(g).types] == [
        "int64", "int64", "bool", "int64", "bool", "uint64", "uint64", "bool",
        "float64", "float64", "float64",
    ]  # fmt: skip
    assert (other.log_q_pressure, other.episode_always, other.episodes) == (-np.inf, True, True)
    assert (g.episodes, g.episode_always, g.log_q_calm) == (False, False, np.log1p(-0.01))
