"""A support person works a flagged payment in Chromium: the review queue says why and what to do,
a note and a resolve go on the timeline and the queue empties; a refund is refused to support;
an admin refunds part of it on the confirmation page. CSRF is on, as in production."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask
from playwright.sync_api import Page, expect
from sqlalchemy import update

from checkout.extensions import db
from checkout.models import Payment, StaffRole, StaffUser
from checkout.payments.service import Source, refresh
from tests.conftest import Sandbox
from tests.reconciliation import open_payments, pay_ref, payment, quiet

PASSWORD = "correct horse battery staple"
SUPPORT, ADMIN = "support@tollgate.test", "admin@tollgate.test"


@pytest.fixture
def app_overrides() -> dict[str, Any]:
    return {"WTF_CSRF_ENABLED": True, "OUTBOX_KICK": "off"}


def _staff(email: str, role: str) -> None:
    user = StaffUser(email=email, role=role)
    user.set_password(PASSWORD)
    db.session.add(user)
    db.session.commit()


def _log_in(page: Page, site: str, email: str) -> None:
    page.goto(site + "/staff/login")
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name=re.compile("log in", re.I)).click()
    page.wait_for_url(re.compile(r".*/staff/$"))


def _flagged_paid_payment(app: Flask, sandbox: Sandbox) -> str:
    quiet(sandbox)
    [ref] = open_payments(app, "stripe", 1, price=2000)
    pay_ref(sandbox, ref)
    refresh(payment(ref), Source.STAFF)
    db.session.execute(
        update(Payment)
        .where(Payment.ref == ref)
        .values(
            needs_review=True,
            review_reason="late payment: money arrived after the payment was EXPIRED",
            gateway_data={"review_kind": "late"},
        )
    )
    db.session.commit()
    return ref


def test_support_resolves_a_flag_and_an_admin_refunds_part_with_confirmation(
    page: Page, site: str, app: Flask, sandbox: Sandbox
) -> None:
    ref = _flagged_paid_payment(app, sandbox)
    _staff(SUPPORT, StaffRole.SUPPORT)
    _staff(ADMIN, StaffRole.ADMIN)

    _log_in(page, site, SUPPORT)
    page.goto(site + "/staff/review")
    row = page.locator(f'tr[data-ref="{ref}"]')
    expect(row).to_contain_text("Late payment")
    expect(row).to_contain_text("Refund it, or keep it and make sure the order is delivered.")
    row.get_by_role("link", name=ref).click()

    page.get_by_label("Note for the timeline").fill("shopper phoned, wants to keep the plan")
    page.get_by_role("button", name="Add note").click()
    timeline = page.get_by_test_id("timeline")
    expect(timeline).to_contain_text("shopper phoned, wants to keep the plan")
    expect(timeline).to_contain_text(SUPPORT)

    page.get_by_role("button", name="Resolve").click()  # the note is required: nothing is sent
    expect(page.get_by_role("heading", name="Needs review")).to_be_visible()
    assert payment(ref).needs_review
    page.get_by_label("What was done").fill("kept it, delivered the eSIM")
    page.get_by_role("button", name="Resolve").click()
    expect(page.get_by_role("status")).to_contain_text("review resolved")
    expect(page.get_by_test_id("timeline")).to_contain_text("kept it, delivered the eSIM")
    page.goto(site + "/staff/review")
    expect(page.get_by_text("Nothing needs review.")).to_be_visible()

    page.goto(f"{site}/staff/payments/{ref}")
    page.get_by_role("button", name="Refund…").click()
    expect(page.get_by_role("heading", name="Not allowed for your role")).to_be_visible()
    assert payment(ref).refunded_amount == 0

    page.context.clear_cookies()
    _log_in(page, site, ADMIN)
    page.goto(f"{site}/staff/payments/{ref}")
    page.get_by_label(re.compile(r"Amount in USD")).fill("5.00")
    page.get_by_role("button", name="Refund…").click()
    expect(page.get_by_test_id("refund-amount")).to_have_text("Refund 5.00 USD")
    expect(page.get_by_text("a partial refund: the payment stays Paid")).to_be_visible()
    page.get_by_label(re.compile(r"Reason")).fill("one day of the trip cancelled")
    page.get_by_role("button", name="Refund 5.00 USD").click()
    expect(page.get_by_role("status")).to_contain_text("Refunded 5.00 USD")
    row = payment(ref)
    assert row.status == "COMPLETED" and row.refunded_amount == 500 and not row.needs_review
