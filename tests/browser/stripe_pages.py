"""A shopper's way through our checkout to the Stripe sandbox's hosted page, for Chromium tests."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

PLAN = "europe-5gb"  # the `site` fixture's plan, 12.50 USD
GOOD_CARD = "4242 4242 4242 4242"


def to_stripe(page: Page, site: str, email: str = "shopper@example.com") -> None:
    """Choose Stripe on the checkout page and press Pay now: the hosted page is open."""
    page.goto(site + f"/checkout/{PLAN}")
    page.check("#gateway-stripe")
    page.fill("#email", email)
    page.get_by_role("button", name="Pay now").click()
    expect(page).to_have_url(re.compile(r"/c/pay/cs_test_"))


def pay_card(page: Page, number: str) -> None:
    """Fill the hosted page's card form and press Pay."""
    page.fill("#cardNumber", number)
    page.fill("#cardExpiry", "12 / 34")
    page.fill("#cardCvc", "123")
    page.fill("#billingName", "Ada Shopper")
    page.get_by_role("button", name="Pay 12.50 USD", exact=True).click()


def pay_with_stripe(page: Page, site: str, email: str = "shopper@example.com") -> str:
    """Pay with the good card and come back to our status page, Paid; the payment's ref."""
    to_stripe(page, site, email)
    pay_card(page, GOOD_CARD)
    expect(page).to_have_url(re.compile(r"/status/pay_[^/]+$"))
    expect(page.locator(".status-line")).to_contain_text("Paid")
    return page.url.rsplit("/", 1)[1]
