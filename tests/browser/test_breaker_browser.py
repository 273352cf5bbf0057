"""The circuit breaker as a shopper meets it in Chromium: Stripe's creates fail in the sandbox,
the shopper's failed attempts take Stripe off the selector ("Temporarily unavailable"); once the
sandbox recovers and the short cool-down is over, the page offers Stripe again, the next checkout
(the probe) reaches Stripe's hosted page, and the breaker is closed. Conditions are waited for
(the page reloaded until it changes), never slept through.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask
from playwright.sync_api import Page, expect

from checkout.payments import breaker
from checkout.payments.breaker import TEMPORARILY_UNAVAILABLE, Shown
from tests.conftest import Sandbox
from tests.fulfilment.test_crash import _wait_for

PLAN = "/checkout/europe-5gb"
EMAIL = "breaker@example.com"


@pytest.fixture
def app_overrides() -> dict[str, Any]:
    return {"BREAKER_FAILURES": 2, "BREAKER_COOLDOWN_SECONDS": 2}


def _offered_on_reload(page: Page) -> bool:
    page.reload()
    return page.locator("#gateway-stripe").is_enabled()


def test_failing_stripe_leaves_the_selector_and_comes_back_after_recovery(
    app: Flask, page: Page, site: str, sandbox: Sandbox
) -> None:
    sandbox.knobs("stripe", error_rate=1.0)
    page.goto(site + PLAN)
    page.fill("#email", EMAIL)
    page.locator("label[for=gateway-stripe]").click()
    page.get_by_role("button", name="Pay now").click()
    expect(page.get_by_test_id("checkout-error")).to_contain_text("not answering right now")
    expect(page.locator("#gateway-stripe")).to_be_checked()
    page.get_by_role("button", name="Pay now").click()  # the second failure opens the breaker
    expect(page.get_by_test_id("checkout-error")).to_contain_text("not answering right now")
    expect(page.locator("#gateway-stripe")).to_be_disabled()  # on that very page

    page.goto(site + PLAN)
    expect(page.locator("#gateway-stripe")).to_be_disabled()
    expect(page.locator("#gateway-stripe-reason")).to_contain_text(TEMPORARILY_UNAVAILABLE)
    expect(page.locator("#gateway-mpgs")).to_be_enabled()

    sandbox.knobs("stripe", error_rate=0.0)
    _wait_for(lambda: _offered_on_reload(page), timeout=15)
    page.fill("#email", EMAIL)
    page.locator("label[for=gateway-stripe]").click()
    page.get_by_role("button", name="Pay now").click()
    page.wait_for_url(re.compile(re.escape(sandbox.url) + r"/c/pay/cs_test_"))
    with app.app_context():
        assert breaker.snapshot()["stripe"] == Shown.CLOSED

    page.goto(site + PLAN)
    expect(page.locator("#gateway-stripe")).to_be_enabled()
    expect(page.locator("#gateway-stripe-reason")).to_have_count(0)
