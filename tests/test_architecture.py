"""The package's shape, checked: no import cycles (imports inside functions and packages'
``__init__`` included), no module over 700 lines, kernels apart from schemas, models all
of the same shape, and every citation of the model pointing into ``docs/``."""

from __future__ import annotations

import ast
import re
import subprocess
from pathlib import Path

import pytest

from tests.paths import REPO

PACKAGE = REPO / "mcstudy"
MAX_LINES = 700


def _modules() -> dict[str, Path]:
    mods = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.with_suffix("").relative_to(REPO).parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        mods[name] = path
    return mods


def _imports(name: str, path: Path, mods: dict[str, Path]) -> set[str]:
    """Every mcstudy module ``name`` imports, wherever the import statement is."""
    out: set[str] = set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*up, base] if base else up)
            targets = [base] + [f"{base}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "import_module":
            targets = [a.value for a in node.args if isinstance(a, ast.Constant)]
        for t in targets:
            while t and t not in mods:
                t = t.rpartition(".")[0]
            if t and t != name and t.startswith("mcstudy"):
                out.add(t)
                parts = t.split(".")  # importing a.b.c runs a/__init__ and a/b/__init__
                out.update(".".join(parts[:i]) for i in range(1, len(parts)))
    out.discard(name)
    return out


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_import_cycles():
    mods = _modules()
    graph = {name: _imports(name, path, mods) for name, path in mods.items()}
    assert _cycles(graph) == []


def _first_level(name: str) -> str:
    """``mcstudy.report.sections.host`` -> ``report``; a module of the top level is its
    own package (``mcstudy.fmt`` -> ``fmt``)."""
    return name.split(".")[1] if "." in name else ""


def package_graph() -> dict[str, set[str]]:
    """Which first-level packages of mcstudy import which (imports inside functions
    included)."""
    mods = _modules()
    graph: dict[str, set[str]] = {}
    for name, path in mods.items():
        a = _first_level(name)
        if not a:
            continue
        for target in _imports(name, path, mods):
            b = _first_level(target)
            if b and b != a:
                graph.setdefault(a, set()).add(b)
    return graph


def test_no_package_cycles():
    """The first-level packages form no cycle: the report finds the probe's and the lab's
    sections through entry points, and they import the base package ``document``."""
    graph = package_graph()
    assert _cycles(graph) == []
    # the base of the report sits below every package that draws a section
    assert "report" not in graph["document"] and "report" not in graph["probe"]
    assert not {"lab", "probe"} & graph["report"]
    assert graph.get("fmt", set()) == set()


def test_the_package_check_sees_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_module_over_700_lines():
    long = {
        str(p.relative_to(REPO)): n
        for p in PACKAGE.rglob("*.py")
        if (n := len(p.read_text().splitlines())) > MAX_LINES
    }
    assert long == {}


def test_no_module_holds_both_jit_kernels_and_a_schema():
    mixed = []
    for p in PACKAGE.rglob("*.py"):
        text = p.read_text()
        if re.search(r"^@njit", text, re.M) and re.search(
            r"^from pydantic|^import pydantic", text, re.M
        ):
            mixed.append(str(p.relative_to(REPO)))
    assert mixed == []


def test_kernel_modules_import_only_the_engine_and_kernel_facts():
    """A model's ``kernels.py`` (and its other ``@njit`` modules) see arrays and scalars:
    nothing but numpy, numba, ``mcstudy.engine``, ``mcstudy.kernel``, the mechanisms and
    its own package's ``@njit`` modules."""
    mods = _modules()
    for name, path in mods.items():
        if not name.startswith("mcstudy.models.") or "@njit" not in path.read_text():
            continue
        own = name.rpartition(".")[0]
        packages = {"mcstudy", "mcstudy.models", own}
        allowed = ("mcstudy.engine", "mcstudy.kernel", "mcstudy.mechanisms", own + ".")
        bad = [
            m for m in _imports(name, path, mods) if m not in packages and not m.startswith(allowed)
        ]
        assert bad == [], (name, bad)
        for m in _imports(name, path, mods):
            if m.startswith(own + "."):
                assert "@njit" in mods[m].read_text(), f"{name} imports {m}, which is no kernel"


def _model_package(module: str) -> str | None:
    parts = module.split(".")
    if len(parts) > 2 and parts[1] == "models" and (PACKAGE / "models" / parts[2]).is_dir():
        return parts[2]
    return None


def test_no_model_package_imports_another():
    """Models compose mechanisms (``mcstudy.mechanisms``); none imports another model."""
    mods = _modules()
    arrows = sorted(
        (name, m)
        for name, path in mods.items()
        if (own := _model_package(name)) is not None
        for m in _imports(name, path, mods)
        if _model_package(m) not in (None, own)
    )
    assert arrows == []


def test_mechanisms_import_only_the_engine_and_kernel_facts():
    mods = _modules()
    allowed = ("mcstudy.engine", "mcstudy.kernel", "mcstudy.mechanisms")
    for name, path in mods.items():
        if name.startswith("mcstudy.mechanisms"):
            bad = [
                m
                for m in _imports(name, path, mods)
                if m != "mcstudy" and not m.startswith(allowed)
            ]
            assert bad == [], (name, bad)


@pytest.mark.parametrize("model", ["gather", "pressure", "thp", "host"])
def test_every_model_is_a_package_of_the_same_shape(model):
    for part in ("__init__.py", "params.py", "kernels.py", "model.py"):
        assert (PACKAGE / "models" / model / part).is_file(), (model, part)


def test_the_model_is_cited_from_docs_only():
    tracked = subprocess.run(
        ["git", "-C", str(REPO), "grep", "-l", "MODEL" + ".md", "--", ".", ":!tests/data"],
        capture_output=True,
        text=True,
    )
    assert tracked.stdout.strip() == ""
    doc = (REPO / "docs" / "model.md").read_text()
    sections = set(re.findall(r"^#{2,3} (\d+(?:\.\d+)?)[. ]", doc, re.M))
    cited = subprocess.run(
        ["git", "-C", str(REPO), "grep", "-ho", r"docs/model.md`* §[0-9.§, -]*"],
        capture_output=True,
        text=True,
    ).stdout
    for ref in re.findall(r"§(\d+(?:\.\d+)?)", cited):
        assert ref in sections, f"docs/model.md has no section {ref}"
