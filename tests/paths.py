"""Where the tests find the repository and their data, wherever a test module lives."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "tests" / "data"
PROC = DATA / "proc"
GOLDEN = DATA / "golden"
