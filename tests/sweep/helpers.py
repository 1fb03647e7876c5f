"""Small studies and the dataset comparison shared by the executor tests."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import xarray as xr

from mcstudy.storage.assemble import RUN_PROVENANCE_KEYS, differences
from tests.paths import REPO

SMALL = """
[study]
name = "{name}"
model = "{model}"
seed = {seed}
sequences = 10_000
block_size = 1024

[params]
ipi_policy = "kernel_mode"
online_cpus = 16
mm_cpus = 4
kernel_mode_fraction = 0.25

[sweep]
gfp_nowait_fail_p = [0.01, 0.3]
tables_per_gather = [1, 509, 2000]
"""


def documented_run_keys() -> set[str]:
    """The provenance keys that may differ between two runs of the same study, as
    docs/guide.md ("Provenance") lists them; everything else must be bit-identical."""
    text = " ".join((REPO / "docs" / "guide.md").read_text().split())
    start = text.index("except these `provenance` keys")
    end = text.index("(`mcstudy.storage.assemble.differences`", start)
    return set(re.findall(r"`([a-z_]+)`", text[start:end])) - {"provenance"}


DOCUMENTED_RUN_KEYS = documented_run_keys()


def write_config(
    directory: Path,
    *,
    name: str = "small",
    model: str = "gather",
    seed: int = 11,
    text: str = SMALL,
    extra_study: str = "",
) -> Path:
    body = text.format(name=name, model=model, seed=seed)
    if extra_study:
        body = body.replace("block_size = 1024\n", f"block_size = 1024\n{extra_study}\n")
    path = Path(directory) / f"{name}-{seed}.toml"
    path.write_text(body)
    return path


def assert_same_results(a: xr.Dataset, b: xr.Dataset) -> None:
    """Bit-identical results: every variable and coordinate (bytes, dtype, attrs), every
    dataset attribute, and the provenance except the documented run facts."""
    assert RUN_PROVENANCE_KEYS == DOCUMENTED_RUN_KEYS
    diffs = differences(a, b)
    assert diffs == [], diffs
    # an independent, blunt check of the same thing
    assert sorted(a.variables) == sorted(b.variables)
    for name in a.variables:
        va, vb = a[name].values, b[name].values
        assert va.dtype == vb.dtype and va.shape == vb.shape, name
        assert va.tobytes() == vb.tobytes(), f"{name}: {va} != {vb}"
        assert a[name].attrs.keys() == b[name].attrs.keys(), name
    other_attrs = set(a.attrs) - {"provenance"}
    assert {k: a.attrs[k] for k in other_attrs} == {k: b.attrs[k] for k in other_attrs}
    pa, pb = json.loads(a.attrs["provenance"]), json.loads(b.attrs["provenance"])
    assert {k: v for k, v in pa.items() if k not in DOCUMENTED_RUN_KEYS} == {
        k: v for k, v in pb.items() if k not in DOCUMENTED_RUN_KEYS
    }


def status_of(ds: xr.Dataset) -> np.ndarray:
    return ds["point_status"].values.ravel()
