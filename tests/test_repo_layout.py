"""The folders the design card lists exist in a fresh clone: instance/ is kept in git with its
README, while what Flask puts there (the SQLite database) is never committed."""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _git(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=30)


def test_instance_folder_is_in_git_with_its_readme_only() -> None:
    tracked = _git("ls-files", "instance").stdout.split()
    assert tracked == ["instance/README.md"]
    assert "SQLite" in (ROOT / "instance" / "README.md").read_text()
    for runtime_file in ("instance/tollgate.sqlite3", "instance/tollgate.sqlite3-wal"):
        assert _git("check-ignore", "-q", runtime_file).returncode == 0, runtime_file
    assert _git("check-ignore", "-q", "instance/README.md").returncode == 1
