"""A shopper pays with Stripe in Chromium: our checkout, the sandbox's hosted page, and back."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.browser.stripe_pages import pay_card, to_stripe


def _to_stripe(page: Page, site: str) -> None:
    to_stripe(page, site)
    expect(page.get_by_test_id("amount")).to_have_text("12.50 USD")


def test_a_good_card_comes_back_paid(page: Page, site: str) -> None:
    _to_stripe(page, site)

    pay_card(page, "4242 4242 4242 4242")

    expect(page).to_have_url(re.compile(r"/status/pay_[^/]+$"))
    expect(page.locator(".status-line")).to_contain_text("Paid")
    expect(page.get_by_text("eSIM activation code")).to_be_visible()


def test_a_declined_card_stays_on_the_payable_hosted_page(page: Page, site: str) -> None:
    _to_stripe(page, site)

    pay_card(page, "4000 0000 0000 0002")

    expect(page.get_by_role("alert")).to_have_text("Your card was declined.")
    expect(page).to_have_url(re.compile(r"/c/pay/cs_test_"))
    pay_card(page, "4242 4242 4242 4242")  # still payable
    expect(page.locator(".status-line")).to_contain_text("Paid")
