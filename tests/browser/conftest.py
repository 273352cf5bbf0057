"""Playwright drives Debian's Chromium (never a downloaded browser build) against the live site.

The site sends its real Content-Security-Policy here, and any violation a page reports (Chromium's
console message, or a `securitypolicyviolation` event) fails the test: a blocked script or form
post is a broken page for a shopper, even when the test's own steps happened to get through.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import BrowserContext, ConsoleMessage

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


# Runs in every page before its own scripts (init scripts are not subject to the page's CSP).
_REPORT_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (e) => {
  console.error("CSP violation: " + e.violatedDirective + " blocked " +
    (e.blockedURI || "inline code") + " on " + e.documentURI);
});
"""


@pytest.fixture
def csp_violations() -> list[str]:
    """What the test's pages reported as CSP violations (asserted empty at teardown)."""
    return []


@pytest.fixture
def context(context: BrowserContext, csp_violations: list[str]) -> Iterator[BrowserContext]:
    """pytest-playwright's context (so `page` and its new tabs) failing the test on a CSP report."""

    def record(message: ConsoleMessage) -> None:
        text = message.text
        if text.startswith("CSP violation") or "Content Security Policy" in text:
            csp_violations.append(text)

    context.add_init_script(_REPORT_VIOLATIONS)
    context.on("console", record)
    yield context
    assert not csp_violations, "the page reported CSP violations:\n" + "\n".join(csp_violations)


@pytest.fixture
def site(live_site: str, make_product) -> str:
    """The live site with one USD plan on sale; returns its base URL."""
    make_product(price=1250, currency="USD", slug="europe-5gb", name="Europe 5 GB")
    return live_site
