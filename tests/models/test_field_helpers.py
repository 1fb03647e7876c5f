"""Parameter fields with a unit are declared through one helper
(``mcstudy.models.shared.units``), not a private copy per model."""

from __future__ import annotations

import ast

from tests.paths import REPO


def test_units_field_helper_is_declared_once():
    owners = []
    for path in sorted((REPO / "mcstudy").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and getattr(node.func, "id", getattr(node.func, "attr", "")) == "Field"
                and any(k.arg == "json_schema_extra" for k in node.keywords)
            ):
                owners.append(str(path.relative_to(REPO)))
    assert owners == ["mcstudy/models/shared.py"], owners
