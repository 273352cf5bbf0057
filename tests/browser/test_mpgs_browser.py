"""A shopper pays by card through MPGS Hosted Checkout in Chromium: our checkout page, our launch
page running the gateway's checkout.js, the sandbox's hosted page, and back to our status page.
"""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

APPROVED = "5123450000000008"
DECLINED = "4000000000000002"
CHALLENGE = "4000000000003220"


def open_card_page(page: Page, site: str, sandbox_url: str) -> None:
    page.goto(site + "/checkout/europe-5gb")
    page.fill("#email", "shopper@example.com")
    page.locator("label[for=gateway-mpgs]").click()
    expect(page.locator("#gateway-mpgs")).to_be_checked()
    page.get_by_role("button", name="Pay now").click()
    # launch.js calls Checkout.configure() + showPaymentPage(): we land on the hosted page.
    page.wait_for_url(re.compile(re.escape(sandbox_url) + r"/checkout/pay/SESSION\w+"))
    expect(page.get_by_test_id("amount")).to_have_text("12.50 USD")


def test_an_approved_card_ends_on_paid(page: Page, site: str, sandbox) -> None:
    open_card_page(page, site, sandbox.url)

    page.fill("#cardNumber", APPROVED)
    page.click("#pay-button")

    page.wait_for_url(re.compile(re.escape(site) + r"/status/pay_[\w-]+$"))
    expect(page.locator("#status")).to_contain_text("Paid")
    expect(page.get_by_role("link", name="Pay another way")).to_have_count(0)


def test_a_declined_card_ends_on_failed_with_the_reason_and_another_way(
    page: Page, site: str, sandbox
) -> None:
    open_card_page(page, site, sandbox.url)

    page.fill("#cardNumber", DECLINED)
    page.click("#pay-button")

    page.wait_for_url(re.compile(re.escape(site) + r"/status/pay_[\w-]+$"))
    expect(page.locator("#status")).to_contain_text("Failed")
    expect(page.locator("#status")).to_contain_text("Card declined")
    another = page.get_by_role("link", name="Pay another way")
    expect(another).to_be_visible()
    another.click()
    expect(page.get_by_role("heading", name="Checkout")).to_be_visible()
    expect(page.locator("#gateway-mpgs")).to_be_enabled()


def test_a_three_d_secure_challenge_then_paid(page: Page, site: str, sandbox) -> None:
    open_card_page(page, site, sandbox.url)

    page.fill("#cardNumber", CHALLENGE)
    page.click("#pay-button")
    page.click("#challenge-approve")

    page.wait_for_url(re.compile(re.escape(site) + r"/status/pay_[\w-]+$"))
    expect(page.locator("#status")).to_contain_text("Paid")
