"""The multiprocess directory: created by the app when missing, left alone when not configured."""

from __future__ import annotations

from pathlib import Path

import pytest

from checkout.metrics import directory


def test_an_app_process_creates_the_configured_directory(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    shared = tmp_path / "run" / "metrics"
    monkeypatch.setenv(directory.ENV, str(shared))
    directory.prepare()
    assert shared.is_dir()


@pytest.mark.parametrize("value", [None, ""])
def test_unset_or_empty_is_single_process_mode(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, value: str | None
) -> None:
    monkeypatch.chdir(tmp_path)
    if value is None:
        monkeypatch.delenv(directory.ENV, raising=False)
    else:
        monkeypatch.setenv(directory.ENV, value)
    assert directory.configured() is None
    directory.prepare()
    directory.process_exited(12345)
    assert list(tmp_path.iterdir()) == []
