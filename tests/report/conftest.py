"""Small studies for the report tests: run once per session, in memory, seeded."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest

from mcstudy.errors import ConfigError
from mcstudy.models.registry import get_model, model_names
from mcstudy.storage.dataset import write_dataset
from mcstudy.study import Study, load_study
from mcstudy.sweep.coordinator import run_study

GATHER_TOML = """\
[study]
name = "tiny-gather"
model = "gather"
seed = 7
sequences = 20_000
block_size = 1000
description = "report test study"

[params]
ipi_policy = "broadcast"

[sweep]
kernel = ["v6.3-baremetal", "v6.3-kvm-pv", "v6.14-pt-reclaim"]
gfp_nowait_fail_p = [0.001, 0.05, 0.3]
tables_per_gather = [1, 510, 5000]
"""


def toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return f'"{v}"'
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    return repr(v)


def small_study_toml(model: str, sequences: int = 2000, block_size: int = 250) -> str:
    """A 2 x 2 sweep of the model's warm-up parameters (any registered model).

    The two swept parameters are the first numeric warm-up parameters whose halved
    value still validates at every point.
    """
    params = dict(get_model(model).warmup_params())
    numeric = [
        k for k, v in params.items() if isinstance(v, (int, float)) and not isinstance(v, bool)
    ]

    def text(sweep: dict[str, list[Any]]) -> str:
        fixed = {k: v for k, v in params.items() if k not in sweep}
        lines = [
            "[study]",
            f'name = "small-{model}"',
            f'model = "{model}"',
            "seed = 11",
            f"sequences = {sequences}",
            f"block_size = {block_size}",
            "[params]",
            *(f"{k} = {toml_value(v)}" for k, v in fixed.items()),
            "[sweep]",
            *(f"{k} = {toml_value(v)}" for k, v in sweep.items()),
        ]
        return "\n".join(lines) + "\n"

    def halved(v: Any) -> Any:
        return max(1, v // 2) if isinstance(v, int) else v / 2

    for a, b in itertools.combinations(numeric, 2):
        if halved(params[a]) == params[a] or halved(params[b]) == params[b]:
            continue
        sweep = {a: [halved(params[a]), params[a]], b: [halved(params[b]), params[b]]}
        candidate = text(sweep)
        try:
            load_study_from_text(candidate)
        except ConfigError:
            continue
        return candidate
    return text({})


def load_study_from_text(text: str) -> Study:
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "study.toml"
        path.write_text(text)
        return load_study(path)


def run_to_file(text: str, directory: Path, name: str) -> Path:
    cfg = directory / f"{name}.toml"
    cfg.write_text(text)
    study = load_study(cfg)
    ds = run_study(study, show_progress=False)
    return write_dataset(ds, directory / f"{name}.nc")


@pytest.fixture(scope="session")
def gather_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The small gather study of these tests (27 points x 20,000 sequences)."""
    return run_to_file(GATHER_TOML, tmp_path_factory.mktemp("gather"), "tiny-gather")


ONE_AXIS_TOML = """\
[study]
name = "axis"
model = "gather"
seed = 5
sequences = 6000
block_size = 1000

[params]
tables_per_gather = 1018

[sweep]
gfp_nowait_fail_p = [0.01, 0.1, 0.5]
"""


@pytest.fixture(scope="session")
def axis_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A one-axis gather study (3 points x 6,000 sequences)."""
    return run_to_file(ONE_AXIS_TOML, tmp_path_factory.mktemp("axis"), "axis")


@pytest.fixture(scope="session")
def gather_report(gather_dataset: Path, tmp_path_factory: pytest.TempPathFactory):
    """(report path, figures directory) of the small gather study."""
    from mcstudy.report.build import write_report

    out = tmp_path_factory.mktemp("gather-report")
    figures = out / "figures"
    path = write_report(gather_dataset, out / "report.html", figures, convergence_seconds=4.0)
    return path, figures


@pytest.fixture(scope="session", params=sorted(model_names()))
def model_dataset(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    """(model name, dataset path) of a 2 x 2 study of every registered model."""
    model = request.param
    text = small_study_toml(model)
    return model, run_to_file(text, tmp_path_factory.mktemp(f"model-{model}"), f"small-{model}")
