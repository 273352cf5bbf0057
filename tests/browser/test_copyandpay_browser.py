"""A shopper pays by card through HyperPay COPYandPAY in Chromium: our checkout page, our widget
page where the gateway's paymentWidgets.js renders the card form, and back to our status page.

The widget posts the card to the gateway (the sandbox), which sends the shopper to our return
URL with `id` and `resourcePath`; the status comes from the look-up that return triggers, or,
when the shopper never comes back, from the look-up the encrypted webhook triggers.
"""

from __future__ import annotations

import re

from playwright.sync_api import Page, Route, expect

from checkout.extensions import db
from checkout.models import Order, OrderStatus, Payment
from checkout.payments.states import PaymentStatus
from tests.conftest import Sandbox

APPROVED = "4200000000000000"
DECLINED = "4000000000000002"
CHALLENGE = "4000000000003220"
STATUS_PAGE = r"/status/pay_[\w-]+$"


def open_widget(page: Page, site: str) -> None:
    """From the catalogue to our widget page, with the gateway's card form rendered in it."""
    page.goto(site + "/")
    page.get_by_role("link", name=re.compile("Europe 5 GB")).first.click()
    page.fill("#email", "shopper@example.com")
    _choose_copyandpay(page)
    page.wait_for_url(re.compile(re.escape(site) + r"/pay/pay_[\w-]+/launch$"))
    expect(page.get_by_role("heading", name="Secure card checkout")).to_be_visible()
    expect(page.locator("form.paymentWidgets.wpwl-form")).to_be_visible()  # the script ran


def _choose_copyandpay(page: Page) -> None:
    option = page.locator("label[for=gateway-copyandpay]")
    expect(option).to_contain_text("Card (HyperPay COPYandPAY)")
    option.click()
    expect(page.locator("#gateway-copyandpay")).to_be_checked()
    page.get_by_role("button", name="Pay now").click()


def pay_in_widget(page: Page, card: str) -> None:
    page.get_by_label("Card number").fill(card)
    page.locator("form.paymentWidgets").get_by_role("button", name="Pay now").click()


def back_on_status(page: Page, site: str) -> None:
    page.wait_for_url(re.compile(re.escape(site) + STATUS_PAGE))


def _orders() -> list[Order]:
    db.session.expire_all()
    return list(db.session.scalars(db.select(Order)))


def _one_paid_order(payments: int) -> None:
    [order] = _orders()
    assert order.status == OrderStatus.PAID
    assert len(order.payments) == payments


def test_an_approved_card_ends_on_paid_and_fulfils_once(
    page: Page, site: str, sandbox: Sandbox, fulfilments
) -> None:
    open_widget(page, site)

    pay_in_widget(page, APPROVED)

    back_on_status(page, site)
    expect(page.locator("#status")).to_contain_text("Paid")
    expect(page.get_by_role("link", name="Pay another way")).to_have_count(0)
    sandbox.wait_notifications()  # the webhook arrives too, and changes nothing more
    _one_paid_order(payments=1)
    assert len(fulfilments) == 1


def test_a_declined_card_shows_the_reason_then_pay_again_to_paid(
    page: Page, site: str, sandbox: Sandbox, fulfilments
) -> None:
    open_widget(page, site)

    pay_in_widget(page, DECLINED)

    back_on_status(page, site)
    expect(page.locator("#status")).to_contain_text("Failed")
    expect(page.locator("#status")).to_contain_text("Declined by the card issuer")
    page.get_by_role("link", name="Pay another way").click()
    expect(page.get_by_role("heading", name="Checkout")).to_be_visible()
    expect(page.get_by_test_id("previous-attempt")).to_contain_text("Failed")
    _choose_copyandpay(page)
    expect(page.locator("form.paymentWidgets.wpwl-form")).to_be_visible()
    pay_in_widget(page, APPROVED)
    back_on_status(page, site)
    expect(page.locator("#status")).to_contain_text("Paid")
    sandbox.wait_notifications()
    _one_paid_order(payments=2)
    assert len(fulfilments) == 1


def test_a_three_d_secure_challenge_then_paid(page: Page, site: str, sandbox: Sandbox) -> None:
    open_widget(page, site)

    pay_in_widget(page, CHALLENGE)
    expect(page.get_by_role("heading", name="Verify it's you")).to_be_visible()
    page.click("#challenge-approve")

    back_on_status(page, site)
    expect(page.locator("#status")).to_contain_text("Paid")
    _one_paid_order(payments=1)


def test_the_shopper_closes_the_tab_and_the_webhook_alone_makes_it_paid(
    page: Page, site: str, sandbox: Sandbox, fulfilments
) -> None:
    open_widget(page, site)
    # The gateway takes the card and answers its redirect to our return URL, but the shopper's
    # browser never follows it: the redirect is answered here instead (a route handler only
    # sees the first URL of a redirect chain, so the return itself cannot be blocked).
    redirects: list[int] = []

    def pay_but_never_come_back(route: Route) -> None:
        answer = route.fetch(max_redirects=0)
        redirects.append(answer.status)
        route.fulfill(status=200, content_type="text/html", body="<p>The shopper left.</p>")

    page.route(re.compile(r".*/v1/checkouts/.+/payment$"), pay_but_never_come_back)
    pay_in_widget(page, APPROVED)
    expect(page.get_by_text("The shopper left.")).to_be_visible()
    assert redirects == [302]
    page.close()

    sandbox.wait_notifications()

    db.session.expire_all()
    [payment] = db.session.scalars(db.select(Payment)).all()
    assert payment.status == PaymentStatus.COMPLETED
    assert [e.source for e in payment.events if e.kind == "transition"] == ["create", "ipn"]
    _one_paid_order(payments=1)
    assert len(fulfilments) == 1
