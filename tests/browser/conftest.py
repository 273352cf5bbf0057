"""Playwright drives Debian's Chromium (never a downloaded browser build) against the live site."""

from __future__ import annotations

import shutil
from typing import Any

import pytest

_CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    executable = shutil.which("chromium") or "/usr/bin/chromium"
    return {
        **browser_type_launch_args,
        "executable_path": executable,
        "headless": True,
        "args": _CHROMIUM_FLAGS,
    }


@pytest.fixture
def site(live_site: str, make_product) -> str:
    """The live site with one USD plan on sale; returns its base URL."""
    make_product(price=1250, currency="USD", slug="europe-5gb", name="Europe 5 GB")
    return live_site
