"""The on-disk store of exact zone laws gives the solver's result bit for bit, and never
trusts a damaged file."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mcstudy.exact import stored
from mcstudy.exact.pressure import ZoneChain, solve

BURSTY = ZoneChain(
    600,
    20,
    40,
    60,
    alloc_rate=900.0,
    free_rate=800.0,
    kswapd_rate=30.0,
    gather_rate=5.0,
    atomic_alloc_rate=3.0,
    burst_alloc_rate=2000.0,
    burst_start_rate=0.5,
    burst_end_rate=2.0,
)
REPO = Path(__file__).resolve().parents[2]
PLAIN = dataclasses.replace(BURSTY, burst_alloc_rate=None, burst_start_rate=0.0)


def _same(a, b) -> None:
    assert a.pi.tobytes() == b.pi.tobytes() and a.pi.shape == b.pi.shape
    for f in dataclasses.fields(a):
        if f.name != "pi":
            x, y = getattr(a, f.name), getattr(b, f.name)
            assert np.float64(x).tobytes() == np.float64(y).tobytes(), f.name


@pytest.mark.parametrize("chain", [PLAIN, BURSTY], ids=["plain", "bursty"])
def test_stored_law_is_the_solved_law_bit_for_bit(chain, tmp_path):
    want = solve(chain)
    first = stored.zone_law(chain, tmp_path)  # solved and written
    files = list(tmp_path.glob("*.npz"))
    assert len(files) == 1
    second = stored.zone_law(chain, tmp_path)  # read back
    _same(first, want)
    _same(second, want)


def test_the_store_is_read_not_solved_again(tmp_path, monkeypatch):
    stored.zone_law(PLAIN, tmp_path)

    def no_solve(_chain):
        raise AssertionError("solved again")

    monkeypatch.setattr(stored, "solve", no_solve)
    _same(stored.zone_law(PLAIN, tmp_path), solve(PLAIN))


def test_a_different_chain_has_a_different_file(tmp_path):
    other = dataclasses.replace(PLAIN, free_rate=np.nextafter(PLAIN.free_rate, 1e9))
    assert stored.chain_key(other) != stored.chain_key(PLAIN)
    stored.zone_law(PLAIN, tmp_path)
    _same(stored.zone_law(other, tmp_path), solve(other))
    assert len(list(tmp_path.glob("*.npz"))) == 2


@pytest.mark.parametrize("damage", ["flip", "truncate", "empty", "foreign"])
def test_a_damaged_file_is_solved_again_and_replaced(damage, tmp_path):
    want = solve(PLAIN)
    stored.zone_law(PLAIN, tmp_path)
    (path,) = tmp_path.glob("*.npz")
    blob = bytearray(path.read_bytes())
    if damage == "flip":
        blob[len(blob) // 2] ^= 0x01
    elif damage == "truncate":
        blob = blob[: len(blob) // 2]
    elif damage == "empty":
        blob = bytearray()
    else:  # a whole, checksummed file of another chain's law under this name
        blob = bytearray(stored._encode(solve(BURSTY)))
    path.write_bytes(bytes(blob))
    _same(stored.zone_law(PLAIN, tmp_path), want)
    _same(stored._decode(path.read_bytes(), PLAIN), want)  # the file was rewritten


def test_a_flipped_bit_in_the_law_fails_its_checksum():
    blob = bytearray(stored._encode(solve(PLAIN)))
    assert stored._decode(bytes(blob), PLAIN) is not None
    blob[-100] ^= 0x80
    assert stored._decode(bytes(blob), PLAIN) is None


def test_an_unwritable_store_just_solves(tmp_path):
    blocked = tmp_path / "file"
    blocked.write_text("")  # a file where the directory should be: mkdir fails
    _same(stored.zone_law(PLAIN, blocked / "zone-laws"), solve(PLAIN))


def test_the_store_sits_beside_the_kernel_caches(monkeypatch, tmp_path):
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path))
    assert stored.store_dir() == tmp_path / "zone-laws"


def test_concurrent_writers_leave_one_whole_file(tmp_path):
    code = (
        "import sys; from pathlib import Path; from mcstudy.exact import stored; "
        "from tests.exact.test_stored import PLAIN; "
        "stored.zone_law(PLAIN, Path(sys.argv[1]))"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], cwd=REPO) for _ in range(3)
    ]
    assert all(p.wait(timeout=300) == 0 for p in procs)
    files = sorted(p.name for p in tmp_path.iterdir())
    assert len(files) == 1 and files[0].endswith(".npz"), files  # no temporary left
    _same(stored._decode((tmp_path / files[0]).read_bytes(), PLAIN), solve(PLAIN))


def test_a_banded_law_is_read_not_solved_again(tmp_path, monkeypatch):
    """A chain with a fine band (docs/model.md §4.14) has one law entry per level, not
    per page: the store reads it back."""
    banded = dataclasses.replace(BURSTY, coarse_pages=8, fine_band_pages=64)
    want = solve(banded)
    stored.zone_law(banded, tmp_path)

    def no_solve(_chain):
        raise AssertionError("solved again")

    monkeypatch.setattr(stored, "solve", no_solve)
    _same(stored.zone_law(banded, tmp_path), want)
