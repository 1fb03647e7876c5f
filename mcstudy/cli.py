"""The ``mcstudy`` command line: the group, and the commands of each package's ``cli``."""

from __future__ import annotations

from mcstudy.sweep.interrupt import ignore_sigint_at_exit, install_at_start, raise_on_sigint

# first, before click, NumPy and SciPy load: Ctrl-C from here on exits 130 with one line
install_at_start()

import importlib  # noqa: E402
from typing import Any  # noqa: E402

import click  # noqa: E402

from mcstudy import __version__  # noqa: E402
from mcstudy.sweep.cli import COMMANDS as SWEEP_COMMANDS  # noqa: E402

_LAZY = {
    "bench": ("mcstudy.bench.cli", "bench"),
    "calibrate": ("mcstudy.calibrate.cli", "calibrate_command"),
    "probe": ("mcstudy.probe.cli", "probe"),
    "report": ("mcstudy.report.cli", "report"),
    "validate": ("mcstudy.validate.cli", "validate"),
    "lab": ("mcstudy.lab.cli", "lab"),
}
"""Commands imported when used (``mcstudy run`` starts without loading them)."""
OWN_SIGINT = frozenset({"bench", "probe", "validate", "lab"})
"""Commands that stop their child processes (QEMU guests, probe workers, measured runs)
and clean up as ``KeyboardInterrupt`` unwinds them: Ctrl-C raises it in them once they
start, as Python does by default. Every other command ends at once with status 130."""


class _Group(click.Group):
    """A command group whose command list shows each command's whole first sentence
    (click cuts it to the terminal width with "..."), and which imports the commands of
    ``_LAZY`` only when they are called or listed."""

    def main(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().main(*args, **kwargs)
        finally:  # the command is done: a Ctrl-C while Python shuts down changes nothing
            ignore_sigint_at_exit()

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *_LAZY})

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        name, cmd, rest = super().resolve_command(ctx, args)
        if name in OWN_SIGINT:  # about to run it: Ctrl-C raises KeyboardInterrupt there
            raise_on_sigint()
        return name, cmd, rest

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in _LAZY and name not in self.commands:
            module, attr = _LAZY[name]
            self.add_command(getattr(importlib.import_module(module), attr), name)
        return super().get_command(ctx, name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = []
        for name in self.list_commands(ctx):
            cmd = self.get_command(ctx, name)
            if cmd is not None and not cmd.hidden:
                rows.append((name, cmd.get_short_help_str(limit=1000)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="mcstudy")
def main() -> None:
    """Monte Carlo study of Linux page-table freeing under memory pressure.

    Runs parameter sweeps of the tlb_remove_table() fallback model (and others) from
    TOML configs into labelled netCDF datasets under outputs/.
    """


for _command in SWEEP_COMMANDS:
    main.add_command(_command)

if __name__ == "__main__":  # pragma: no cover
    main()
