"""Paying the same order again in Chromium, after every kind of failure, for each gateway: the
sandbox's hosted pages are pressed through a decline, a cancel, an expiry or an outage, then
"Pay another way" / "Pay now" / "Pay" on My orders leads to the same order, and on to Paid.

Each test ends by counting orders in the database: paying again never opens a second order.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from checkout.extensions import db
from checkout.models import Order, OrderStatus, Payment
from tests.conftest import Sandbox

PLAN = "/checkout/europe-5gb"
EMAIL = "again@example.com"
STRIPE_OK, STRIPE_DECLINED = "4242 4242 4242 4242", "4000 0000 0000 0002"
MPGS_OK, MPGS_DECLINED = "5123450000000008", "4000000000000002"
_HOSTED = {
    "coinpayments": r"/index\.php\?cmd=checkout",
    "mpgs": r"/checkout/pay/SESSION\w+",
    "stripe": r"/c/pay/cs_test_",
}


def _to_hosted(page: Page, sandbox: Sandbox, gateway: str) -> None:
    """On our checkout page (new order or pay again): choose `gateway` and press Pay now."""
    page.locator(f"label[for=gateway-{gateway}]").click()
    expect(page.locator(f"#gateway-{gateway}")).to_be_checked()
    page.get_by_role("button", name="Pay now").click()
    page.wait_for_url(re.compile(re.escape(sandbox.url) + _HOSTED[gateway]))


def _new_order(page: Page, site: str, sandbox: Sandbox, gateway: str) -> None:
    page.goto(site + PLAN)
    page.fill("#email", EMAIL)
    _to_hosted(page, sandbox, gateway)


def _card(page: Page, gateway: str, number: str) -> None:
    if gateway == "stripe":
        page.fill("#cardNumber", number)
        page.fill("#cardExpiry", "12 / 34")
        page.fill("#cardCvc", "123")
        page.fill("#billingName", "Ada Shopper")
        page.click("#submit-card")
    else:
        page.fill("#cardNumber", number)
        page.click("#pay-button")


def pay_on_hosted(page: Page, site: str, sandbox: Sandbox, gateway: str) -> None:
    """Pay in full on the gateway's hosted page and come back to our status page, Paid."""
    if gateway == "coinpayments":
        page.get_by_role("button", name="Send full amount").click()
        for seen in (1, 2):
            page.get_by_role("button", name="Add a confirmation").click()
            expect(page.locator("#confirmations")).to_have_text(f"{seen} / 2")
        page.get_by_role("link", name="Return to shop").click()
    else:
        _card(page, gateway, STRIPE_OK if gateway == "stripe" else MPGS_OK)
    page.wait_for_url(re.compile(re.escape(site) + r"/status/pay_[\w-]+$"))
    expect(page.locator(".status-line")).to_contain_text("Paid", timeout=15000)


def _pay_another_way(page: Page) -> None:
    page.get_by_role("link", name="Pay another way").click()
    expect(page.get_by_role("heading", name="Checkout")).to_be_visible()
    expect(page.locator("#email")).to_have_count(0)  # the order keeps its address
    expect(page.get_by_test_id("receipt-address")).to_have_text("a•••@example.com")


def _orders() -> list[Order]:
    db.session.expire_all()
    return list(db.session.scalars(db.select(Order)))


def _one_paid_order(payments: int) -> None:
    [order] = _orders()
    assert order.status == OrderStatus.PAID
    assert len(order.payments) == payments


def test_stripe_declined_card_then_back_to_the_shop_and_pay_again(
    page: Page, site: str, sandbox: Sandbox
) -> None:
    _new_order(page, site, sandbox, "stripe")
    _card(page, "stripe", STRIPE_DECLINED)
    expect(page.get_by_role("alert")).to_have_text("Your card was declined.")
    page.click("#back")  # Stripe's cancel_url
    expect(page.get_by_test_id("cancelled-notice")).to_be_visible()

    _pay_another_way(page)
    _to_hosted(page, sandbox, "stripe")
    pay_on_hosted(page, site, sandbox, "stripe")
    _one_paid_order(payments=2)


