"""A support person's day in Chromium, through real buttons and links only (issue 12, "Done when").

Support logs in, reads the dashboard's charts, filters the payments list and exports exactly those
rows, works a flagged payment from the review queue (note, resolve: the queue shrinks), is refused
a refund and logs out. An admin then refunds part of a payment a shopper really paid through the
Stripe sandbox's hosted page, on the confirmation step, and finds every action of the day in the
audit log. axe audits each staff page on the way; CSRF is on, as in production.
"""

from __future__ import annotations

import csv
import io
import re
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from checkout.gateways.registry import label_for
from checkout.models import StaffRole
from checkout.payments.states import PaymentStatus
from tests.browser.staff_pages import accessible, add_staff, log_in
from tests.browser.stripe_pages import pay_with_stripe
from tests.reconciliation import payment

SUPPORT, ADMIN = "support.day@tollgate.test", "admin.day@tollgate.test"
LATE = "late payment: money arrived after the payment was EXPIRED"
TEXT_FILTER = "Ref, order ref, gateway reference or e-mail"
# The actions the day leaves in the audit log (a refused refund may one day be recorded too).
DAY_ACTIONS = {"login", "logout", "note", "resolve", "refund"}


@pytest.fixture
def app_overrides() -> dict[str, Any]:
    return {"WTF_CSRF_ENABLED": True, "OUTBOX_KICK": "off"}


def _nav(page: Page, name: str) -> None:
    page.get_by_role("navigation", name="Staff").get_by_role("link", name=name).click()


def _log_out(page: Page) -> None:
    page.get_by_role("button", name="Log out").click()
    page.wait_for_url(re.compile(r".*/staff/login"))


def _the_day_s_payments(make_payment) -> tuple[list[str], str]:
    """Payments the filters must tell apart, and two flagged ones; (matching refs, flagged ref)."""
    paid, stripe = PaymentStatus.COMPLETED, "stripe"
    matching = [
        make_payment(gateway=stripe, status=paid, gateway_reference="pi_DayTrip_001").ref,
        make_payment(gateway=stripe, status=paid, gateway_reference="pi_daytrip_002").ref,
    ]
    make_payment(gateway=stripe, status=paid, gateway_reference="pi_elsewhere_003")  # text
    make_payment(gateway="mpgs", status=paid, gateway_reference="daytrip-004")  # gateway
    make_payment(gateway=stripe, gateway_reference="pi_daytrip_005")  # status (pending)
    flagged = [
        make_payment(
            gateway=stripe,
            status=paid,
            late=True,
            needs_review=True,
            review_reason=LATE,
            gateway_data={"review_kind": "late"},
        ).ref
        for _ in range(2)
    ]
    return matching, flagged[0]


def _queue_count(page: Page) -> int:
    heading = page.get_by_role("heading", name=re.compile(r"flagged for review"))
    return int(heading.inner_text().split()[0])


def _audit_rows(page: Page) -> list[tuple[str, str, str]]:
    cells = (
        page.get_by_test_id("audit-entries")
        .locator("tbody tr")
        .evaluate_all(
            "rows => rows.map(r => [...r.cells].slice(1, 4).map(c => c.innerText.trim()))"
        )
    )
    return [tuple(row) for row in cells]


