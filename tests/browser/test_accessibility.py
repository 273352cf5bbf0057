"""Every page type, audited by axe-core in Chromium: no serious or critical violation.

axe-core is vendored (tests/browser/vendor/axe.min.js, see the README there) and injected from
disk, so the audit loads nothing from outside. Each case below brings the site into one state a
shopper or an agent can see, the way they reach it, then runs axe over the whole document
(colour contrast, names of controls, landmarks, ARIA use ...). Moderate and minor findings are
printed but do not fail the run.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from checkout.blueprints.urls import return_urls
from checkout.extensions import db
from checkout.models import Payment, StaffUser, utcnow
from checkout.payments.service import open_checkout
from checkout.payments.states import PaymentStatus

S = PaymentStatus
AXE = Path(__file__).parent / "vendor" / "axe.min.js"
FAILING_IMPACTS = ("serious", "critical")
STAFF_EMAIL, STAFF_PASSWORD = "agent@tollgate.test", "correct horse battery staple"


@pytest.fixture
def app_overrides() -> dict[str, Any]:
    """CSRF on, as in production: the 400 page is reached by a form whose session expired."""
    return {"WTF_CSRF_ENABLED": True}


def audit(page: Page) -> list[dict[str, Any]]:
    """Run axe over the current page; returns its violations.

    axe is evaluated through the DevTools protocol, not added as a <script> tag: the site's CSP
    (rightly) blocks inline scripts, and the browser tests fail on any CSP violation.
    """
    page.evaluate(AXE.read_text(encoding="utf-8"))
    return page.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
    )


def describe(violations: list[dict[str, Any]]) -> str:
    lines = []
    for v in violations:
        lines.append(f"[{v['impact']}] {v['id']}: {v['help']} ({v['helpUrl']})")
        for node in v["nodes"][:5]:
            lines.append(f"    at {' '.join(node['target'])}: {node['failureSummary']}")
            lines.append(f"       {node['html'][:160]}")
    return "\n".join(lines)


def _payment(make_payment, gateway: str, status: PaymentStatus, **values: Any) -> Payment:
    return make_payment(gateway=gateway, status=status, **values)


# --- the page types --------------------------------------------------------------------------
# Each takes (page, site, make_payment) and leaves the browser on the page to audit.


def catalogue(page: Page, site: str, make_payment) -> None:
    page.goto(site + "/")


def checkout_new_order(page: Page, site: str, make_payment) -> None:
    page.goto(site + "/checkout/europe-5gb")


def checkout_with_errors(page: Page, site: str, make_payment) -> None:
    page.goto(site + "/checkout/europe-5gb")
    page.get_by_role("textbox", name="E-mail for your receipt").fill("not-an-email")
    page.get_by_role("button", name="Pay now").click()
    expect(page.get_by_role("alert")).to_be_visible()


def pay_again(page: Page, site: str, make_payment) -> None:
    failed = _payment(make_payment, "stripe", S.FAILED, status_message="Card declined")
    page.goto(f"{site}/orders/{failed.order.ref}/pay")


def mpgs_launch(page: Page, site: str, make_payment) -> None:
    payment = _payment(make_payment, "mpgs", S.CREATED)
    open_checkout(payment, return_urls("mpgs", payment.ref))
    # The gateway's library does not load (as when it is blocked): the page keeps its fallback.
    page.route(re.compile(r".*checkout(\.min)?\.js.*"), lambda route: route.abort())
    page.goto(f"{site}/pay/{payment.ref}/launch")
    expect(page.locator("#launch-status")).to_contain_text("Use the button below")


def copyandpay_widget(page: Page, site: str, make_payment) -> None:
    payment = _payment(make_payment, "copyandpay", S.CREATED)
    open_checkout(payment, return_urls("copyandpay", payment.ref))
    page.goto(f"{site}/pay/{payment.ref}/launch")
    expect(page.locator("form.paymentWidgets.wpwl-form")).to_be_visible()  # the card form


def _status(gateway: str, status: PaymentStatus, **values: Any) -> Callable[..., None]:
    def show(page: Page, site: str, make_payment) -> None:
        payment = _payment(make_payment, gateway, status, **values)
        page.goto(f"{site}/status/{payment.ref}")

    return show


def orders_empty(page: Page, site: str, make_payment) -> None:
    page.goto(site + "/orders")


def orders_listed(page: Page, site: str, make_payment) -> None:
    page.goto(site + "/checkout/europe-5gb")
    page.get_by_role("textbox", name="E-mail for your receipt").fill("shopper@example.com")
    page.get_by_role("button", name="Pay now").click()
    page.wait_for_url(re.compile(r".*cmd=checkout.*"))
    page.goto(site + "/orders")
    expect(page.locator(".order")).to_have_count(1)


def error_404(page: Page, site: str, make_payment) -> None:
    assert page.goto(site + "/status/pay_nosuchpayment").status == 404


def error_400(page: Page, site: str, make_payment) -> None:
    page.goto(site + "/checkout/europe-5gb")
    page.get_by_role("textbox", name="E-mail for your receipt").fill("shopper@example.com")
    page.context.clear_cookies()  # the session, and with it the form's CSRF secret, is gone
    with page.expect_response(re.compile(r".*/checkout/europe-5gb$")) as answer:
        page.get_by_role("button", name="Pay now").click()
    assert answer.value.status == 400


def staff_login(page: Page, site: str, make_payment) -> None:
    page.goto(site + "/staff/login")


def _logged_in(page: Page, site: str) -> None:
    user = StaffUser(email=STAFF_EMAIL)
    user.set_password(STAFF_PASSWORD)
    db.session.add(user)
    db.session.commit()
    page.goto(site + "/staff/login")
    page.get_by_label("E-mail").fill(STAFF_EMAIL)
    page.get_by_label("Password").fill(STAFF_PASSWORD)
    page.get_by_role("button", name=re.compile("log in", re.I)).click()
    page.wait_for_url(re.compile(r".*/staff/$"))


def staff_search(page: Page, site: str, make_payment) -> None:
    payment = _payment(make_payment, "coinpayments", S.PENDING)
    _logged_in(page, site)
    page.goto(f"{site}/staff/?q={payment.ref}")


def staff_payment(page: Page, site: str, make_payment) -> None:
    payment = _payment(
        make_payment, "stripe", S.COMPLETED, needs_review=True, review_reason="Paid late"
    )
    _logged_in(page, site)
    page.goto(f"{site}/staff/payments/{payment.ref}")


_CRYPTO = {
    "pay_address": "3QJmV3qfvL9SuYo34YihAf3sRCW3qSinyC",
    "crypto_amount": 31_250,
    "crypto_currency": "BTC",
    "gateway_reference": "CPTEST0001",
}

PAGES: dict[str, Callable[..., None]] = {
    "catalogue": catalogue,
    "checkout, new order": checkout_new_order,
    "checkout, validation errors": checkout_with_errors,
    "pay again": pay_again,
    "MPGS launch page": mpgs_launch,
    "COPYandPAY widget page": copyandpay_widget,
    "status, pending card": _status("stripe", S.PENDING),
    "status, pending crypto": _status(
        "coinpayments", S.PENDING, expires_at=utcnow() + timedelta(hours=1), **_CRYPTO
    ),
    "status, paid": _status("stripe", S.COMPLETED),
    "status, failed": _status("mpgs", S.FAILED, status_message="Card declined"),
    "status, expired": _status("coinpayments", S.EXPIRED, **_CRYPTO),
    "status, cancelled": _status("stripe", S.CANCELLED),
    "status, needs review": _status(
        "coinpayments", S.COMPLETED, needs_review=True, review_reason="Paid late", **_CRYPTO
    ),
    "orders, empty": orders_empty,
    "orders, with an order": orders_listed,
    "error 404": error_404,
    "error 400": error_400,
    "staff login": staff_login,
    "staff index and search": staff_search,
    "staff payment": staff_payment,
}


@pytest.mark.parametrize("name", PAGES)
def test_no_serious_or_critical_accessibility_violation(
    page: Page, site: str, sandbox, make_payment, name: str
) -> None:
    sandbox.knobs("coinpayments", notifications=False)
    PAGES[name](page, site, make_payment)

    violations = audit(page)

    failing = [v for v in violations if v["impact"] in FAILING_IMPACTS]
    if violations:
        print(f"\naxe on {name} ({page.url}):\n{describe(violations)}")
    assert not failing, f"axe on {name} ({page.url}):\n{describe(failing)}"
