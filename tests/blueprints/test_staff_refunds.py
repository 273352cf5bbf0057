"""Refunds from the staff console in two steps: the payment page's form leads to a confirmation
page that repeats the amount and the currency and asks a reason; only its form moves money. A
gateway without a refund API shows how to refund by hand and books a manual refund the same way.
Every form is posted exactly as rendered (the confirmation page's too)."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from checkout.extensions import db
from checkout.fulfilment.jobs import JobKind
from checkout.models import AuditEntry, OutboxJob, PaymentEvent, StaffRole, StaffUser
from checkout.money import Money
from checkout.payments.refunds import RefundRefused, has_refund_api, record_manual_refund
from checkout.payments.service import Source, refresh
from tests.blueprints.html_helpers import Form, parse, read_form
from tests.blueprints.test_staff import PASSWORD, login, logout
from tests.conftest import Sandbox
from tests.reconciliation import GatewayCalls, events, open_payments, pay_ref, payment, quiet

ADMIN = "admin@tollgate.test"
SUPPORT = "support@tollgate.test"


@pytest.fixture(autouse=True)
def _quiet(sandbox: Sandbox) -> None:
    quiet(sandbox)


@pytest.fixture
def app_overrides() -> dict[str, Any]:
    return {"OUTBOX_KICK": "off"}  # the shopper's refund notice stays queued for the test to see


def _client(app: Flask, email: str, role: str) -> FlaskClient:
    user = StaffUser(email=email, role=role)
    user.set_password(PASSWORD)
    db.session.add(user)
    db.session.commit()
    client = app.test_client()
    assert login(client, email).status_code == 303
    return client


@pytest.fixture
def admin(app: Flask) -> FlaskClient:
    return _client(app, ADMIN, StaffRole.ADMIN)


def _paid(app: Flask, sandbox: Sandbox, gateway: str, price: int = 2000) -> str:
    [ref] = open_payments(app, gateway, 1, price=price)
    with app.app_context():
        pay_ref(sandbox, ref)
        refresh(payment(ref), Source.STAFF)
        assert payment(ref).status == "COMPLETED"
    return ref


def _forms(client: FlaskClient, page: str, action: str) -> list[Form]:
    answer = client.get(page)
    assert answer.status_code == 200, (page, answer.status_code)
    return [f for f in map(read_form, parse(answer.data).find_all("form")) if f.action == action]


def _start(client: FlaskClient, ref: str, amount: str | None = None, *, manual: bool = False):
    """Type `amount` (or keep the pre-filled "everything left") and press Refund…"""
    page = f"/staff/payments/{ref}"
    [form] = _forms(client, page, f"{page}/{'manual-refund' if manual else 'refund'}")
    return (form if amount is None else form.fill("amount", amount)).submit(client)


def _confirm_form(answer: Any) -> Form:
    """The confirmation page's one form (the layout's log-out form aside)."""
    assert answer.status_code in (200, 400), answer.status_code  # 400: asked again for a reason
    forms = [read_form(f) for f in parse(answer.data).find_all("form")]
    [form] = [f for f in forms if f.action.endswith("/confirm")]
    return form


def _audit(action: str) -> list[AuditEntry]:
    db.session.expire_all()
    return list(db.session.scalars(select(AuditEntry).filter_by(action=action)))


def test_a_full_refund_is_never_one_click(app: Flask, sandbox: Sandbox, admin: FlaskClient) -> None:
    ref = _paid(app, sandbox, "stripe")
    calls = GatewayCalls().watch(app, "stripe")
    first = _start(admin, ref)  # the pre-filled amount: everything
    assert calls.total == 0 and payment(ref).refunded_amount == 0  # nothing moved yet
    page = parse(first.data)
    assert page.by_id("confirm").text == "Refund 20.00 USD"
    assert "the payment becomes Refunded" in first.text and "shopper@example.com" in first.text
    form = _confirm_form(first)
    assert form.action == f"/staff/payments/{ref}/refund/confirm"
    assert form.names() == {"csrf_token", "amount", "currency", "reason"}
    assert form.hidden()["amount"] == "20.00" and form.hidden()["currency"] == "USD"

    no_reason = form.submit(admin)  # the reason box left empty
    assert no_reason.status_code == 400 and "Give a reason" in no_reason.text
    assert calls.total == 0 and payment(ref).refunded_amount == 0

    done = _confirm_form(no_reason).fill("reason", "shopper cancelled the trip").submit(admin)
    assert done.status_code == 303 and done.location == f"/staff/payments/{ref}"
    assert "The payment is now Refunded" in admin.get(done.location).text
    row = payment(ref)
    assert row.status == "REFUNDED" and row.refunded_amount == 2000
    [event] = events(ref, kind="refund")
    assert event.details["reason"] == "shopper cancelled the trip"
    assert event.details["by"] == ADMIN and event.details["amount"] == "20.00"
    [entry] = _audit("refund")
    assert entry.target == ref and entry.staff_email == ADMIN
    assert (
        entry.details["amount"] == "20.00 USD"
        and entry.details["reason"] == event.details["reason"]
    )


def test_partial_refund_confirms_the_amount_typed(
    app: Flask, sandbox: Sandbox, admin: FlaskClient
) -> None:
    ref = _paid(app, sandbox, "mpgs")
    first = _start(admin, ref, "5.00")
    assert parse(first.data).by_id("confirm").text == "Refund 5.00 USD"
    assert "a partial refund: the payment stays Paid" in first.text
    _confirm_form(first).fill("reason", "one day unused").submit(admin)
    row = payment(ref)
    assert row.status == "COMPLETED" and row.refunded_amount == 500
    [form] = _forms(admin, f"/staff/payments/{ref}", f"/staff/payments/{ref}/refund")
    assert form.controls[1].value == "15.00"  # what is left, pre-filled


@pytest.mark.parametrize(
    ("amount", "says"),
    [
        ("1.005", "more decimals than USD allows"),
        ("20.01", "At most 20.00 USD is left to refund"),
        ("0", "Enter an amount greater than zero"),
        ("", "Enter the amount to refund"),
    ],
)
def test_a_wrong_amount_never_reaches_the_confirmation(
    app: Flask, sandbox: Sandbox, admin: FlaskClient, amount: str, says: str
) -> None:
    ref = _paid(app, sandbox, "stripe")
    answer = _start(admin, ref, amount)
    assert answer.status_code == 303 and answer.location == f"/staff/payments/{ref}"
    assert says in admin.get(answer.location).text
    assert payment(ref).refunded_amount == 0


def test_a_tampered_currency_or_a_stale_confirmation_moves_nothing_more(
    app: Flask, sandbox: Sandbox, admin: FlaskClient
) -> None:
    ref = _paid(app, sandbox, "stripe")
    calls = GatewayCalls().watch(app, "stripe")
    forged = _confirm_form(_start(admin, ref)).fill("reason", "x").forge("currency", "EUR")
    assert forged.submit(admin).status_code == 303
    assert "start the refund again" in admin.get(f"/staff/payments/{ref}").text
    assert calls.total == 0

    # two tabs confirm the same full refund: the second one finds nothing left
    one = _confirm_form(_start(admin, ref)).fill("reason", "first tab")
    two = _confirm_form(_start(admin, ref)).fill("reason", "second tab")
    one.submit(admin)
    two.submit(admin)
    assert "Only a completed payment can be refunded" in admin.get(f"/staff/payments/{ref}").text
    assert calls.calls["stripe"] == 1 and payment(ref).refunded_amount == 2000


def test_support_is_refused_both_steps(app: Flask, sandbox: Sandbox, admin: FlaskClient) -> None:
    ref = _paid(app, sandbox, "stripe")
    confirm = _confirm_form(_start(admin, ref)).fill("reason", "support tries")
    support = StaffUser(email=SUPPORT, role=StaffRole.SUPPORT)
    support.set_password(PASSWORD)
    db.session.add(support)
    db.session.commit()
    logout(admin)  # the same browser, now as a support user
    assert login(admin, SUPPORT).status_code == 303
    refused = _start(admin, ref)
    assert refused.status_code == 403 and "admin role" in refused.text
    assert confirm.submit(admin).status_code == 403
    assert payment(ref).refunded_amount == 0 and _audit("refund") == []


def test_coinpayments_shows_how_to_refund_by_hand_and_no_refund_form(
    app: Flask, sandbox: Sandbox, admin: FlaskClient
) -> None:
    ref = _paid(app, sandbox, "coinpayments")
    page = f"/staff/payments/{ref}"
    assert _forms(admin, page, f"{page}/refund") == []
    help_text = parse(admin.get(page).data).find(data_testid="manual-refund-help")
    assert help_text is not None and "CoinPayments has no refund API" in help_text.text
    assert "record it here" in help_text.text
    assert not has_refund_api(payment(ref)) and has_refund_api(
        payment(_paid(app, sandbox, "stripe"))
    )


def test_manual_refund_books_the_refund_and_a_note_without_the_gateway(
    app: Flask, sandbox: Sandbox, admin: FlaskClient
) -> None:
    ref = _paid(app, sandbox, "coinpayments")
    calls = GatewayCalls().watch(app, "coinpayments")
    first = _start(admin, ref, "5.00", manual=True)
    assert parse(first.data).by_id("confirm").text == "Record 5.00 USD"
    assert "No money moves from here" in first.text
    form = _confirm_form(first)
    assert form.action == f"/staff/payments/{ref}/manual-refund/confirm"
    assert form.submit(admin).status_code == 400  # how it was sent is required
    assert payment(ref).refunded_amount == 0

    _confirm_form(first).fill("reason", "sent 0.0001 BTC, tx ab12").submit(admin)
    row = payment(ref)
    assert row.status == "COMPLETED" and row.refunded_amount == 500
    rest = _confirm_form(_start(admin, ref, manual=True))  # the pre-filled rest: 15.00
    assert rest.hidden()["amount"] == "15.00"
    rest.fill("reason", "sent the rest, tx cd34").submit(admin)
    assert "The payment is now Refunded" in admin.get(f"/staff/payments/{ref}").text
    row = payment(ref)
    assert row.status == "REFUNDED" and row.refunded_amount == 2000
    assert calls.total == 0  # never the gateway

    refunds = events(ref, kind="refund")
    assert [e.details["amount"] for e in refunds] == ["5.00", "15.00"]
    assert all(e.details["manual"] and e.details["by"] == ADMIN for e in refunds)
    notes = [e.message for e in events(ref, kind="note")]
    assert any("sent 0.0001 BTC, tx ab12" in n for n in notes)
    [moved] = events(ref, kind="transition", new_status="REFUNDED")
    assert moved.source == "staff"
    notices = db.session.scalars(
        select(OutboxJob).filter_by(kind=JobKind.SEND_REFUND_NOTICE, order_id=row.order_id)
    ).all()
    assert len(notices) == 2  # the shopper is told of each, as for a gateway refund
    assert [e.details["amount"] for e in _audit("manual_refund")] == ["5.00 USD", "15.00 USD"]


def test_a_gateway_with_a_refund_api_is_not_refunded_by_hand(
    app: Flask, sandbox: Sandbox, admin: FlaskClient
) -> None:
    ref = _paid(app, sandbox, "stripe")
    page = f"/staff/payments/{ref}"
    assert _forms(admin, page, f"{page}/manual-refund") == []
    with pytest.raises(RefundRefused, match="refunds through its API"):
        record_manual_refund(payment(ref), Money(100, "USD"), staff=ADMIN, note="by hand")
    assert payment(ref).refunded_amount == 0
    assert db.session.scalar(select(PaymentEvent).filter_by(kind="refund")) is None
