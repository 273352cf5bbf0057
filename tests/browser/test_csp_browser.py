"""The site's Content-Security-Policy in Chromium: injected inline code does not run, and the
browser tests' CSP watch (tests/browser/conftest.py) sees the report that fails a test."""

from __future__ import annotations

import time

import pytest
from playwright.sync_api import Error, Page


def test_inline_script_is_blocked_and_reported(page: Page, site: str, csp_violations) -> None:
    page.goto(site)
    with pytest.raises(Error, match="Content Security Policy"):
        page.add_script_tag(content="document.title = 'injected'")
    assert page.title() != "injected"

    deadline = time.monotonic() + 5
    while len(csp_violations) < 2 and time.monotonic() < deadline:
        page.wait_for_timeout(50)  # reports arrive as console events, after the block
    assert any(v.startswith("CSP violation: script-src") for v in csp_violations)
    assert any("Content Security Policy" in v for v in csp_violations)
    csp_violations.clear()  # seen and expected: this test must not fail at its own teardown
