"""The checkout page in a real browser: keyboard use, the disabled gateway, the busy Pay button,
and the plain no-JavaScript form post."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, Route, expect

from checkout.extensions import db
from checkout.models import Order, Payment

REASON = "Card payments by Stripe open next month"


@pytest.fixture
def app_overrides() -> dict[str, Any]:
    return {"GATEWAY_STRIPE_ENABLED": False, "GATEWAY_STRIPE_DISABLED_REASON": REASON}


def _count(model: type) -> int:
    db.session.expire_all()
    return db.session.scalar(db.select(db.func.count(model.id)))


def test_gateways_are_chosen_by_keyboard_and_the_disabled_one_explains_itself(
    page: Page, site: str
) -> None:
    page.goto(site + "/checkout/europe-5gb")
    crypto = page.get_by_role("radio", name="Crypto (CoinPayments)")
    card = page.get_by_role("radio", name="Card (HyperPay MPGS)")
    stripe = page.get_by_role("radio", name="Stripe")
    widget = page.get_by_role("radio", name="Card (HyperPay COPYandPAY)")
    expect(page.get_by_role("group", name="Payment method")).to_be_visible()
    expect(crypto).to_be_checked()
    expect(crypto).to_have_accessible_description("BTC, LTC and more")

    # The disabled option: visible reason on the page, tied to the radio, not selectable.
    reason = page.locator("#gateway-stripe-reason")
    expect(reason).to_be_visible()
    expect(reason).to_contain_text(REASON)
    expect(stripe).to_be_disabled()
    expect(stripe).to_have_accessible_description(re.compile(REASON))
    page.locator("label[for=gateway-stripe]").click(force=True)
    expect(stripe).not_to_be_checked()
    expect(crypto).to_be_checked()

    # Keyboard: Tab from the e-mail field reaches the checked radio; arrows move the choice
    # and skip the disabled gateway.
    page.get_by_role("textbox", name="E-mail for your receipt").focus()
    page.keyboard.press("Tab")
    expect(crypto).to_be_focused()
    outline = page.locator("label[for=gateway-coinpayments]").evaluate(
        "el => getComputedStyle(el).outlineStyle"
    )
    assert outline == "solid"  # a visible focus ring on the option
    page.keyboard.press("ArrowDown")
    expect(card).to_be_checked()
    expect(card).to_be_focused()
    page.keyboard.press("ArrowDown")
    expect(widget).to_be_checked()  # past the disabled Stripe
    page.keyboard.press("ArrowDown")
    expect(crypto).to_be_checked()  # wrapped round
    page.keyboard.press("ArrowUp")
    page.keyboard.press("ArrowUp")
    expect(card).to_be_checked()  # back past the disabled Stripe
    # The marker fills orange when checked.
    fill = page.locator("label[for=gateway-mpgs] .circle").evaluate(
        "el => getComputedStyle(el, '::before').backgroundColor"
    )
    assert fill == "rgb(254, 114, 11)"

    # The focused option is not hidden under the sticky pay bar.
    box = page.locator("label[for=gateway-mpgs]").bounding_box()
    bar = page.locator(".actionBtnArea").bounding_box()
    assert box is not None and bar is not None and box["y"] + box["height"] <= bar["y"]

    page.locator("#method-heading").scroll_into_view_if_needed()
    page.screenshot(path="/tmp/tollgate-checkout.png")


def test_validation_message_is_announced_and_focused(page: Page, site: str) -> None:
    page.goto(site + "/checkout/europe-5gb")
    page.get_by_role("textbox", name="E-mail for your receipt").fill("not-an-email")
    page.get_by_role("button", name="Pay now").click()
    problem = page.get_by_role("alert")
    expect(problem).to_contain_text("Enter a valid e-mail address")
    expect(problem).to_be_focused()
    expect(
        page.get_by_role("textbox", name="E-mail for your receipt")
    ).to_have_accessible_description(re.compile("Enter a valid e-mail address"))
    problem.get_by_role("link").click()
    expect(page.get_by_role("textbox", name="E-mail for your receipt")).to_be_focused()
    assert _count(Order) == 0


def test_double_clicking_pay_opens_one_payment(page: Page, site: str, sandbox) -> None:
    page.goto(site + "/checkout/europe-5gb")
    answers: list[int] = []

    def forward(route: Route) -> None:
        """Send the POST to the site for real, but keep the browser on the page (204), so the
        busy button can be looked at after the server has done its work."""
        if route.request.method != "POST":
            route.continue_()
            return
        answers.append(route.fetch(max_redirects=0).status)
        route.fulfill(status=204)

    page.route(re.compile(r".*/checkout/europe-5gb$"), forward)
    page.get_by_role("textbox", name="E-mail for your receipt").fill("shopper@example.com")
    box = page.get_by_role("button", name="Pay now").bounding_box()
    assert box is not None
    page.mouse.dblclick(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)

    busy = page.locator("button.submitBtn")
    expect(busy).to_have_attribute("aria-busy", "true")
    expect(busy).to_have_text("Opening secure checkout…")
    expect(page.locator("#pay-status")).to_have_text("Opening secure checkout…")
    busy.click(force=True)  # a third press (aria-disabled: Playwright would wait otherwise)
    page.wait_for_timeout(500)
    assert answers == [303]  # one POST reached the site: the 303 to the hosted page
    assert _count(Order) == 1
    assert _count(Payment) == 1
    payment = db.session.scalar(db.select(Payment))
    assert payment.checkout_url.startswith(sandbox.url)


def test_without_javascript_the_form_posts_to_the_hosted_page(
    browser: Browser, site: str, sandbox
) -> None:
    context = browser.new_context(java_script_enabled=False)
    try:
        page = context.new_page()
        page.goto(site + "/checkout/europe-5gb")
        page.get_by_role("textbox", name="E-mail for your receipt").fill("nojs@example.com")
        page.get_by_text("Card (HyperPay MPGS)").click()
        page.get_by_text("Crypto (CoinPayments)").click()
        page.get_by_role("button", name="Pay now").click()
        page.wait_for_url(re.compile(re.escape(sandbox.url) + r"/index\.php\?cmd=checkout"))
        expect(page.get_by_text("12.50 USD")).to_be_visible()
    finally:
        context.close()
    payment = db.session.scalar(db.select(Payment))
    assert (payment.gateway, payment.amount, payment.currency) == ("coinpayments", 1250, "USD")
    assert payment.order.email == "nojs@example.com"
