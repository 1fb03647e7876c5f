"""``mcstudy run`` reaches its first simulation without importing what it needs only
later: xarray (and pandas) to assemble the dataset at the end, scipy's sparse and linear
algebra for exact columns computed after a point's simulation. Each costs a cached start
a few tenths of a second."""

from __future__ import annotations

import json
import subprocess
import sys

LATER = ("xarray", "pandas", "scipy.sparse", "scipy.linalg", "matplotlib", "dask")

CODE = """
import json, sys
import mcstudy.cli, mcstudy.sweep.cli, mcstudy.sweep.coordinator, mcstudy.sweep.point
from mcstudy.models.registry import get_model
from mcstudy.study import default_config, load_study
study = load_study(default_config())
model = get_model("host")
model.prepare(study.point(0).params)
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in {"xarray", "pandas",
      "scipy", "matplotlib", "dask"})))
"""


def test_the_run_path_imports_no_heavy_library_before_the_first_simulation(repo_root):
    # the first run of a zone solves its exact law (scipy) and stores it; this is the next
    subprocess.run([sys.executable, "-c", CODE], cwd=repo_root, capture_output=True, check=True)
    out = subprocess.run(
        [sys.executable, "-c", CODE], cwd=repo_root, capture_output=True, text=True, check=True
    )
    loaded = json.loads(out.stdout.strip().splitlines()[-1])
    early = [m for m in loaded if any(m == x or m.startswith(x + ".") for x in LATER)]
    assert early == [], early
