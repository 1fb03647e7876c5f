"""Provenance: where the numbers come from and how to make them again."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from mcstudy.document.blocks import Block, Code, Paragraph, Section, TableBlock, cell
from mcstudy.document.context import ReportContext
from mcstudy.fmt import count
from mcstudy.report.meta import file_sha256, regenerate_commands

_ORDER = (
    "mcstudy_version",
    "git_commit",
    "git_dirty",
    "config_path",
    "overrides",
    "config_hash",
    "seed",
    "block_size",
    "rng",
    "python_version",
    "numpy_version",
    "numba_version",
    "numba_threading_layer",
    "numba_threads",
    "numba_disable_jit",
    "executor",
    "host",
    "platform",
    "wall_seconds",
    "compile_seconds",
    "run_seconds",
)


def _text(value: Any) -> str:
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True)
    return str(value)


def provenance(ctx: ReportContext) -> list[Section]:
    from mcstudy import __version__
    from mcstudy.storage.provenance import git_commit

    ds = ctx.ds
    prov = ctx.provenance
    blocks: list[Block] = []
    size = ctx.path.stat().st_size
    rows = [
        [cell("file"), cell(ctx.path.name)],
        [cell("size"), cell(f"{count(size)} bytes")],
        [cell("SHA-256"), cell(file_sha256(ctx.path))],
        [
            cell("format"),
            cell(f"{ds.attrs.get('mcstudy_format')} v{ds.attrs.get('mcstudy_format_version')}"),
        ],
        [cell("title"), cell(str(ds.attrs.get("title", "")))],
        [cell("config hash (resolved study)"), cell(str(ds.attrs.get("config_hash", "")))],
    ]
    blocks.append(TableBlock("Dataset", ["item", "value"], rows, key="dataset"))
    keys = [k for k in _ORDER if k in prov] + sorted(
        k for k in prov if k not in _ORDER and k != "config_text"
    )
    rows = [[cell(f"`{k}`"), cell(_text(prov[k]))] for k in keys]
    if rows:
        blocks.append(
            TableBlock(
                "Run provenance (as recorded by the run)", ["key", "value"], rows, key="prov"
            )
        )
    else:
        blocks.append(Paragraph("The dataset records no provenance."))
    if ds.attrs.get("params"):
        blocks.append(Code(_pretty_json(ds.attrs["params"]), "Resolved [params] of the study"))
    if prov.get("config_text"):
        blocks.append(Code(str(prov["config_text"]), f"Config file {prov.get('config_path', '')}"))
    out = ctx.options.get("out_path")
    if out is not None:
        blocks.append(
            Code(
                "\n".join(regenerate_commands(ds, ctx.path, out)),
                "Commands that regenerate the dataset and this report "
                "(from the repository root, at the commit above)",
            )
        )
    here = git_commit()
    blocks.append(
        Paragraph(
            f"Report made by mcstudy {__version__}"
            + (f" at commit {here['git_commit'][:12]}" if here.get("git_commit") else "")
            + (" (uncommitted changes)" if here.get("git_dirty") else "")
            + f" on {dt.datetime.now(dt.UTC).strftime('%Y-%m-%d %H:%M UTC')}."
        )
    )
    commit = prov.get("git_commit")
    lead = f"Seed {ds.attrs.get('seed', '?')}, " + (
        f"commit {str(commit)[:12]}" + (" (dirty)" if prov.get("git_dirty") else "")
        if commit
        else "no git commit recorded"
    )
    return [Section("provenance", "Provenance", blocks, order=90, lead=lead + ".")]


def _pretty_json(text: str) -> str:
    try:
        return json.dumps(json.loads(text), indent=2, sort_keys=True)
    except ValueError:
        return text
