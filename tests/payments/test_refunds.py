"""Refunds through the real MPGS and Stripe clients against the sandbox."""

from __future__ import annotations

import threading

import pytest
from flask import Flask

from checkout.extensions import db
from checkout.models import PaymentEvent
from checkout.money import Money
from checkout.payments.refunds import RefundRefused, refund_payment, refundable
from checkout.payments.service import Source, refresh
from tests.conftest import Sandbox
from tests.reconciliation import GatewayCalls, events, open_payments, pay_ref, payment, quiet


@pytest.fixture(autouse=True)
def _no_notifications(sandbox: Sandbox) -> None:
    quiet(sandbox)


def _paid(app: Flask, sandbox: Sandbox, gateway: str, price: int = 2000) -> str:
    [ref] = open_payments(app, gateway, 1, price=price)
    with app.app_context():
        pay_ref(sandbox, ref)
        refresh(payment(ref), Source.STAFF)
        assert payment(ref).status == "COMPLETED"
    return ref


@pytest.mark.parametrize("gateway", ["mpgs", "stripe"])
def test_partial_then_full_refund_ends_refunded(app: Flask, sandbox: Sandbox, gateway: str) -> None:
    ref = _paid(app, sandbox, gateway)
    with app.app_context():
        first = refund_payment(payment(ref), Money(750, "USD"), staff="agent@tollgate.test")
        assert not first.fully_refunded and first.refunded_total == Money(750, "USD")
        row = payment(ref)
        assert row.status == "COMPLETED" and refundable(row) == Money(1250, "USD")

        second = refund_payment(payment(ref), None, staff="agent@tollgate.test")
        assert second.amount == Money(1250, "USD") and second.fully_refunded
        row = payment(ref)
        assert row.status == "REFUNDED" and row.refunded_amount == 2000
        refunds = events(ref, kind="refund")
        assert [e.details["amount"] for e in refunds] == ["7.50", "12.50"]
        assert all(e.source == "staff" and e.details["refund_reference"] for e in refunds)
        [moved] = events(ref, kind="transition", new_status="REFUNDED")
        assert moved.old_status == "COMPLETED" and moved.source == "staff"


def test_refunds_never_exceed_what_was_paid(app: Flask, sandbox: Sandbox) -> None:
    ref = _paid(app, sandbox, "stripe")
    calls = GatewayCalls().watch(app, "stripe")
    with app.app_context():
        with pytest.raises(RefundRefused, match=r"At most 20\.00 USD"):
            refund_payment(payment(ref), Money(2001, "USD"), staff="a")
        with pytest.raises(RefundRefused, match="greater than zero"):
            refund_payment(payment(ref), Money(0, "USD"), staff="a")
        with pytest.raises(RefundRefused, match="currency"):
            refund_payment(payment(ref), Money(100, "EUR"), staff="a")
    assert calls.total == 0


def test_two_staff_refunding_at_once_refund_once(app: Flask, sandbox: Sandbox) -> None:
    ref = _paid(app, sandbox, "mpgs")
    calls = GatewayCalls().watch(app, "mpgs")
    sandbox.knobs("mpgs", latency_ms=100)
    start = threading.Barrier(2)
    results: list[object] = []

    def click() -> None:
        with app.app_context():
            start.wait()
            try:
                results.append(refund_payment(payment(ref), None, staff="agent"))
            except RefundRefused as exc:
                results.append(exc)

    threads = [threading.Thread(target=click) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    refused = [r for r in results if isinstance(r, RefundRefused)]
    assert len(results) == 2 and len(refused) == 1
    assert calls.calls["mpgs"] == 1
    with app.app_context():
        row = payment(ref)
        assert row.status == "REFUNDED" and row.refunded_amount == 2000
        assert len(events(ref, kind="refund")) == 1


def test_unanswered_refund_is_flagged_not_retried_blindly(app: Flask, sandbox: Sandbox) -> None:
    ref = _paid(app, sandbox, "stripe")
    sandbox.knobs("stripe", error_rate=1.0)
    with app.app_context():
        with pytest.raises(RefundRefused, match="may or may not have gone through"):
            refund_payment(payment(ref), None, staff="agent")
        row = payment(ref)
        assert row.status == "COMPLETED" and row.refunded_amount == 0
        assert row.needs_review and "no answer from the gateway" in row.review_reason


def test_only_completed_payments_are_refunded(app: Flask, sandbox: Sandbox) -> None:
    [ref] = open_payments(app, "stripe", 1)
    calls = GatewayCalls().watch(app, "stripe")
    with app.app_context():
        with pytest.raises(RefundRefused, match="this one is PENDING"):
            refund_payment(payment(ref), None, staff="agent")
        assert db.session.query(PaymentEvent).filter_by(kind="refund").count() == 0
    assert calls.total == 0


def test_coinpayments_has_no_refund_api(app: Flask, sandbox: Sandbox) -> None:
    ref = _paid(app, sandbox, "coinpayments")
    with app.app_context():
        with pytest.raises(RefundRefused, match="CoinPayments has no refund API"):
            refund_payment(payment(ref), None, staff="agent")
        row = payment(ref)
        assert row.status == "COMPLETED" and row.refunded_amount == 0 and not row.needs_review


def test_a_refund_the_gateway_could_not_take_is_refused_before_the_call(
    app: Flask, sandbox: Sandbox
) -> None:
    [ref] = open_payments(app, "stripe", 1, price=4250, currency="KWD")
    with app.app_context():
        pay_ref(sandbox, ref)
        refresh(payment(ref), Source.STAFF)
        assert payment(ref).status == "COMPLETED"
    calls = GatewayCalls().watch(app, "stripe")
    with app.app_context():
        with pytest.raises(RefundRefused, match=r"Stripe cannot refund 1\.005 KWD"):
            refund_payment(payment(ref), Money(1005, "KWD"), staff="a")

        assert calls.total == 0
        row = payment(ref)
        assert row.status == "COMPLETED" and row.refunded_amount == 0
        assert events(ref, kind="refund") == []
        done = refund_payment(payment(ref), Money(1010, "KWD"), staff="a")
        assert done.refunded_total == Money(1010, "KWD")
