"""What a dataset says about itself: provenance, seeds, block size, how to regenerate it."""

from __future__ import annotations

import hashlib
import json
import shlex
from pathlib import Path
from typing import Any

import xarray as xr

from mcstudy.engine.blocks import DEFAULT_BLOCK_SIZE


def provenance(ds: xr.Dataset) -> dict[str, Any]:
    """The provenance dictionary (empty when absent or unreadable)."""
    try:
        prov = json.loads(ds.attrs.get("provenance", "{}"))
    except ValueError:
        return {}
    return prov if isinstance(prov, dict) else {}


def block_size_of(ds: xr.Dataset) -> int:
    """Sequences per block of the run (needed to re-run its blocks)."""
    return int(provenance(ds).get("block_size", DEFAULT_BLOCK_SIZE))


def planned_sequences(ds: xr.Dataset) -> int:
    """Sequences of a point's block plan: ``max_sequences`` under adaptive precision."""
    prov = provenance(ds)
    if prov.get("target_rel_err") is not None and prov.get("max_sequences"):
        return int(prov["max_sequences"])
    return int(ds.attrs["sequences_per_point"])


def file_sha256(path: Path) -> str:
    """SHA-256 of a file (hex)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def regenerate_commands(ds: xr.Dataset, dataset_path: Path, report_path: Path) -> list[str]:
    """Shell commands that recreate the dataset and this report."""
    prov = provenance(ds)
    cmds = []
    config = prov.get("config_path")
    if config:
        parts = ["mcstudy", "run", str(config)]
        for item in prov.get("overrides") or []:
            parts += ["--set", str(item)]
        parts += ["--out", str(dataset_path), "--no-report", "--restart"]
        cmds.append(shlex.join(parts))
    report = ["mcstudy", "report", str(dataset_path), "-o", str(report_path)]
    cmds.append(shlex.join(report))
    return cmds
