"""``mcstudy merge``: the final dataset of a (sharded) run, with its gaps reported."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from mcstudy.storage.assemble import assemble
from mcstudy.storage.dataset import write_dataset
from mcstudy.storage.manifest import build_manifest, write_manifest
from mcstudy.storage.rundir import RunDir, resolve_run_dir
from mcstudy.sweep.point import point_code_version
from mcstudy.sweep.status import MAX_LISTED


@dataclass
class MergeReport:
    """What ``merge_run`` wrote and what is missing."""

    dataset_path: Path
    counts: dict[str, int]
    pending: list[int]
    failed: list[int]
    lines: list[str] = field(default_factory=list)

    @property
    def gaps(self) -> bool:
        return bool(self.pending or self.failed)


def _listed(indices: list[int]) -> str:
    shown = ", ".join(map(str, indices[:MAX_LISTED]))
    return shown + (
        f", ... ({len(indices) - MAX_LISTED} more)" if len(indices) > MAX_LISTED else ""
    )


def merge_run(run_dir: str | Path, out: str | Path | None = None) -> MergeReport:
    """Assemble the run's dataset from its verified point files, write it atomically
    (and the full ``manifest.json``), and report gaps. Never merges a damaged or foreign
    point file: those points count as pending."""
    rd = RunDir(resolve_run_dir(run_dir))
    rd.check_path()
    rd.info()  # a clear error for anything that is not a run directory
    # the dataset goes next to the run directory, named after it: never where the
    # contents of study.json would send it
    target = Path(out) if out is not None else rd.dataset_path()
    with rd.lock(role="merge"):  # shared: shards may run; a whole run may not
        rd.clean_stale(everything=False)
        asm = assemble(rd.path, point_code_version(rd.load_study().model))
        write_dataset(asm.dataset, target)
        points = range(asm.study.n_points)
        write_manifest(
            rd.manifest_file(),
            build_manifest(
                asm.study,
                points,
                asm.records,
                config_hash=asm.study.config_hash(),
                code_version=asm.code,
                invalid=asm.invalid,
            ),
        )
    c = asm.counts
    report = MergeReport(target, c, asm.pending, asm.failed)
    report.lines.append(
        f"wrote {target} ({len(points)} points: {c['done']} done, {c['failed']} failed, "
        f"{c['pending']} pending)"
    )
    for _, _, reason in asm.invalid:
        report.lines.append(f"unusable point file, not merged: {reason}")
    if asm.code_differs:
        report.lines.append(
            "note: the points were computed by another code version than this mcstudy; "
            "the dataset records theirs"
        )
    if asm.pending:
        report.lines.append(f"gap: {len(asm.pending)} pending point(s): {_listed(asm.pending)}")
    if asm.failed:
        report.lines.append(f"gap: {len(asm.failed)} failed point(s): {_listed(asm.failed)}")
    if report.gaps:
        report.lines.append(
            f"missing points are NaN with point_status; see `mcstudy status {rd.path}`, "
            "rerun the missing shards (or `mcstudy run ... --resume --retry-failed`) and "
            "merge again"
        )
    return report