def test_mpgs_declined_card_then_pay_again_approved(
    page: Page, site: str, sandbox: Sandbox
) -> None:
    _new_order(page, site, sandbox, "mpgs")
    _card(page, "mpgs", MPGS_DECLINED)
    page.wait_for_url(re.compile(re.escape(site) + r"/status/pay_[\w-]+$"))
    expect(page.locator("#status")).to_contain_text("Failed")

    _pay_another_way(page)
    expect(page.get_by_test_id("previous-attempt")).to_contain_text("Failed")
    _to_hosted(page, sandbox, "mpgs")
    pay_on_hosted(page, site, sandbox, "mpgs")
    _one_paid_order(payments=2)


def test_coinpayments_expired_then_pay_again_with_coins(
    page: Page, site: str, sandbox: Sandbox
) -> None:
    _new_order(page, site, sandbox, "coinpayments")
    page.get_by_role("button", name="Let it expire").click()
    page.get_by_role("link", name="Return to shop").click()
    expect(page.locator(".status-line")).to_contain_text("Expired")

    _pay_another_way(page)
    _to_hosted(page, sandbox, "coinpayments")
    pay_on_hosted(page, site, sandbox, "coinpayments")
    _one_paid_order(payments=2)


@pytest.mark.parametrize("gateway", ["coinpayments", "mpgs", "stripe"])
def test_gateway_down_at_checkout_then_pay_now_after_it_recovers(
    page: Page, site: str, sandbox: Sandbox, gateway: str
) -> None:
    sandbox.knobs(gateway, error_rate=1.0)
    page.goto(site + PLAN)
    page.fill("#email", EMAIL)
    page.locator(f"label[for=gateway-{gateway}]").click()
    page.get_by_role("button", name="Pay now").click()
    expect(page.get_by_test_id("checkout-error")).to_contain_text("is not answering right now")
    expect(page.get_by_test_id("previous-attempt")).to_have_count(0)
    expect(page.locator("main")).not_to_contain_text("Opening checkout")

    sandbox.knobs(gateway, error_rate=0.0)
    _to_hosted(page, sandbox, gateway)
    pay_on_hosted(page, site, sandbox, gateway)
    _one_paid_order(payments=2)


def test_mpgs_cancel_on_the_hosted_page_then_pay_on_my_orders_with_stripe(
    page: Page, site: str, sandbox: Sandbox
) -> None:
    _new_order(page, site, sandbox, "mpgs")
    page.click("#cancel-button")
    expect(page.get_by_test_id("cancelled-notice")).to_be_visible()

    page.goto(site + "/orders")
    page.locator("li.order").get_by_role("link", name=re.compile(r"^Pay")).click()
    expect(page.locator("#email")).to_have_count(0)
    _to_hosted(page, sandbox, "stripe")
    pay_on_hosted(page, site, sandbox, "stripe")
    _one_paid_order(payments=2)


def test_back_from_the_hosted_page_and_pay_again_is_the_same_order(
    page: Page, site: str, sandbox: Sandbox
) -> None:
    _new_order(page, site, sandbox, "stripe")
    hosted = page.url
    page.go_back()
    expect(page.get_by_role("heading", name="Checkout")).to_be_visible()
    page.reload()  # a fresh page with a fresh attempt token, as without the page cache
    page.fill("#email", EMAIL)
    _to_hosted(page, sandbox, "stripe")
    assert page.url == hosted  # the same hosted checkout, still open
    pay_on_hosted(page, site, sandbox, "stripe")
    _one_paid_order(payments=1)


def test_a_long_address_wraps_on_a_phone(page: Page, site: str, make_order) -> None:
    order = make_order(email="a@" + "b" * 60 + "." + "c" * 60 + ".example.com")
    page.set_viewport_size({"width": 360, "height": 740})
    page.goto(f"{site}/orders/{order.ref}/pay")
    expect(page.get_by_test_id("receipt-address")).to_contain_text("example.com")
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0
    db.session.expire_all()
    assert db.session.scalar(db.select(db.func.count(Payment.id))) == 0
