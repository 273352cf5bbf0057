"""The fast subset a contributor runs: `-m "not browser and not postgres"` leaves out every test
under tests/browser and tests/postgres (marked by folder in tests/conftest.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _collected(*args: str) -> list[str]:
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:randomly", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return [line for line in result.stdout.splitlines() if "::" in line]


def test_browser_and_postgres_tests_are_marked_by_folder() -> None:
    folders = ["tests/browser", "tests/postgres", "tests/test_money.py"]
    everything = _collected(*folders)
    fast = _collected("-m", "not browser and not postgres", *folders)
    browser = _collected("-m", "browser", *folders)
    postgres = _collected("-m", "postgres", *folders)

    assert browser and all(t.startswith("tests/browser/") for t in browser)
    assert postgres and all(t.startswith("tests/postgres/") for t in postgres)
    assert fast and all(t.startswith("tests/test_money.py") for t in fast)
    assert sorted(fast + browser + postgres) == sorted(everything)
