"""``mcstudy status``: what a run directory holds, read from its point files.

Read-only: it verifies every point file (checksums, config hash, code version) but
moves, deletes and writes nothing.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, overload

from mcstudy.findings import Finding, format_findings, notes_of, real_findings, study_findings
from mcstudy.fmt import findings_count, text_width
from mcstudy.storage.assemble import Collector
from mcstudy.storage.errors import RunDirError
from mcstudy.storage.points import DONE, FAILED, PENDING, error_line, findings_of
from mcstudy.storage.rundir import RunDir
from mcstudy.storage.version import describe, same_code
from mcstudy.study import Point, Study
from mcstudy.sweep.point import point_code_version

MAX_LISTED = 20


@dataclass
class RunStatus:
    """Counts and details of a run directory."""

    run_dir: Path
    study: Study
    info: dict[str, Any]
    points: PointsView
    records: dict[int, dict[str, Any]]
    invalid: list[tuple[Path, int | None, str]] = field(default_factory=list)
    code_differs: bool = False
    values: Collector | None = None
    """the done points' values, taken as the scan read them (None: from whole records)"""

    @property
    def counts(self) -> dict[str, int]:
        out = {DONE: 0, FAILED: 0, PENDING: 0}
        for p in self.points:
            body = self.records.get(p.index)
            out[PENDING if body is None else body["status"]] += 1
        return out

    @property
    def failed(self) -> list[int]:
        return [i for i, b in sorted(self.records.items()) if b["status"] == FAILED]

    @property
    def pending(self) -> list[int]:
        return [p.index for p in self.points if p.index not in self.records]

    @property
    def findings(self) -> list[Finding]:
        """Findings and notes of the done points (``mcstudy.findings.study_findings``)."""
        values = self.values
        if values is None:
            values = Collector(self.study)
            for i, b in self.records.items():
                if b["status"] == DONE and "values" in b:
                    values.add(i, b)
        done = values.rows(i for i, b in sorted(self.records.items()) if b["status"] == DONE)
        stored = [f for _, b in sorted(self.records.items()) for f in findings_of(b)]
        return study_findings(self.study.model, done, stored)


class PointsView(Sequence[Point]):
    """The points of a study by index, made when asked for and not validated (their
    coordinates are all status needs): no list of 1e5 validated points."""

    def __init__(self, study: Study) -> None:
        self._study = study

    def __len__(self) -> int:
        return self._study.n_points

    @overload
    def __getitem__(self, i: int) -> Point: ...
    @overload
    def __getitem__(self, i: slice) -> list[Point]: ...
    def __getitem__(self, i: int | slice) -> Point | list[Point]:
        if isinstance(i, slice):
            return [self[k] for k in range(*i.indices(len(self)))]
        k = i + len(self) if i < 0 else i
        return Point(k, self._study.coords_of(k), None)  # type: ignore[arg-type]


def default_run_dir() -> Path:
    """The run directory of ``mcstudy run`` without arguments (``outputs/default.run``
    in a checkout); RunDirError saying how to make it or name another if it is absent."""
    from mcstudy.storage.rundir import run_dir_for
    from mcstudy.study import default_config, default_output, load_study

    path = run_dir_for(default_output(load_study(default_config())))
    if not path.exists():
        raise RunDirError(
            f"{path}: no run here (the default run, which `mcstudy run` makes); give the "
            "run to look at: mcstudy status outputs/<name>.nc"
        )
    return path


def run_status(run_dir: str | Path) -> RunStatus:
    """Scan a run directory (RunDirError if it is not one, or if it or its points/ is a
    symbolic link or another non-directory, as ``run`` and ``merge`` refuse)."""
    rd = RunDir(run_dir)
    rd.check_path()
    info = rd.info()
    study = rd.load_study()
    points = PointsView(study)
    values = Collector(study)
    scan = rd.scan(study, info["code_version"], sink=values.add)  # slim records: ~1 KB a point
    differs = not same_code(info["code_version"], point_code_version(study.model))
    return RunStatus(rd.path, study, info, points, scan.records, scan.invalid, differs, values)


def _coords(point: Point) -> str:
    return ", ".join(f"{k}={v}" for k, v in point.coords.items())


def _indices(indices: list[int]) -> str:
    shown = ", ".join(str(i) for i in indices[:MAX_LISTED])
    more = f", ... ({len(indices) - MAX_LISTED} more)" if len(indices) > MAX_LISTED else ""
    return shown + more


def _fill(text: str, width: int, indent: str = "") -> str:
    return textwrap.fill(
        text,
        width,
        initial_indent=indent,
        subsequent_indent=indent + "  ",
        break_long_words=False,
        break_on_hyphens=False,
    )


def format_status(st: RunStatus, width: int | None = None) -> str:
    """The text ``mcstudy status`` prints, wrapped to ``width`` columns (default: the
    terminal's width, at most 100; 100 when stdout is not a terminal)."""
    width = width or text_width()
    c = st.counts
    info = st.info
    lines = [
        f"{st.run_dir}: study {st.study.name!r} (model {st.study.section.model}, "
        f"config {str(info.get('config_hash'))[:12]}, {describe(info['code_version'])})",
        f"points: {len(st.points)} total, {c[DONE]} done, {c[FAILED]} failed, {c[PENDING]} pending",
    ]
    if st.code_differs:
        lines.append(
            f"note: this mcstudy is {describe(point_code_version(st.study.model))}; --resume "
            "would refuse to mix its results with these"
        )
    if st.failed:
        lines.append("failed:")
        for i in st.failed[:MAX_LISTED]:
            body = st.records[i]
            prov = body.get("provenance") or {}
            lines.append(
                _fill(
                    f"point {i} ({_coords(st.points[i])}), seed {body.get('seed')}: "
                    f"{error_line(body)} [attempt {prov.get('attempt', 1)}, "
                    f"host {prov.get('host')}]",
                    width,
                    "  ",
                )
            )
        if len(st.failed) > MAX_LISTED:
            lines.append(f"  ... and {len(st.failed) - MAX_LISTED} more (see manifest.json)")
    found = st.findings

    def where(i: int) -> str:
        return f"point {i} ({_coords(st.points[i])})"

    for title, group in (("findings", real_findings(found)), ("notes", notes_of(found))):
        if group:
            grouped = format_findings(group, where)
            n = findings_count(group, grouped) if title == "findings" else len(group)
            lines.append(_fill(f"{title} ({n}):", width))
            lines += [_fill(line, width, "  ") for line in grouped]
    if st.pending and c[PENDING] < len(st.points):
        lines.append(f"pending points: {_indices(st.pending)}")
    if st.invalid:
        lines.append("unusable point files (never merged; --resume moves them to quarantine/):")
        for _, _, reason in st.invalid[:MAX_LISTED]:
            lines.append(_fill(reason, width, "  "))
    shards = sorted(
        {
            (b.get("provenance") or {}).get("shard")
            for b in st.records.values()
            if (b.get("provenance") or {}).get("shard")
        }
    )
    if shards:
        lines.append(f"shards seen: {', '.join(shards)}")
    if c[PENDING] or c[FAILED] or st.invalid:
        hint = "rerun the same `mcstudy run` command with --resume"
        if c[FAILED]:
            hint += " (add --retry-failed to recompute the failed points)"
        lines.append(
            _fill(f"next: {hint}, or the missing SLURM array tasks, then `mcstudy merge`", width)
        )
    return "\n".join(_fill(x, width) if "\n" not in x and len(x) > width else x for x in lines)
