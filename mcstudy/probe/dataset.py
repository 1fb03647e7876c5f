"""The probe's result as an xarray dataset (netCDF through :mod:`mcstudy.storage.dataset`).

It is an ordinary mcstudy dataset (``attrs["mcstudy_format"] = "mcstudy-dataset"``, so
``mcstudy.storage.dataset.open_dataset`` and ``mcstudy show`` read it) told apart by
``attrs["model"] = "probe"``. Dimensions:

* ``check``: one row of measured vs predicted (``measured``, ``predicted``,
  ``noise_halfwidth``, ``agrees``, the raw ``phase_value`` and ``background_*``);
* ``phase`` x ``cpu``: IPIs received per CPU during each phase; ``phase`` x
  ``counter``: counter deltas; ``phase`` x ``baseline`` (x ``cpu``/``counter``): the
  same in the no-work windows.

Attributes carry the kernel facts, the matched profile, the request and provenance.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import xarray as xr

from mcstudy.kernel.policies import MAINLINE_COLLAPSE
from mcstudy.probe.checks import SCOPES, Check
from mcstudy.probe.host import HostFacts, ProbeRequest
from mcstudy.probe.noise import FAMILY_ALPHA
from mcstudy.probe.phases import COUNTER_NAMES
from mcstudy.probe.predict import ProfileMatch
from mcstudy.storage.dataset import FORMAT_NAME, FORMAT_VERSION

MODEL_NAME = "probe"


def _str(values: list[str]) -> np.ndarray:
    return np.array(values, dtype=object)


def check_variables(checks: list[Check]) -> dict[str, tuple]:
    """The ``check`` rows as data variables (one per column of the long format); the
    lab's datasets (``mcstudy.lab.dataset``) use the same."""
    c = checks
    return {
        "check_phase": (
            ("check",),
            _str([x.phase for x in c]),
            {"long_name": "probe phase of the row"},
        ),
        "quantity": (("check",), _str([x.quantity for x in c]), {"long_name": "quantity id"}),
        "label": (("check",), _str([x.label for x in c]), {"long_name": "quantity"}),
        "unit": (
            ("check",),
            _str([x.unit for x in c]),
            {"long_name": "unit of measured/predicted"},
        ),
        "source": (("check",), _str([x.source for x in c]), {"long_name": "kernel counter read"}),
        "scope": (
            ("check",),
            _str([x.scope for x in c]),
            {"long_name": "what the counter sees: this mm, other CPUs or machine"},
        ),
        "basis": (
            ("check",),
            _str([x.basis for x in c]),
            {"long_name": "where the prediction comes from"},
        ),
        "measured": (
            ("check",),
            np.array([x.measured for x in c]),
            {"long_name": "measured, background subtracted (units: see unit)"},
        ),
        "predicted": (
            ("check",),
            np.array([x.predicted for x in c]),
            {"long_name": "model prediction (units: see unit)"},
        ),
        "noise_halfwidth": (
            ("check",),
            np.array([x.halfwidth for x in c]),
            {"long_name": "half-width of the background noise interval (units: see unit)"},
        ),
        "agrees": (
            ("check",),
            np.array([x.agrees for x in c], dtype=bool),
            {"long_name": "|measured - predicted| <= noise_halfwidth"},
        ),
        "phase_value": (
            ("check",),
            np.array([x.phase_value for x in c]),
            {"long_name": "raw statistic during the phase (source units)"},
        ),
        "background_mean": (
            ("check",),
            np.array([x.background.mean for x in c]),
            {"long_name": "raw statistic, mean over the baseline windows"},
        ),
        "background_sd": (
            ("check",),
            np.array([x.background.sd for x in c]),
            {"long_name": "noise standard deviation used (raw units)"},
        ),
        "background_poisson_floor": (
            ("check",),
            np.array([x.background.poisson_floor for x in c], dtype=bool),
            {"long_name": "the Poisson floor set the noise"},
        ),
        "background_burst": (
            ("check",),
            np.array([x.background.burst for x in c]),
            {"long_name": "largest jump of a machine-wide gauge in any no-work window (raw units)"},
        ),
        "background_burst_floor": (
            ("check",),
            np.array([x.background.burst_floor for x in c], dtype=bool),
            {"long_name": "the burst floor set the noise interval"},
        ),
        "offset": (
            ("check",),
            np.array([x.offset for x in c]),
            {"long_name": "measured = offset + slope * excess"},
        ),
        "slope": (
            ("check",),
            np.array([x.slope for x in c]),
            {"long_name": "measured = offset + slope * excess"},
        ),
    }


def check_attrs(checks: list[Check]) -> dict[str, float | int]:
    """The verdict of the ``check`` rows as dataset attributes (the lab's use the same):
    the family-wise level, each row's level (Bonferroni) and how many rows disagree."""
    return {
        "family_alpha": FAMILY_ALPHA,
        "row_level": float(checks[0].background.level) if checks else float("nan"),
        "disagreements": int(sum(not x.agrees for x in checks)),
    }


