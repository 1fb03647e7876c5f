"""The first ten minutes: ``--set`` as a user types it, errors that name where a value
came from and list every problem at once, sweeps sized before anything is written, the
default study from anywhere, and help that is not cut off."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from mcstudy.cli import main
from mcstudy.errors import ConfigError
from mcstudy.study import DEFAULT_CONFIG, PACKAGED_DEFAULT, default_config, load_study
from tests.paths import REPO
from tests.sweep.helpers import write_config

GATHER = REPO / "configs" / "default.toml"
SMALL = """
[study]
name = "s"
model = "gather"
seed = 1
sequences = 1000

[params]
tables_per_gather = 8

[sweep]
gfp_nowait_fail_p = [0.01, 0.1]
"""


def small(tmp_path: Path) -> Path:
    p = tmp_path / "s.toml"
    p.write_text(SMALL)
    return p


def test_set_a_one_value_sweep_and_integers_in_float_notation(tmp_path):
    study = load_study(small(tmp_path), ["sweep.kernel=v6.15", "study.sequences=1e6"])
    assert study.sweep["kernel"] == ["v6.15"] and study.shape == (2, 1)
    assert study.section.sequences == 1_000_000 and isinstance(study.section.sequences, int)
    study = load_study(
        small(tmp_path), ["sweep.kernel=[v6.15, v6.3-kvm-pv]", "tables_per_gather=5e2"]
    )
    assert study.sweep["kernel"] == ["v6.15", "v6.3-kvm-pv"]
    assert study.params["tables_per_gather"] == 500
    with pytest.raises(ConfigError, match=r"sequences = 1.5: expected a valid integer"):
        load_study(small(tmp_path), ["study.sequences=1.5"])


def test_errors_of_set_name_the_option(tmp_path):
    with pytest.raises(ConfigError) as err:
        load_study(small(tmp_path), ["kernel_mode_fraction=2"])
    assert str(err.value).startswith("--set kernel_mode_fraction=2: [params] kernel_mode_fraction")
    assert str(small(tmp_path)) not in str(err.value)


def test_unknown_keys_get_a_did_you_mean(tmp_path):
    cases = {
        "ipi_polcy=broadcast": "did you mean 'ipi_policy'?",
        "study.sequencs=5": "did you mean 'sequences'?",
        "study.model=gathr": "did you mean 'gather'?",
        "swep.kernel=v6.15": "did you mean 'sweep'?",
    }
    for item, hint in cases.items():
        with pytest.raises(ConfigError, match=hint.replace("?", r"\?")):
            load_study(small(tmp_path), [item])
    bad = small(tmp_path)
    bad.write_text(SMALL.replace("[params]", "[parms]"))
    with pytest.raises(ConfigError, match=r"unknown table \[parms\].*did you mean 'params'"):
        load_study(bad)


def test_every_bad_value_is_reported_at_once(tmp_path):
    cfg = small(tmp_path)
    cfg.write_text(
        SMALL.replace("sequences = 1000", "sequences = 0")
        .replace("tables_per_gather = 8", "tables_per_gather = 0\nonline_cpu = 4")
        .replace("[0.01, 0.1]", "[0.01, 1.5]")
    )
    with pytest.raises(ConfigError) as err:
        load_study(cfg, ["kernel=v6.99"])
    lines = str(err.value).splitlines()
    text = str(err.value)
    assert "[study] sequences = 0" in text
    assert "[params] online_cpu: unknown parameter" in text and "did you mean 'online_cpus'" in text
    assert len(lines) == 2, lines  # a broken sweep: its points are not validated yet
    cfg.write_text(SMALL.replace("tables_per_gather = 8", "tables_per_gather = 0"))
    with pytest.raises(ConfigError) as err:
        load_study(cfg, ["kernel=v6.99", "sweep.gfp_nowait_fail_p=[0.5, 1.5]"])
    text = str(err.value)
    assert "tables_per_gather = 0" in text and "--set kernel=v6.99" in text
    assert "--set sweep.gfp_nowait_fail_p=[0.5, 1.5]: [sweep] gfp_nowait_fail_p = 1.5" in text


def test_errors_of_a_params_file_name_that_file(tmp_path):
    frag = tmp_path / "calib.toml"
    frag.write_text("[params]\nkernel_mode_fraction = 7.0\n")
    with pytest.raises(ConfigError) as err:
        load_study(small(tmp_path), params_files=[frag])
    assert str(err.value).startswith(f"{frag}: [params] kernel_mode_fraction = 7.0")
    frag.write_text("[params\n")
    with pytest.raises(ConfigError, match=f"{frag}: invalid TOML"):
        load_study(small(tmp_path), params_files=[frag])
    with pytest.raises(ConfigError, match="not a regular file"):
        load_study(small(tmp_path), params_files=[tmp_path])


def test_an_oversize_sweep_is_refused_before_anything_is_written(tmp_path):
    cfg = tmp_path / "huge.toml"
    values = ", ".join(str(i + 1) for i in range(2000))
    cfg.write_text(
        SMALL.replace("tables_per_gather = 8\n", "")
        + f"tables_per_gather = [{values}]\nmm_cpus = [{', '.join(str(i + 1) for i in range(8))}]\n"
        + "online_cpus = [64, 128, 256, 512]\n"
    )
    out = tmp_path / "huge.nc"
    before = sorted(os.listdir(tmp_path))
    res = CliRunner().invoke(main, ["run", str(cfg), "--out", str(out)])
    assert res.exit_code == 2, res.output
    assert "128,000 points (2 x 2000 x 8 x 4); the limit is 100,000" in res.output
    assert "--max-points" in res.output and "Traceback" not in res.output
    assert sorted(os.listdir(tmp_path)) == before
    with pytest.raises(ConfigError, match="the limit is 1,000"):
        load_study(cfg, max_points=1000)
    study = load_study(cfg, ["sweep.online_cpus=[64]"], max_points=40_000)
    assert study.n_points == 32_000


def test_the_default_config_works_outside_the_repository(tmp_path, monkeypatch):
    assert PACKAGED_DEFAULT.is_symlink()  # the shipped copy is the repository's file
    assert PACKAGED_DEFAULT.read_bytes() == GATHER.read_bytes()
    monkeypatch.chdir(tmp_path)
    assert default_config() == PACKAGED_DEFAULT
    monkeypatch.chdir(REPO)
    assert default_config() == DEFAULT_CONFIG


def test_top_level_help_shows_whole_descriptions():
    res = CliRunner().invoke(main, ["--help"])
    assert res.exit_code == 0 and "..." not in res.output.split("Commands:")[1]
    res = CliRunner().invoke(main, ["calibrate", "--help"])
    assert "NUMA node whose zone serves" in res.output


def test_status_exits_1_until_every_point_is_done(tmp_path):
    cfg = write_config(tmp_path)
    out = tmp_path / "x.nc"
    args = ["run", str(cfg), "--out", str(out), "--quiet", "--no-report"]
    assert CliRunner().invoke(main, args).exit_code == 0
    assert CliRunner().invoke(main, ["status", str(out)]).exit_code == 0
    (tmp_path / "x.run" / "points" / "point-0000002.json").unlink()
    res = CliRunner().invoke(main, ["status", str(out)])
    assert res.exit_code == 1 and "1 pending" in res.output


def test_adaptive_summary_gives_the_sequences_run(tmp_path):
    cfg = write_config(tmp_path, extra_study="target_rel_err = 0.05\nmax_sequences = 200_000")
    out = tmp_path / "a.nc"
    res = CliRunner().invoke(main, ["run", str(cfg), "--out", str(out), "--quiet", "--no-report"])
    assert res.exit_code == 0, res.output
    ds = load_study(cfg)
    summary = " ".join(res.output.split("\n  local")[0].split())  # the wrapped "wrote" line
    low, high = summary.split(" points x ")[1].split(" sequences")[0].split(" (")[0].split("..")
    assert int(low) >= ds.section.sequences and int(high) <= 200_000 and int(high) > int(low)
    assert "(adaptive, target 0.05)" in summary


def test_report_regenerate_commands_run_in_the_same_checkout(tmp_path):
    from mcstudy.report.meta import regenerate_commands
    from mcstudy.storage.dataset import open_dataset

    cfg = write_config(tmp_path)
    out = tmp_path / "x.nc"
    assert (
        CliRunner()
        .invoke(main, ["run", str(cfg), "--out", str(out), "--quiet", "--no-report"])
        .exit_code
        == 0
    )
    cmd = regenerate_commands(open_dataset(out), out, out.with_suffix(".html"))[0]
    assert "--restart" in cmd
    args = cmd.split()[2:]
    res = CliRunner().invoke(main, ["run", *args, "--quiet"])
    assert res.exit_code == 0, res.output


def test_ci_runs_the_readme_commands_as_written():
    readme = (REPO / "README.md").read_text()
    ci = (REPO / ".ci" / "run").read_text()
    quick = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    blocks = [b.split("```", 1)[0].strip() for b in quick.split("```sh\n")[1:]]
    commands = [line for b in blocks for line in b.splitlines() if not line.startswith("#")]
    assert len(commands) == 2 and all(c.startswith("python3 -m venv .venv && ") for c in commands)
    test_command = commands[1]
    assert test_command.endswith("python -m pytest -q")
    assert test_command in ci.splitlines()
    assert "python -m pytest benchmarks --benchmark-disable --bench-quick -q" in ci


def test_a_sweep_too_big_for_memory_is_refused(tmp_path, monkeypatch):
    import mcstudy.study as study_mod

    monkeypatch.setattr(study_mod, "_available_memory", lambda: 1 << 30)  # a 1 GiB machine
    cfg = tmp_path / "thp.toml"
    cfg.write_text((REPO / "configs" / "thp.toml").read_text())
    many = ", ".join(str(0.5 + i) for i in range(1500))
    with pytest.raises(ConfigError, match=r"GiB of bookkeeping memory, more than half of the 1\.0"):
        load_study(cfg, [f"sweep.fault_rate=[{many}]"])  # 54,000 points x 12 KB
    per_point = study_mod.bytes_per_point(load_study(cfg).model)
    assert 8_000 < per_point < 16_000  # a slim record and the THP model's 135 columns


@pytest.mark.parametrize(
    ("sweep", "said"),
    [
        ("[1, 1.0]", "1 and 1.0 are the same value"),
        ("[0.0, -0.0]", "0.0 and -0.0 are the same value"),
        ("[0.01, 1e-2]", "repeated values [0.01, 0.01]"),
    ],
)
def test_sweep_values_equal_as_numbers_are_repeated(tmp_path, sweep, said):
    """A sweep list is compared as values of the field's type, not as text: [1, 1.0] of a
    float would give a coordinate with the same value twice."""
    cfg = small(tmp_path)
    cfg.write_text(SMALL.replace("[0.01, 0.1]", sweep))
    with pytest.raises(ConfigError, match="repeated values") as err:
        load_study(cfg)
    assert said in str(err.value) and "[sweep] gfp_nowait_fail_p" in str(err.value)
    # an integer field: 8 and 8.0 from the command line are one value
    with pytest.raises(ConfigError, match=r"repeated values \[8, 8\] \(8 twice\)"):
        load_study(small(tmp_path), ["sweep.tables_per_gather=[8, 8.0]"])


def test_fixing_a_swept_key_says_which_axis_goes(tmp_path):
    cfg = small(tmp_path)
    cfg.write_text(SMALL.replace("[sweep]", '[sweep]\nkernel = ["v6.3-kvm-pv", "v6.15"]'))
    assert load_study(cfg).n_points == 4
    study = load_study(cfg, ["kernel=v6.15"])
    assert study.n_points == 2 and "kernel" not in study.sweep
    (note,) = study.notes
    assert note.startswith("--set kernel=v6.15 fixes kernel, which s.toml sweeps over 2 values")
    assert "that axis is removed" in note and "2 points instead of 4" in note
    assert "--set sweep.kernel=v6.15" in note
    assert load_study(cfg, ["sweep.kernel=v6.15"]).notes == ()  # a one-value axis: no note
    out = ["--out", str(tmp_path / "k.nc"), "--quiet", "--no-report"]
    res = CliRunner().invoke(
        main, ["run", str(cfg), "--set", "kernel=v6.15", "--set", "study.sequences=100", *out]
    )
    assert res.exit_code == 0, res.output
    assert "mcstudy: note: --set kernel=v6.15 fixes kernel" in res.stderr


def test_a_variant_gets_its_own_output_and_the_mismatch_says_what_differs(tmp_path, monkeypatch):
    """The README's variant command after the quick start: its own default output (the
    default run's results stay), and a clash with an explicit --out names each change."""
    from mcstudy.study import default_output

    cfg = small(tmp_path)
    cfg.write_text(SMALL.replace("[sweep]", '[sweep]\nkernel = ["v6.3-kvm-pv", "v6.15"]'))
    monkeypatch.chdir(tmp_path)
    base = ["run", str(cfg), "--quiet", "--no-report"]
    assert CliRunner().invoke(main, base).exit_code == 0
    before = sorted((tmp_path / "outputs" / "s.run" / "points").iterdir())
    variant = ["--set", "kernel=v6.15", "--set", "gfp_nowait_fail_p=0.1"]
    res = CliRunner().invoke(main, [*base, *variant])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "outputs" / "s-kernel-v6.15-gfp_nowait_fail_p-0.1.nc").is_file()
    assert sorted((tmp_path / "outputs" / "s.run" / "points").iterdir()) == before
    assert default_output(load_study(cfg)) == Path("outputs/s.nc")
    assert default_output(load_study(cfg, ["study.name=v"])) == Path("outputs/v.nc")
    odd = load_study(cfg, ['description="a b/c"'])
    assert default_output(odd).name.startswith("s-variant-")  # not a readable file name
    # the same variant on the default run's output: refused, saying exactly what differs
    res = CliRunner().invoke(main, [*base, *variant, "--out", "outputs/s.nc"])
    assert res.exit_code == 2
    err = " ".join(res.stderr.split())
    assert "holds 4 committed point(s) of a different config" in err
    assert "kernel: swept over ['v6.3-kvm-pv', 'v6.15'] -> fixed at 'v6.15'" in err
    assert "gfp_nowait_fail_p: swept over [0.01, 0.1] -> fixed at 0.1" in err
    assert "order of the [sweep] keys" not in err
    assert "--out OTHER.nc (they stay)" in err and "--restart to discard those 4" in err


def test_status_without_an_argument_looks_at_the_default_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    res = CliRunner().invoke(main, ["status"])
    assert res.exit_code == 2
    assert "outputs/default.run: no run here (the default run" in res.stderr
    run = tmp_path / "outputs" / "default.run"
    cfg = write_config(tmp_path)
    args = ["run", str(cfg), "--out", str(run.with_suffix(".nc")), "--quiet", "--no-report"]
    assert CliRunner().invoke(main, args).exit_code == 0
    # (the run holds another study than the default config's: status reads study.json)
    res = CliRunner().invoke(main, ["status"])
    assert res.exit_code == 0, res.output
    assert res.output.startswith("outputs/default.run: study 'small'")
