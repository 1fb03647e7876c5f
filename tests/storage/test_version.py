"""The code version: the files a model's results depend on, and nothing else."""

from __future__ import annotations

import importlib.util
import sys

from mcstudy.models.registry import get_model
from mcstudy.storage import version
from mcstudy.storage.version import same_code, source_modules
from mcstudy.sweep import point
from mcstudy.sweep.point import point_code_version as code_version

MODEL_SOURCE = """
from mcstudy.models.gather.model import GatherModel


class TmpModel(GatherModel):
    name = "tmp-version-model"
"""


def _load(path, name):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def test_gather_code_version_covers_its_kernels_and_not_the_rest():
    v = code_version(get_model("gather"))
    for needed in (
        "mcstudy/models/gather/model.py",
        "mcstudy/models/gather/kernels.py",
        "mcstudy/kernel/mmu_gather.py",
        "mcstudy/engine/rng.py",
        "mcstudy/engine/blocks.py",
        "mcstudy/engine/sampling.py",
        "mcstudy/exact/gather.py",
        "mcstudy/kernel/profiles.py",
        "mcstudy/stats/mean.py",
        "mcstudy/stats/proportion.py",
        "mcstudy/sweep/point.py",
    ):
        assert needed in v["sources"], needed
    for unrelated in (
        "mcstudy/cli.py",
        "mcstudy/storage/dataset.py",
        "mcstudy/sweep/coordinator.py",
        "mcstudy/models/thp/model.py",
    ):
        assert unrelated not in v["sources"]
    assert len(v["sources_sha256"]) == 64 and v["mcstudy"]
    assert same_code(v, dict(v)) and not same_code(v, {**v, "mcstudy": "0.0.0"})


def test_editing_a_model_source_changes_the_code_version(tmp_path, monkeypatch):
    path = tmp_path / "tmp_version_model.py"
    path.write_text(MODEL_SOURCE)
    monkeypatch.setattr(version, "_CACHE", {})
    try:
        mod = _load(path, "tmp_version_model")
        model = mod.TmpModel()
        before = code_version(model)
        assert any("tmp_version_model" in s for s in before["sources"])
        assert "mcstudy/models/gather/model.py" in before["sources"]
        assert {m.__name__ for m in source_modules(model, (point,))} >= {"tmp_version_model"}
        assert not same_code(before, code_version(get_model("gather")))

        path.write_text(MODEL_SOURCE + "\n# a comment is a change too\n")
        version._CACHE.clear()
        after = code_version(model)
        assert after["sources"] == before["sources"]
        assert not same_code(before, after)
    finally:
        sys.modules.pop("tmp_version_model", None)
