"""A shopper buys a plan with CoinPayments in the sandbox and sees it become Paid: once through
the IPN reaching the live site, and once with IPNs switched off, through the status page's own
polling."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from checkout.extensions import db
from checkout.models import Notification, Payment


def _pay_with_crypto(page: Page, site: str, sandbox) -> Payment:
    page.goto(site + "/checkout/europe-5gb")
    page.get_by_role("textbox", name="E-mail for your receipt").fill("crypto@example.com")
    page.get_by_text("Crypto (CoinPayments)").click()
    expect(page.get_by_role("radio", name="Crypto (CoinPayments)")).to_be_checked()
    page.get_by_role("button", name="Pay now").click()
    page.wait_for_url(re.compile(re.escape(sandbox.url) + r"/index\.php\?cmd=checkout"))
    expect(page.get_by_role("heading", name="Pay with LTCT")).to_be_visible()
    expect(page.get_by_text("Europe 5 GB · 12.50 USD")).to_be_visible()
    db.session.expire_all()
    return db.session.scalar(db.select(Payment))


def _completed_by(payment: Payment) -> str:
    db.session.expire_all()
    payment = db.session.get(Payment, payment.id)
    assert payment.status == "COMPLETED"
    [event] = [e for e in payment.events if e.kind == "transition" and e.new_status == "COMPLETED"]
    return event.source


def test_paid_through_the_ipn(page: Page, site: str, sandbox) -> None:
    payment = _pay_with_crypto(page, site, sandbox)
    page.get_by_role("button", name="Send full amount").click()
    expect(page.get_by_text("Sent the full amount.")).to_be_visible()
    for seen in (1, 2):
        page.get_by_role("button", name="Add a confirmation").click()
        expect(page.locator("#confirmations")).to_have_text(f"{seen} / 2")
    sandbox.wait_notifications()
    assert _completed_by(payment) == "ipn"

    page.get_by_role("link", name="Return to shop").click()
    page.wait_for_url(f"{site}/status/{payment.ref}")
    expect(page.locator(".status-line")).to_have_text("Paid")
    expect(page.get_by_role("heading", name="Payment received")).to_be_visible()
    expect(page.get_by_test_id("activation-code")).to_have_text(re.compile(r"^LPA:1\$"))
    expect(page.get_by_test_id("amount")).to_have_text("12.50 USD")
    expect(page.get_by_role("link", name="Pay another way")).to_have_count(0)

    page.get_by_role("link", name="My orders").first.click()
    row = page.locator("li.order")
    expect(row).to_have_count(1)
    expect(row.locator(".badge")).to_have_text("Paid")


class TestWithoutIpns:
    @pytest.fixture
    def app_overrides(self) -> dict[str, Any]:
        return {"REFRESH_COALESCE_SECONDS": 1}

    def test_the_status_page_polls_its_way_to_paid(self, page: Page, site: str, sandbox) -> None:
        sandbox.knobs("coinpayments", notifications=False)
        payment = _pay_with_crypto(page, site, sandbox)
        address = page.locator("#coin-address code").inner_text()

        status = page.context.new_page()
        status.goto(f"{site}/status/{payment.ref}")
        expect(status.locator(".status-line")).to_have_text("Waiting for payment")
        expect(status.get_by_role("heading", name="Send the coins")).to_be_visible()
        expect(status.get_by_test_id("pay-address")).to_have_text(address)
        expect(status.locator("#crypto-amount")).to_have_text("0.15625000")
        expect(status.get_by_test_id("confirmations")).to_have_text("0 of 2")
        countdown = status.get_by_test_id("countdown")
        expect(countdown).to_have_text(re.compile(r"^(59|60) min \d\d s$"))
        first = countdown.inner_text()
        expect(countdown).not_to_have_text(first)  # it ticks

        page.get_by_role("button", name="Send full amount").click()
        page.get_by_role("button", name="Add a confirmation").click()
        # The open status page follows the confirmations...
        expect(status.get_by_test_id("confirmations")).to_have_text("1 of 2", timeout=15000)
        expect(
            status.get_by_role("heading", name="Coins seen, waiting for confirmations")
        ).to_be_visible()
        expect(status.get_by_test_id("countdown")).to_have_count(0)
        page.get_by_role("button", name="Add a confirmation").click()
        # ...and reloads itself once the payment is final.
        expect(status.locator(".status-line")).to_have_text("Paid", timeout=15000)
        expect(status.get_by_test_id("activation-code")).to_be_visible()
        expect(status.locator("#status")).to_have_attribute("data-final", "true")

        assert _completed_by(payment) == "poll"
        assert db.session.scalar(db.select(db.func.count(Notification.id))) == 0
        assert sandbox.env.notifier.log == []  # nothing was sent: the page did it alone
