"""Where the tests find the project's files, from any folder of tests/ (unit/<package>/,
integration/): the checkout's root, its conf/, jobs/, notebooks/, and tests/data/."""
from __future__ import annotations

from pathlib import Path

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
CONF = ROOT / "conf"
DATA = TESTS / "data"
