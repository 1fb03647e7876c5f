"""The host warm-up compiles the zone's level recursion only when a point's law needs it,
is not stored, and the recursion is not in Numba's cache (a cached one loads when the
point solves its law, so a cached start does not pay for it before its first point)."""

from __future__ import annotations

import pytest

from mcstudy.models.host import model as M
from mcstudy.models.host.model import HostModel


@pytest.mark.parametrize(
    ("needed", "cached", "compiles"),
    [(True, False, True), (True, True, False), (False, False, False)],
)
def test_recursion_warm_up_only_when_needed_and_uncached(monkeypatch, needed, cached, compiles):
    calls: list[str] = []
    monkeypatch.setattr(M, "recursion_needed", lambda chains: needed)
    monkeypatch.setattr(M, "recursion_cached", lambda: cached)
    monkeypatch.setattr(M, "compile_level_recursion", lambda: calls.append("recursion"))
    monkeypatch.setattr(M, "has_cache_index", lambda f: True)  # no compiling child
    monkeypatch.setattr(
        M.Model, "run_warmups", lambda self, variants, params: calls.append("kernels")
    )
    model = HostModel()
    variants = model.warmup_variants([model.Params.model_validate({})])
    model.run_warmups(variants, [])
    assert calls == (["recursion", "kernels"] if compiles else ["kernels"])
