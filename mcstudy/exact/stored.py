"""Exact zone laws kept on disk between runs.

Solving a zone chain's stationary law (``mcstudy.exact.pressure.solve``) takes seconds
for the default host study's zone, and every run of the same chain gets the same law
bit for bit. :func:`zone_law` keeps each solved law in a file named after a SHA-256 of
the chain's parameters, the solver's source file and the numpy, scipy and Numba versions,
in ``zone-laws/`` beside the Numba caches of the kernels (``mcstudy.engine.jitcache.
cache_base()``; not in the cache of one kernel hash: editing a kernel elsewhere does not
make the laws solve again); when that directory cannot be made it just solves.

Each file holds the law and a SHA-256 of it; it is written to a temporary file in the
same directory and renamed into place, so concurrent writers and a kill at any instant
leave either no file or a whole one. A file that is unreadable, fails its checksum or
does not fit the chain is never trusted: the law is solved again and the file replaced.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
import sys
import tempfile
from importlib import metadata
from pathlib import Path

import numpy as np

from mcstudy.engine.jitcache import cache_base
from mcstudy.exact import pressure as _pressure
from mcstudy.exact.pressure import ZoneChain, ZoneStationary, solve
from mcstudy.mechanisms.zone_grid import level_count

FORMAT = 3
"""bump when the file layout or the key changes (2: the chain is ``mechanisms.zone.Zone``,
whose extension fields are part of the key; 3: timed stalls: pi has one block of phases
per stalled-task configuration, and below-min entries and stalled tasks are stored)"""
_SCALARS = tuple(f.name for f in dataclasses.fields(ZoneStationary) if f.name != "pi")
_SOLVER_HASH: str | None = None


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "none"


def solver_version() -> str:
    """SHA-256 of the solver's source and the versions of what it runs on."""
    global _SOLVER_HASH
    if _SOLVER_HASH is None:
        d = hashlib.sha256(f"format {FORMAT} python {sys.version}".encode())
        for dist in ("numpy", "scipy", "numba"):
            d.update(f" {dist} {_version(dist)}".encode())
        d.update(Path(_pressure.__file__).read_bytes())
        _SOLVER_HASH = d.hexdigest()
    return _SOLVER_HASH


def chain_key(chain: ZoneChain) -> str:
    """The file name stem of ``chain``'s law (its parameters, exactly, and the solver)."""
    fields = {f.name: getattr(chain, f.name) for f in dataclasses.fields(chain)}
    text = json.dumps(fields, sort_keys=True)  # floats as repr: exact round trip
    return hashlib.sha256((solver_version() + "\0" + text).encode()).hexdigest()[:32]


def store_dir() -> Path:
    """``zone-laws/`` beside the kernels' Numba caches."""
    return cache_base() / "zone-laws"


def _encode(law: ZoneStationary) -> bytes:
    buf = io.BytesIO()
    scalars = np.array([getattr(law, k) for k in _SCALARS], dtype=np.float64)
    np.savez(buf, pi=law.pi, scalars=scalars)
    payload = buf.getvalue()
    return hashlib.sha256(payload).digest() + payload


def _decode(blob: bytes, chain: ZoneChain) -> ZoneStationary | None:
    """The law in ``blob``, or None if it is damaged or not ``chain``'s shape."""
    digest, payload = blob[:32], blob[32:]
    if len(blob) <= 32 or hashlib.sha256(payload).digest() != digest:
        return None
    try:
        with np.load(io.BytesIO(payload), allow_pickle=False) as z:
            pi = np.array(z["pi"])
            scalars = np.array(z["scalars"])
    except Exception:  # a damaged archive: zipfile, format or key errors
        return None
    shape = (len(chain.stall_states) * chain.phases, 2, level_count(chain))
    if pi.shape != shape or pi.dtype != np.float64 or scalars.shape != (len(_SCALARS),):
        return None
    return ZoneStationary(pi=pi, **{k: float(v) for k, v in zip(_SCALARS, scalars, strict=True)})


def _write(path: Path, blob: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(blob)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _law_path(chain: ZoneChain, directory: Path | None = None) -> Path:
    where = directory if directory is not None else store_dir()
    return where / f"{chain_key(chain)}.npz"


def is_stored(chain: ZoneChain, directory: Path | None = None) -> bool:
    """Whether a file for ``chain``'s law is in the store (not checked for damage)."""
    return _law_path(chain, directory).is_file()


def zone_law(chain: ZoneChain, directory: Path | None = None) -> ZoneStationary:
    """``solve(chain)``, read from the store when an intact copy is there, else solved and
    stored. ``directory`` overrides :func:`store_dir` (tests)."""
    path = _law_path(chain, directory)
    try:
        law = _decode(path.read_bytes(), chain)
    except OSError:
        law = None
    if law is not None:
        return law
    law = solve(chain)
    try:
        _write(path, _encode(law))
    except OSError:
        pass  # a read-only cache: the law is still right, only not kept
    return law
