"""The circuit breaker as a shopper meets it in Chromium: Stripe's creates fail in the sandbox,
the shopper's failed attempts take Stripe off the selector ("Temporarily unavailable"); once the
sandbox recovers and the short cool-down is over, the page offers Stripe again, the next checkout
(the probe) reaches Stripe's hosted page, and the breaker is closed. Conditions are waited for
(the page reloaded until it changes), never slept through. And an admin forcing Stripe off from
the console's Gateways page, with the reason the shopper then reads (axe on both pages).
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask
from playwright.sync_api import Browser, Page, expect

from checkout.models import StaffRole
from checkout.payments import breaker
from checkout.payments.breaker import TEMPORARILY_UNAVAILABLE, Shown
from tests.browser.staff_pages import accessible, add_staff, log_in
from tests.conftest import Sandbox
from tests.waiting import wait_for

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
    wait_for(lambda: _offered_on_reload(page), timeout=15)
    page.fill("#email", EMAIL)
    page.locator("label[for=gateway-stripe]").click()
    page.get_by_role("button", name="Pay now").click()
    page.wait_for_url(re.compile(re.escape(sandbox.url) + r"/c/pay/cs_test_"))
    with app.app_context():
        assert breaker.snapshot()["stripe"] == Shown.CLOSED

    page.goto(site + PLAN)
    expect(page.locator("#gateway-stripe")).to_be_enabled()
    expect(page.locator("#gateway-stripe-reason")).to_have_count(0)


def _pay_with_stripe(page: Page) -> None:
    page.fill("#email", EMAIL)
    page.locator("label[for=gateway-stripe]").click()
    page.get_by_role("button", name="Pay now").click()


def test_back_to_stripe_while_it_recovers_leaves_the_probe_to_the_next_shopper(
    app: Flask, page: Page, browser: Browser, site: str, sandbox: Sandbox
) -> None:
    """A shopper on Stripe's page goes Back while Stripe is down for everyone else, and pays
    again once the cool-down is over: the same hosted page, and Stripe stays offered to the
    next shopper, whose checkout is the probe that closes the breaker."""
    page.goto(site + PLAN)
    _pay_with_stripe(page)
    page.wait_for_url(re.compile(re.escape(sandbox.url) + r"/c/pay/cs_test_"))
    hosted = page.url

    other = browser.new_context()
    try:
        next_shopper = other.new_page()
        sandbox.knobs("stripe", error_rate=1.0)
        next_shopper.goto(site + PLAN)
        failure = next_shopper.get_by_test_id("checkout-error")
        _pay_with_stripe(next_shopper)
        expect(failure).to_contain_text("not answering right now")
        next_shopper.get_by_role("button", name="Pay now").click()  # the error page's own form
        expect(failure).to_contain_text("not answering right now")
        expect(next_shopper.locator("#gateway-stripe")).to_be_disabled()
        next_shopper.goto(site + PLAN)
        sandbox.knobs("stripe", error_rate=0.0)
        wait_for(lambda: _offered_on_reload(next_shopper), timeout=15)

        page.go_back()
        expect(page.get_by_role("heading", name="Checkout")).to_be_visible()
        _pay_with_stripe(page)
        page.wait_for_url(re.compile(re.escape(sandbox.url) + r"/c/pay/cs_test_"))
        assert page.url == hosted  # the same hosted checkout, still open

        next_shopper.reload()
        expect(next_shopper.locator("#gateway-stripe")).to_be_enabled()
        _pay_with_stripe(next_shopper)
        next_shopper.wait_for_url(re.compile(re.escape(sandbox.url) + r"/c/pay/cs_test_"))
        assert next_shopper.url != hosted
        with app.app_context():
            assert breaker.snapshot()["stripe"] == Shown.CLOSED
    finally:
        other.close()


def test_an_admin_forces_stripe_off_and_the_shopper_reads_why(
    app: Flask, page: Page, site: str
) -> None:
    admin = "admin.breaker@tollgate.test"
    with app.app_context():
        add_staff(admin, StaffRole.ADMIN)
    log_in(page, site, admin)
    page.get_by_role("navigation", name="Staff").get_by_role("link", name="Gateways").click()
    expect(page.get_by_test_id("state-stripe")).to_have_attribute("data-state", "closed")
    accessible(page, "staff gateways page")
    change = page.locator("form[action$='/staff/gateways/stripe']")
    change.get_by_label("Force off").check()
    change.get_by_role("textbox", name="Reason").fill(
        "Card payments by Stripe are paused until 14:00 UTC"
    )
    change.get_by_role("button", name="Save Stripe").click()
    expect(page.get_by_test_id("state-stripe")).to_have_attribute("data-state", "forced_off")
    expect(page.get_by_role("status")).to_contain_text("Stripe: forced off")

    page.goto(site + PLAN)
    expect(page.locator("#gateway-stripe")).to_be_disabled()
    expect(page.locator("#gateway-stripe-reason")).to_contain_text("paused until 14:00 UTC")
    accessible(page, "checkout with a gateway forced off")
