"""The zone chain has one parameter record (``mcstudy.mechanisms.zone.Zone``): no other
class in the package declares the zone's fields, except the user-facing config schemas
(``PressureParams``, ``HostParams``), which build a ``Zone`` from theirs. Before this
record the fields were declared in nine classes (``ZoneChain``, ``ZoneRef``,
``HostRef``, ``HostSetup``, ``ZoneRates``, ``ZoneCalibration``, ``LoadPreset`` and the
two schemas)."""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

from mcstudy.mechanisms.zone import Zone
from mcstudy.models.host.scenarios import LOAD_RATES
from tests.paths import REPO

PACKAGE = REPO / "mcstudy"
ZONE_FIELDS = frozenset(f.name for f in dataclasses.fields(Zone)) - {"gather_rate"}
"""The zone's own fields; ``gather_rate`` is left out: gathers are the workload's, and
the THP, gather and IPI models describe them without a zone."""
ALLOWED = {
    ("mcstudy/mechanisms/zone.py", "Zone"),
    ("mcstudy/models/pressure/params.py", "PressureParams"),
    ("mcstudy/models/host/params.py", "HostParams"),
    ("mcstudy/mechanisms/zone_events.py", "ZoneInts"),
}
"""... and the kernels' typed input (a named tuple: Numba takes no dataclass), which only
``zone_events.zone_ints(zone, ...)`` builds, from a ``Zone``."""


def zone_field_declarations(source: str) -> dict[str, list[str]]:
    """class name -> the zone fields its body declares (annotated names: dataclass,
    pydantic, NamedTuple or TypedDict fields)."""
    out: dict[str, list[str]] = {}
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ClassDef):
            names = [
                s.target.id
                for s in node.body
                if isinstance(s, ast.AnnAssign)
                and isinstance(s.target, ast.Name)
                and s.target.id in ZONE_FIELDS
            ]
            if names:
                out[node.name] = names
    return out


def test_only_the_zone_record_and_the_config_schemas_declare_zone_fields():
    found = set()
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(REPO).as_posix()
        for cls, names in zone_field_declarations(path.read_text()).items():
            found.add((rel, cls))
            assert (rel, cls) in ALLOWED, (
                f"{rel}: class {cls} declares the zone's fields {names}: hold a "
                "mcstudy.mechanisms.zone.Zone instead"
            )
    assert found == ALLOWED  # the check sees the record and the schemas


def test_the_check_sees_a_duplicate():
    src = "from dataclasses import dataclass\n@dataclass\nclass Z:\n    wmark_min: int\n"
    assert zone_field_declarations(src) == {"Z": ["wmark_min"]}


def test_load_presets_name_zone_rates():
    fields = {f.name for f in dataclasses.fields(Zone)}
    assert set(LOAD_RATES) <= fields


def test_zone_chain_is_the_record():
    from mcstudy.exact.pressure import ZoneChain

    assert ZoneChain is Zone
    assert Path(PACKAGE / "mechanisms" / "zone.py").is_file()


def test_only_zone_ints_builds_the_kernel_input():
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(REPO).as_posix()
        if rel != "mcstudy/mechanisms/zone_events.py":
            assert "ZoneInts(" not in path.read_text(), f"{rel} builds a ZoneInts itself"
