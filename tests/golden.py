"""Seeded golden results: stored once, compared bit for bit, regenerated only on purpose.

A golden file ``tests/data/golden/<name>.json`` holds a case (parameters, seed, sample
size, block size) and what the code computed for it. Integer tallies and every float of
a Monte Carlo result are compared exactly (floats stored as hexadecimal); values of the
exact solvers, which go through LAPACK and special functions, to 1e-12 relative.

Regenerate after an intended change with ``python3 -m pytest --update-golden`` (the
switch rewrites the files of the tests it runs; review the diff before committing).
"""

from __future__ import annotations

import json
import math
from typing import Any

from tests.paths import GOLDEN

GOLDEN_DIR = GOLDEN
EXACT_REL_TOL = 1e-12


def encode(value: Any) -> Any:
    """JSON form of a result value: ints as they are, floats as hex strings (NaN, inf too)."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return float(value).hex()
    if hasattr(value, "item"):  # numpy scalar
        return encode(value.item())
    if isinstance(value, dict):
        return {str(k): encode(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [encode(v) for v in value]
    return value


def _decode_float(text: str) -> float:
    return float.fromhex(text)


def compare(got: Any, stored: Any, where: str, rel_tol: float = 0.0) -> list[str]:
    """Differences between two encoded results (empty when they agree)."""
    out: list[str] = []
    if isinstance(stored, dict) and isinstance(got, dict):
        for k in sorted(set(stored) | set(got)):
            if k not in got:
                out.append(f"{where}.{k}: missing from the result")
            elif k not in stored:
                out.append(f"{where}.{k}: not in the golden file")
            else:
                out.extend(compare(got[k], stored[k], f"{where}.{k}", rel_tol))
        return out
    if isinstance(stored, list) and isinstance(got, list) and len(stored) == len(got):
        for i, (a, b) in enumerate(zip(got, stored, strict=True)):
            out.extend(compare(a, b, f"{where}[{i}]", rel_tol))
        return out
    if isinstance(stored, str) and isinstance(got, str) and rel_tol > 0.0:
        try:
            a, b = _decode_float(got), _decode_float(stored)
        except ValueError:
            a = b = None  # not floats: compared as strings below
        if a is not None and b is not None:
            same = (math.isnan(a) and math.isnan(b)) or math.isclose(
                a, b, rel_tol=rel_tol, abs_tol=0.0
            )
            if not same:
                out.append(f"{where}: {a!r} != golden {b!r}")
            return out
    if got != stored:
        out.append(f"{where}: {got!r} != golden {stored!r}")
    return out


def check_golden(
    name: str, case: dict[str, Any], result: dict[str, Any], update: bool, exact_keys=("exact",)
) -> None:
    """Compare ``result`` (encoded) with ``tests/data/golden/<name>.json``.

    ``update`` rewrites the file instead. Top-level keys in ``exact_keys`` are compared to
    ``EXACT_REL_TOL``; everything else bit for bit.
    """
    path = GOLDEN_DIR / f"{name}.json"
    encoded = {"case": case, **{k: encode(v) for k, v in result.items()}}
    if update:
        GOLDEN_DIR.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(encoded, indent=1, sort_keys=False) + "\n")
    assert path.exists(), f"{path} is missing: run pytest --update-golden to create it"
    stored = json.loads(path.read_text())
    assert stored["case"] == json.loads(json.dumps(case)), f"{path}: the golden case changed"
    problems: list[str] = []
    for key in sorted(set(stored) | set(encoded)):
        if key == "case":
            continue
        tol = EXACT_REL_TOL if key in exact_keys else 0.0
        problems.extend(compare(encoded.get(key), stored.get(key), key, tol))
    assert not problems, f"{path.name} differs:\n" + "\n".join(problems[:20])