def build_probe_dataset(
    raw: dict[str, Any],
    checks: list[Check],
    facts: HostFacts,
    req: ProbeRequest,
    profile: ProfileMatch,
    provenance: dict[str, Any],
) -> xr.Dataset:
    """Assemble the worker's raw windows and the checked rows into one dataset."""
    phases = raw["phases"]
    names = [p["name"] for p in phases]
    cpus = list(raw["cpus"])
    k = len(phases[0]["baselines"])

    def per_cpu(key: str) -> np.ndarray:
        return np.array([p["window"][key] for p in phases], dtype=np.int64)

    def per_cpu_bl(key: str) -> np.ndarray:
        return np.array([[b[key] for b in p["baselines"]] for p in phases], dtype=np.int64)

    counters = np.array(
        [[p["window"]["counters"][c] for c in COUNTER_NAMES] for p in phases], dtype=np.int64
    )
    counters_bl = np.array(
        [[[b["counters"][c] for c in COUNTER_NAMES] for b in p["baselines"]] for p in phases],
        dtype=np.int64,
    )
    c = checks
    data_vars = {
        **check_variables(c),
        "duration": (
            ("phase",),
            np.array([p["window"]["seconds"] for p in phases]),
            {"units": "s", "long_name": "length of the phase's work window"},
        ),
        "function_call_ipis": (
            ("phase", "cpu"),
            per_cpu("cal"),
            {"units": "IPIs", "long_name": "function-call interrupts received (CAL)"},
        ),
        "tlb_shootdown_ipis": (
            ("phase", "cpu"),
            per_cpu("tlb"),
            {"units": "IPIs", "long_name": "TLB shootdowns received (TLB)"},
        ),
        "counter_delta": (
            ("phase", "counter"),
            counters,
            {"long_name": "counter change over the phase (kB for *_kB, else events)"},
        ),
        "baseline_duration": (
            ("phase", "baseline"),
            np.array([[b["seconds"] for b in p["baselines"]] for p in phases]),
            {"units": "s", "long_name": "length of each no-work window"},
        ),
        "baseline_function_call_ipis": (
            ("phase", "baseline", "cpu"),
            per_cpu_bl("cal"),
            {"units": "IPIs", "long_name": "CAL in each no-work window"},
        ),
        "baseline_tlb_shootdown_ipis": (
            ("phase", "baseline", "cpu"),
            per_cpu_bl("tlb"),
            {"units": "IPIs", "long_name": "TLB in each no-work window"},
        ),
        "baseline_counter_delta": (
            ("phase", "baseline", "counter"),
            counters_bl,
            {"long_name": "counter change in each no-work window"},
        ),
    }
    coords = {
        "check": ("check", np.arange(len(c))),
        "phase": ("phase", _str(names)),
        "cpu": ("cpu", np.array(cpus, dtype=np.int64), {"long_name": "CPU id"}),
        "counter": ("counter", _str(list(COUNTER_NAMES))),
        "baseline": ("baseline", np.arange(k)),
    }
    ds = xr.Dataset(data_vars=data_vars, coords=coords)
    fault = next(p for p in phases if p["name"] == "thp_fault")["facts"]
    coll = next(p for p in phases if p["name"] == "collapse")["facts"]
    ds.attrs.update(
        {
            "mcstudy_format": FORMAT_NAME,
            "mcstudy_format_version": FORMAT_VERSION,
            "model": MODEL_NAME,
            "title": f"mcstudy live-kernel probe on Linux {facts.release}",
            "study_name": "probe",
            "sweep_dims": "[]",
            "params": json.dumps(
                {
                    "thps": req.thps,
                    "cpu": raw["cpu"],
                    "munmap_bytes": req.munmap_bytes,
                    "munmap_offset": req.munmap_offset,
                    "baselines": req.baselines,
                }
            ),
            "kernel_release": facts.release,
            "machine": facts.machine,
            "kernel_profile": profile.name,
            "profile_basis": json.dumps(list(profile.basis)),
            "profile_caveats": json.dumps(list(profile.caveats)),
            "thp_enabled": facts.thp_enabled or "",
            "thp_pmd_enabled": facts.thp_pmd_enabled or "",
            "thp_mode": facts.thp_mode or "",
            "thp_defrag": facts.thp_defrag or "",
            "khugepaged": json.dumps(facts.khugepaged),
            "madv_collapse_supported": int(facts.madv_collapse_supported),
            "host_facts": json.dumps(facts.as_dict(), default=str),
            "probe_cpu": int(raw["cpu"]),
            "online_cpus": json.dumps(cpus),
            "thps_requested": req.thps,
            "thps_mapped": int(fault["thps_mapped"]),
            "thps_collapsed": int(coll["collapsed"]),
            "collapse_policy": MAINLINE_COLLAPSE,
            "baselines": k,
            **check_attrs(c),
            "disagreements_by_scope": json.dumps(
                {sc: sum(not x.agrees for x in c if x.scope == sc) for sc in SCOPES}
            ),
            "stat_refresh": int(bool(raw["stat_refresh"])),
            "membarrier_settle": int(bool(raw["membarrier_settle"])),
            "phase_facts": json.dumps({p["name"]: p["facts"] for p in phases}),
            "provenance": json.dumps(provenance, sort_keys=True, default=str),
        }
    )
    return ds


def is_probe_dataset(ds: xr.Dataset) -> bool:
    """``ds`` was written by ``mcstudy probe``."""
    return ds.attrs.get("model") == MODEL_NAME
