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


@pytest.mark.slow
def test_a_first_host_run_compiles_no_error_text_and_no_gufunc(tmp_path):
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "cache")}
    env.pop("NUMBA_DISABLE_JIT", None)
    res = subprocess.run(
        [sys.executable, "-c", _SCRIPT],
        env=env, cwd=REPO, capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr[-3000:]
    names = json.loads(res.stdout.strip().splitlines()[-1])
    assert any(n.endswith("host_block") for n in names)  # the kernel was compiled here
    assert [n for n in names if "shape_context" in n or "(parallel)" in n] == []
