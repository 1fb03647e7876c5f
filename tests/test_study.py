"""Config validation: every key checked, one clear error naming file, key and expectation."""

from __future__ import annotations

from pathlib import Path

import pytest

from mcstudy.errors import ConfigError
from mcstudy.study import load_study, parse_override

GOOD = """
[study]
name = "t"
model = "gather"
seed = 1
sequences = 1000

[params]
ipi_policy = "broadcast"
tables_per_gather = 600

[sweep]
gfp_nowait_fail_p = [0.01, 0.3]
kernel = ["v6.3-kvm-pv", "v6.15"]
"""


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "study.toml"
    p.write_text(text)
    return p


def test_good_config_points_in_c_order(tmp_path):
    study = load_study(write(tmp_path, GOOD))
    assert study.shape == (2, 2)
    pts = list(study.points())
    assert [pt.index for pt in pts] == [0, 1, 2, 3]
    assert pts[1].coords == {"gfp_nowait_fail_p": 0.01, "kernel": "v6.15"}
    assert pts[1].params.tables_per_gather == 600
    assert len(study.config_hash()) == 64


@pytest.mark.parametrize(
    ("edit", "fragment"),
    [
        (("ipi_policy", "ipi_polcy"), "[params] ipi_polcy: unknown parameter"),
        (
            ("tables_per_gather = 600", 'tables_per_gather = "600"'),
            "[params] tables_per_gather = '600': expected a valid integer",
        ),
        (
            ("[0.01, 0.3]", "[-0.01, 0.3]"),
            "[sweep] gfp_nowait_fail_p = -0.01: expected greater than or equal to 0",
        ),
        (
            ("[0.01, 0.3]", "[0.01, 1.5]"),
            "[sweep] gfp_nowait_fail_p = 1.5: expected less than or equal to 1",
        ),
        (("[0.01, 0.3]", "[]"), "[sweep] gfp_nowait_fail_p: empty list"),
        (('model = "gather"', 'model = "gathr"'), "[study] model = 'gathr': expected one of"),
        (("seed = 1", "seed = -1"), "[study] seed = -1: expected greater than or equal to 0"),
        (("seed = 1", "seed = 1\nsequnces = 5"), "[study] sequnces: unknown key"),
        (
            ('kernel = ["v6.3-kvm-pv", "v6.15"]', 'kernel = ["v6.4"]'),
            "[sweep] kernel = 'v6.4': expected 'v6.3-baremetal'",
        ),
        (
            ('ipi_policy = "broadcast"', "mm_cpus = 100"),
            "mm_cpus (100) must not exceed online_cpus (64)",
        ),
        (("[sweep]", "[sweeps]"), "unknown table [sweeps]"),
        (
            ("tables_per_gather = 600", "tables_per_gather = 600\nmunmap_mib = 4.0"),
            "exactly one of tables_per_gather and munmap_mib",
        ),
    ],
)
def test_bad_configs_give_one_clear_error(tmp_path, edit, fragment):
    old, new = edit
    assert old in GOOD
    path = write(tmp_path, GOOD.replace(old, new, 1))
    with pytest.raises(ConfigError) as info:
        load_study(path)
    message = str(info.value)
    assert str(path) in message
    assert fragment in message


def test_missing_file_and_bad_toml(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_study(tmp_path / "nope.toml")
    with pytest.raises(ConfigError, match="invalid TOML"):
        load_study(write(tmp_path, "[study\nname="))


def test_missing_required_parameter(tmp_path):
    text = GOOD.replace("gfp_nowait_fail_p = [0.01, 0.3]\n", "")
    with pytest.raises(
        ConfigError, match=r"\[params\] gfp_nowait_fail_p: required parameter is missing"
    ):
        load_study(write(tmp_path, text))


def test_overrides_and_params_files(tmp_path):
    frag = tmp_path / "frag.toml"
    frag.write_text("[params]\nonline_cpus = 128\n")
    study = load_study(
        write(tmp_path, GOOD),
        overrides=["seed=9", "params.mm_cpus=16", "sweep.tables_per_gather=[1, 2]", "kernel=v6.15"],
        params_files=[frag],
    )
    assert study.section.seed == 9
    assert study.params["online_cpus"] == 128
    assert study.params["kernel"] == "v6.15" and "kernel" not in study.sweep
    assert study.sweep["tables_per_gather"] == [1, 2] and "tables_per_gather" not in study.params
    assert parse_override("x=0.5") == ("params", "x", 0.5)
    with pytest.raises(ConfigError):
        parse_override("novalue")