def test_a_support_day_then_an_admin_refund_all_in_the_audit_log(
    page: Page, site: str, make_payment
) -> None:
    paid_ref = pay_with_stripe(page, site, "traveller@example.com")
    matching, flagged_ref = _the_day_s_payments(make_payment)
    add_staff(SUPPORT, StaffRole.SUPPORT)
    add_staff(ADMIN, StaffRole.ADMIN)

    # Support: the dashboard's charts.
    log_in(page, site, SUPPORT)
    expect(page.locator("svg[role=img]").first).to_be_visible()
    assert page.locator("svg[role=img]").count() >= 3
    accessible(page, "dashboard")

    # The payments list, filtered by status, gateway and text (any case).
    _nav(page, "Payments")
    filters = page.get_by_test_id("payment-filters")
    filters.get_by_label("Status", exact=True).select_option(label="Paid")
    filters.get_by_label("Gateway", exact=True).select_option(label=label_for("stripe"))
    filters.get_by_label(TEXT_FILTER).fill("DAYTRIP")
    filters.get_by_role("button", name="Filter").click()
    expect(page).to_have_url(
        re.compile(r"(?=.*status=COMPLETED)(?=.*gateway=stripe)(?=.*q=DAYTRIP)")
    )
    rows = page.get_by_test_id("payments").locator("tbody tr")
    expect(rows).to_have_count(len(matching))
    shown = rows.evaluate_all("rows => rows.map(r => r.dataset.ref)")
    assert sorted(shown) == sorted(matching)
    accessible(page, "payments list")

    with page.expect_download() as download:
        page.get_by_role("link", name="Export CSV").click()
    assert download.value.suggested_filename == "payments.csv"
    exported = list(csv.DictReader(io.StringIO(download.value.path().read_text("utf-8"))))
    assert [r["payment_ref"] for r in exported] == shown
    assert {(r["gateway"], r["status"]) for r in exported} == {("stripe", "COMPLETED")}

    # The review queue: open the flagged payment, add a note, resolve it.
    _nav(page, "Review queue")
    before = _queue_count(page)
    assert before == 2
    accessible(page, "review queue")
    page.locator(f'tr[data-ref="{flagged_ref}"]').get_by_role("link", name=flagged_ref).click()
    expect(page.get_by_test_id("review-reason")).to_contain_text(LATE)
    page.get_by_label("Note for the timeline").fill("shopper wrote in: arrived late, keep it")
    page.get_by_role("button", name="Add note").click()
    expect(page.get_by_test_id("timeline")).to_contain_text("shopper wrote in: arrived late")
    page.get_by_label("What was done").fill("kept it, the eSIM was delivered")
    page.get_by_role("button", name="Resolve").click()
    expect(page.get_by_role("status")).to_contain_text("review resolved")
    expect(page.get_by_test_id("timeline")).to_contain_text("kept it, the eSIM was delivered")
    _nav(page, "Review queue")
    assert _queue_count(page) == before - 1
    expect(page.locator(f'tr[data-ref="{flagged_ref}"]')).to_have_count(0)

    # A refund is not support's to make.
    page.goto(f"{site}/staff/payments/{flagged_ref}")
    page.get_by_role("button", name="Refund…").click()
    expect(page.get_by_role("heading", name="Not allowed for your role")).to_be_visible()
    assert payment(flagged_ref).refunded_amount == 0
    _log_out(page)

    # Admin: part of the shopper's Stripe payment back, on the confirmation step.
    log_in(page, site, ADMIN)
    _nav(page, "Payments")
    filters.get_by_label(TEXT_FILTER).fill(paid_ref)
    filters.get_by_role("button", name="Filter").click()
    page.get_by_test_id("payments").get_by_role("link", name=paid_ref).click()
    page.get_by_label(re.compile(r"Amount in USD")).fill("5.00")
    page.get_by_role("button", name="Refund…").click()
    expect(page.get_by_test_id("refund-amount")).to_have_text("Refund 5.00 USD")
    expect(page.get_by_text("a partial refund: the payment stays Paid")).to_be_visible()
    accessible(page, "refund confirmation")
    page.get_by_role("button", name="Refund 5.00 USD").click()  # the reason is required
    expect(page.get_by_test_id("refund-amount")).to_have_text("Refund 5.00 USD")
    assert payment(paid_ref).refunded_amount == 0
    page.get_by_label(re.compile(r"Reason")).fill("two days of the trip cancelled")
    page.get_by_role("button", name="Refund 5.00 USD").click()
    expect(page.get_by_role("status")).to_contain_text("Refunded 5.00 USD")
    expect(page.locator('dt:text-is("Refunded") + dd')).to_contain_text("5.00")
    expect(page.get_by_test_id("timeline")).to_contain_text("two days of the trip cancelled")
    row = payment(paid_ref)
    assert row.status == PaymentStatus.COMPLETED and row.refunded_amount == 500

    # The audit log tells the day, newest first.
    _nav(page, "Audit log")
    accessible(page, "audit log")
    day = [r for r in _audit_rows(page) if r[1] in DAY_ACTIONS]
    assert day == [
        (ADMIN, "refund", paid_ref),
        (ADMIN, "login", ADMIN),
        (SUPPORT, "logout", SUPPORT),
        (SUPPORT, "resolve", flagged_ref),
        (SUPPORT, "note", flagged_ref),
        (SUPPORT, "login", SUPPORT),
    ]
