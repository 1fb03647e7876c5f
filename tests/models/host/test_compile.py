"""What a first run of the host study compiles (no timing: which functions Numba builds).

The default study is the host study; its first run on an empty Numba cache must not
compile what costs seconds and computes nothing: Numba's text of an array-shape error
(an array assigned to an array slice pulls it in: about 2.5 s), nor a ``prange`` gufunc
wrapped around the whole block kernel (about 12 s).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.paths import REPO

_SCRIPT = """
import json
from numba.core import event
from mcstudy.models.registry import get_model
names = []
class Names(event.Listener):
    def on_start(self, e):
        d = e.data["dispatcher"]
        f = d.py_func
        par = " (parallel)" if d.targetoptions.get("parallel") else ""
        names.append(f.__module__ + "." + f.__qualname__ + par)
    def on_end(self, e):
        pass
event.register("numba:compile", Names())
model = get_model("host")
for variant in model.all_warmup_variants():
    model.warmup_variant(variant)
print(json.dumps(names))
"""


def _fresh_process(script: str, tmp_path) -> object:
    """``script``'s last line of output (JSON), run in a fresh process on an empty cache."""
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "cache")}
    env.pop("NUMBA_DISABLE_JIT", None)
    res = subprocess.run(
        [sys.executable, "-c", script],
        env=env, cwd=REPO, capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr[-3000:]
    return json.loads(res.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_a_first_host_run_compiles_no_error_text_and_no_gufunc(tmp_path):
    names = _fresh_process(_SCRIPT, tmp_path)
    assert any(n.endswith("host_block") for n in names)  # the kernel was compiled here
    assert [n for n in names if "shape_context" in n or "(parallel)" in n] == []


_TWO_PROCESSES = """
import json
from mcstudy.engine.beside import usable_cpus
from mcstudy.exact import pressure as P
from mcstudy.models.host import kernels as KH
from mcstudy.models.host import zone as Z
from mcstudy.models.host.model import HostModel
model = HostModel()
point = model.Params.model_validate(
    {**model.warmup_params(), "managed_pages": 3000, "wmark_min": 100, "wmark_low": 150,
     "wmark_high": 200}
)
model.run_warmups(model.warmup_variants([point]), [point])
model.prepare(point)  # solves the point's law by the level recursion
def stats(d):
    return [len(d.stats.cache_hits), len(d.stats.cache_misses), len(d.signatures)]
print(json.dumps({
    "cpus": usable_cpus(),
    "zone_path": stats(Z.zone_path),
    "consumers": stats(KH.sequence_consumers),
    "mg1": stats(P._mg1_levels),
    "ramaswami": stats(P._ramaswami),
}))
"""


@pytest.mark.slow
def test_the_child_compiles_the_zone_path_and_recursion_that_this_process_then_loads(tmp_path):
    """Two processes on an empty cache (``HostModel.run_warmups``): the zone path and the
    level recursion that the parent uses afterwards were compiled by the child (Numba
    loads them from the cache: a hit, no miss, one signature), and the consumers the
    parent compiled are the very specialisation ``host_block`` calls (one signature).
    A drift between the child's argument types and ``host_block``'s fails here."""
    got = _fresh_process(_TWO_PROCESSES, tmp_path)
    if got["cpus"] < 2:
        pytest.skip("one usable CPU: the warm-up runs in one process")
    assert got["zone_path"] == [1, 0, 1]
    assert got["mg1"] == [1, 0, 1]
    assert got["ramaswami"] == [1, 0, 1]
    assert got["consumers"][1:] == [1, 1]  # compiled here, once
