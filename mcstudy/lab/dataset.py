"""The lab's result as an xarray dataset (netCDF through :mod:`mcstudy.storage.dataset`).

An ordinary mcstudy dataset (``attrs["mcstudy_format"]``) told apart by
``attrs["model"] = "lab"``. Dimensions:

* ``check``: the rows in the probe's long format (:func:`mcstudy.probe.dataset.check_variables`);
* ``level`` x ``window`` (x ``cpu``): every work and no-work window of every pressure
  level, its length, gathers, function-call IPIs and sync-IPI callbacks per CPU, and the
  zone's allocations, stalls and swap-outs;
* ``gather``: every gather of the workload, its level and block, tables, attempts,
  failures and fallbacks, and whether its first attempt failed;
* ``level``: the zone chain calibrated from the guest and its prediction.

Attributes carry the guest (kernel package, release, command line), the matched profile,
the request, the within-gather facts, the verdict and provenance.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

import numpy as np
import xarray as xr

from mcstudy.lab.experiment import LabResult, law_verdict
from mcstudy.lab.guestrun import WORK_CPU
from mcstudy.probe.dataset import check_attrs, check_variables
from mcstudy.storage.dataset import FORMAT_NAME, FORMAT_VERSION

MODEL_NAME = "lab"


def _window_array(res: LabResult, fn, dtype=np.int64, fill=-1) -> np.ndarray:
    width = max(len(lv.run.windows) for lv in res.levels)
    out = np.full((len(res.levels), width), fill, dtype=dtype)
    for i, lv in enumerate(res.levels):
        for j, w in enumerate(lv.run.windows):
            out[i, j] = fn(w)
    return out


def _cpu_array(res: LabResult, fn) -> np.ndarray:
    width = max(len(lv.run.windows) for lv in res.levels)
    out = np.full((len(res.levels), width, res.online), -1, dtype=np.int64)
    for i, lv in enumerate(res.levels):
        for j, w in enumerate(lv.run.windows):
            vals = fn(w)
            for c in range(res.online):
                out[i, j, c] = vals.get(c, 0) if isinstance(vals, dict) else vals[c]
    return out


def build_lab_dataset(res: LabResult, provenance: dict[str, Any]) -> xr.Dataset:
    """Assemble the rows and the raw per-window and per-gather data."""
    rows = res.rows
    gathers = [
        (i, b, g) for i, lv in enumerate(res.levels) for b, bl in enumerate(lv.blocks) for g in bl
    ]
    batch = res.profile.profile.max_table_batch
    via = res.profile.profile.uses_tlb_remove_table

    def tables(g) -> int:
        return g.tables(batch) if via else sum(g.free_calls.values())

    cal = [lv.calibration for lv in res.levels]

    def cal_var(name: str) -> np.ndarray:
        return np.array([getattr(c, name) if c is not None else np.nan for c in cal], dtype=float)

    def zone_var(name: str) -> np.ndarray:
        """A field of each level's calibrated zone chain (NaN: no calibration)."""
        return np.array(
            [getattr(c.chain, name) if c is not None else np.nan for c in cal], dtype=float
        )

    data_vars: dict[str, tuple] = {
        **check_variables(rows),
        "not_measurable": (
            ("check",),
            np.array([r.not_measurable for r in rows], dtype=object),
            {"long_name": "why this kernel cannot measure the row ('' if it can)"},
        ),
        "not_predicted": (
            ("check",),
            np.array([r.not_predicted for r in rows], dtype=object),
            {
                "long_name": "why the model gives no number for the row ('' if it does; "
                "the row then checks that the measurement is above zero)"
            },
        ),
        "window_kind": (
            ("level", "window"),
            _window_array(res, lambda w: w.kind, dtype=object, fill=""),
            {"long_name": "work (a block of gathers) or idle (the no-work window after it)"},
        ),
        "window_seconds": (
            ("level", "window"),
            _window_array(res, lambda w: w.seconds, dtype=float, fill=np.nan),
            {"units": "s", "long_name": "length of the window"},
        ),
        "window_gathers": (
            ("level", "window"),
            _window_array(res, lambda w: w.gathers),
            {"units": "gathers", "long_name": "gathers run in the window"},
        ),
        "window_allocstall": (
            ("level", "window"),
            _window_array(res, lambda w: w.vmstat_delta("allocstall")),
            {"units": "stalls", "long_name": "direct-reclaim stalls (vmstat allocstall)"},
        ),
        "window_pswpout": (
            ("level", "window"),
            _window_array(res, lambda w: w.vmstat_delta("pswpout")),
            {"units": "pages", "long_name": "pages swapped out (vmstat pswpout)"},
        ),
        "window_pgalloc": (
            ("level", "window"),
            _window_array(res, lambda w: w.vmstat_delta("pgalloc")),
            {"units": "pages", "long_name": "pages allocated (vmstat pgalloc_*)"},
        ),
        "function_call_ipis": (
            ("level", "window", "cpu"),
            _cpu_array(res, lambda w: w.function_calls()),
            {"units": "IPIs", "long_name": "function-call interrupts received (/proc/interrupts)"},
        ),
        "sync_callbacks": (
            ("level", "window", "cpu"),
            _cpu_array(
                res,
                lambda w: (
                    w.hist_delta("callback/hist")
                    if any(p.endswith("callback/hist") for p in w.begin)
                    else {}
                ),
            ),
            {"units": "IPIs", "long_name": "tlb_remove_table_smp_sync() runs per CPU"},
        ),
        "gather_level": (("gather",), np.array([i for i, _, _ in gathers], dtype=np.int64), {}),
        "gather_block": (("gather",), np.array([b for _, b, _ in gathers], dtype=np.int64), {}),
        "gather_tables": (
            ("gather",),
            np.array([tables(g) for _, _, g in gathers], dtype=np.int64),
            {"units": "tables"},
        ),
        "gather_attempts": (
            ("gather",),
            np.array([len(g.attempts) for _, _, g in gathers], dtype=np.int64),
            {"units": "attempts", "long_name": "batch-page attempts"},
        ),
        "gather_failures": (
            ("gather",),
            np.array([g.failures for _, _, g in gathers], dtype=np.int64),
            {"units": "attempts", "long_name": "failed batch-page attempts"},
        ),
        "gather_fallbacks": (
            ("gather",),
            np.array([g.fallbacks for _, _, g in gathers], dtype=np.int64),
            {
                "units": "fallbacks",
                "long_name": "fallbacks seen on their path: rounds sent, call_rcu() of one "
                "table, or waits in tlb_remove_table_sync_rcu()",
            },
        ),
        "gather_fallback_wait": (
            ("gather",),
            np.array([sum(g.waits) for _, _, g in gathers], dtype=np.float64),
            {"units": "s", "long_name": "time the task waited in tlb_remove_table_sync_rcu()"},
        ),
        "gather_first_failed": (
            ("gather",),
            np.array([bool(g.attempts and g.attempts[0].failed) for _, _, g in gathers]),
            {"long_name": "the gather's first batch-page attempt failed"},
        ),
        "zone_managed_pages": (("level",), zone_var("managed_pages"), {"units": "pages"}),
        "zone_wmark_min": (("level",), zone_var("wmark_min"), {"units": "pages"}),
        "zone_wmark_low": (("level",), zone_var("wmark_low"), {"units": "pages"}),
        "zone_wmark_high": (("level",), zone_var("wmark_high"), {"units": "pages"}),
        "zone_alloc_rate": (("level",), zone_var("alloc_rate"), {"units": "pages/s"}),
        "zone_free_rate": (("level",), zone_var("free_rate"), {"units": "pages/s"}),
        "zone_kswapd_rate": (("level",), zone_var("kswapd_rate"), {"units": "batches/s"}),
        "zone_direct_reclaim_batch": (
            ("level",),
            zone_var("direct_reclaim_batch"),
            {"units": "pages"},
        ),
        "zone_below_min_prob_model": (
            ("level",),
            cal_var("below_min_prob"),
            {"units": "1", "long_name": "P(f <= min) of the calibrated zone chain (exact)"},
        ),
    }
    coords = {
        "check": ("check", np.arange(len(rows))),
        "level": (
            "level",
            np.array([lv.mib for lv in res.levels], dtype=np.int64),
            {"units": "MiB", "long_name": "anonymous-memory churn"},
        ),
        "window": ("window", np.arange(max(len(lv.run.windows) for lv in res.levels))),
        "cpu": ("cpu", np.arange(res.online), {"long_name": "guest CPU id"}),
        "gather": ("gather", np.arange(len(gathers))),
    }
    ds = xr.Dataset(data_vars=data_vars, coords=coords)
    law, law_lines = law_verdict(rows)
    req = res.request
    ds.attrs.update(
        {
            "mcstudy_format": FORMAT_NAME,
            "mcstudy_format_version": FORMAT_VERSION,
            "model": MODEL_NAME,
            "title": f"mcstudy kernel lab: Linux {res.facts.get('release')} ({req.arch}) in QEMU",
            "study_name": "lab",
            "sweep_dims": "[]",
            "params": json.dumps({**asdict(req), "levels": list(req.levels)}),
            "arch": req.arch,
            "kernel_release": res.facts.get("release", ""),
            "machine": res.facts.get("machine", ""),
            "kernel_package": res.prep.kernel_package,
            "kernel_package_version": res.prep.kernel_version,
            "kernel_line": res.prep.kernel_line,
            "kernel_suite": res.prep.suite,
            "kernel_packages": json.dumps(list(res.prep.packages)),
            "kernel_support": json.dumps(asdict(res.support), sort_keys=True),
            "guest_cmdline": res.cmdline,
            "online_cpus": res.online,
            "work_cpu": WORK_CPU,
            "kernel_profile": res.profile.name,
            "profile_basis": json.dumps(list(res.profile.basis)),
            "profile_caveats": json.dumps(list(res.profile.caveats)),
            "max_table_batch": res.profile.profile.max_table_batch,
            "region": json.dumps(
                {
                    "start": res.geometry.start,
                    "end": res.geometry.end,
                    "floor": res.geometry.floor,
                    "ceiling": res.geometry.ceiling,
                }
            ),
            "kprobe_events": res.events,
            "trace_stats": json.dumps({str(k): v for k, v in res.trace_stats.items()}),
            "law_facts": json.dumps(res.law_facts),
            "law_followed": law,
            "law_verdict": json.dumps(law_lines),
            "zone_watermarks_match": json.dumps(
                {
                    str(lv.mib): lv.calibration.watermarks_match
                    for lv in res.levels
                    if lv.calibration
                }
            ),
            "zone_notes": json.dumps(res.zone_notes),
            **check_attrs(rows),
            "guest_seconds": float(res.guest_seconds),
            "provenance": json.dumps(provenance, sort_keys=True, default=str),
        }
    )
    return ds


def is_lab_dataset(ds: xr.Dataset) -> bool:
    """``ds`` was written by ``mcstudy lab``."""
    return ds.attrs.get("model") == MODEL_NAME
