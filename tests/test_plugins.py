"""Entry points: mcstudy finds its models, report sections and answer builders through
them (``pyproject.toml``), and an uninstalled tree says so in one error."""

from __future__ import annotations

import tomllib

import pytest

import mcstudy.models.registry as registry
import mcstudy.plugins as plugins
from mcstudy.document.context import SectionEntry
from mcstudy.errors import McStudyError
from mcstudy.report import catalog
from mcstudy.report.sections import entries
from tests.paths import REPO


def _declared(group: str) -> dict[str, str]:
    doc = tomllib.loads((REPO / "pyproject.toml").read_text())
    return doc["project"]["entry-points"][group]


@pytest.mark.parametrize("group", [plugins.MODELS, plugins.REPORT_SECTIONS, plugins.ANSWERS])
def test_the_installed_entry_points_are_the_declared_ones(group):
    """An edited pyproject.toml needs `pip install -e .` again: this says when it did not."""
    installed = {p.name for p in plugins.load_group(group) if p.distribution == "mcstudy"}
    assert installed == set(_declared(group)), "re-run `python -m pip install -e .`"


def test_every_model_package_and_every_section_entry_is_declared():
    models = {p.name for p in (REPO / "mcstudy" / "models").iterdir() if (p / "model.py").is_file()}
    assert set(_declared(plugins.MODELS)) == models
    mine = {v for k, v in vars(entries).items() if isinstance(v, SectionEntry)}
    declared = set(catalog.entries().values())
    assert mine <= declared
    assert registry.builtin_model_names() == registry.LISTED_ORDER


LOOKUP = """
import json, sys
from mcstudy.models.registry import get_model, is_model, model_names
before = sorted(m for m in sys.modules if m.endswith(".model") and m.startswith("mcstudy.models."))
assert is_model("host") and not is_model("no-such-model")
get_model("host")
after = sorted(m for m in sys.modules if m.endswith(".model") and m.startswith("mcstudy.models."))
print(json.dumps([before, after, list(model_names())]))
"""


def test_looking_up_one_model_imports_only_that_model(repo_root):
    """A run needs one model: its start does not import the others (a cached start's
    time, docs/guide.md); listing the models afterwards still gives every model, in the
    listed order."""
    import json
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-c", LOOKUP], cwd=repo_root, capture_output=True, text=True, check=True
    )
    before, after, names = json.loads(out.stdout.strip().splitlines()[-1])
    assert before == []
    # is_model("no-such-model") had to read every entry point to say no: all are loaded
    assert after == sorted(f"mcstudy.models.{n}.model" for n in registry.LISTED_ORDER)
    assert tuple(names[:4]) == registry.LISTED_ORDER


def test_get_model_alone_imports_one_model(repo_root):
    import subprocess
    import sys

    code = (
        "import sys; from mcstudy.models.registry import get_model; get_model('gather'); "
        "print(sorted(m for m in sys.modules if m.startswith('mcstudy.models.') "
        "and m.endswith('.model')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=repo_root, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip().splitlines()[-1] == "['mcstudy.models.gather.model']"


def test_a_tree_that_was_never_installed_gives_one_clear_error(monkeypatch):
    monkeypatch.setattr(plugins, "entry_points", lambda group: [])
    with pytest.raises(McStudyError, match=r"mcstudy is not installed \(run `python -m pip"):
        plugins.load_group(plugins.MODELS)
    monkeypatch.setattr(registry, "_LOADED", [])
    monkeypatch.setattr(registry, "_REGISTRY", {})
    with pytest.raises(plugins.PluginError, match=r"group 'mcstudy\.models'"):
        registry.get_model("gather")


def test_a_broken_entry_point_is_named(monkeypatch):
    class Broken:
        name = "broken"
        value = "mcstudy.nowhere:Model"
        dist = type("D", (), {"name": "mcstudy"})()

        def load(self):
            raise ImportError("No module named 'mcstudy.nowhere'")

    monkeypatch.setattr(plugins, "entry_points", lambda group: [Broken()])
    with pytest.raises(plugins.PluginError, match=r"'broken' .*mcstudy.nowhere:Model.*ImportError"):
        plugins.load_group(plugins.MODELS)


def test_the_cli_reports_a_missing_entry_point_in_one_line(monkeypatch, tmp_path):
    from click.testing import CliRunner

    from mcstudy.cli import main

    monkeypatch.setattr(plugins, "entry_points", lambda group: [])
    monkeypatch.setattr(registry, "_LOADED", [])
    monkeypatch.setattr(registry, "_REGISTRY", {})
    out = tmp_path / "gather.nc"
    res = CliRunner().invoke(
        main, ["run", str(REPO / "configs" / "gather-grid.toml"), "--out", str(out)]
    )
    assert res.exit_code == 2, res.output
    assert "mcstudy is not installed" in res.output
    assert "Traceback" not in res.output and not out.exists()
