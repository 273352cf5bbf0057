"""The one funnel: record_observation, record_error and claim_check, on the real database."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from flask import Flask

from checkout.extensions import db
from checkout.gateways.base import GatewayUnavailable, Observation
from checkout.models import Order, OrderStatus, Payment, PaymentEvent, utcnow
from checkout.money import Money
from checkout.payments.decision import DUPLICATE_REVIEW
from checkout.payments.service import Source, claim_check, record_error, record_observation
from checkout.payments.states import PaymentStatus

S = PaymentStatus


def paid(amount: int = 1250, currency: str = "USD") -> Observation:
    return Observation(status=S.COMPLETED, raw_status="100", paid=Money(amount, currency))


def events(payment: Payment, kind: str | None = None) -> list[PaymentEvent]:
    query = db.select(PaymentEvent).filter_by(payment_id=payment.id).order_by(PaymentEvent.id)
    rows = db.session.scalars(query).all()
    return [e for e in rows if kind is None or e.kind == kind]


def reload(payment: Payment) -> Payment:
    db.session.expire_all()
    return db.session.get(Payment, payment.id)


def test_paid_in_full_completes_pays_the_order_and_fulfils_once(make_payment, fulfilments):
    payment = make_payment()

    outcome = record_observation(payment, paid(), Source.IPN)

    payment = reload(payment)
    assert outcome.transitioned and outcome.fulfilled
    assert payment.status == S.COMPLETED
    assert payment.completed_at is not None
    order = db.session.get(Order, payment.order_id)
    assert order.status == OrderStatus.PAID
    assert order.paid_by_payment_id == payment.id
    assert order.fulfilment_code.startswith("LPA:1$")
    [transition] = events(payment, "transition")
    assert (transition.old_status, transition.new_status, transition.source) == (
        "PENDING",
        "COMPLETED",
        "ipn",
    )
    assert fulfilments == [(payment.ref, order.ref)]


def test_the_same_observation_twice_changes_nothing_the_second_time(make_payment, fulfilments):
    payment = make_payment()
    record_observation(payment, paid(), Source.IPN)
    version = reload(payment).version

    outcome = record_observation(payment, paid(), Source.POLL)

    assert not outcome.transitioned and not outcome.fulfilled
    assert len(events(payment)) == 1
    assert len(fulfilments) == 1
    assert reload(payment).version == version + 1  # bookkeeping only (last_checked_at)


@pytest.mark.parametrize(
    ("observed", "reason"),
    [
        (Money(1249, "USD"), "amount mismatch"),
        (Money(1251, "USD"), "amount mismatch"),
        (Money(1250, "EUR"), "currency mismatch"),
        (None, "without saying how much"),
    ],
)
def test_completed_with_the_wrong_money_is_flagged_not_completed(
    make_payment, fulfilments, observed, reason
):
    payment = make_payment()
    observation = Observation(status=S.COMPLETED, raw_status="100", paid=observed)

    record_observation(payment, observation, Source.IPN)
    record_observation(payment, observation, Source.POLL)

    payment = reload(payment)
    assert payment.status == S.PENDING
    assert payment.needs_review
    assert reason in payment.review_reason
    assert len(events(payment, "review")) == 1  # the same reason is recorded once
    assert events(payment, "transition") == []
    assert fulfilments == []
    assert db.session.get(Order, payment.order_id).status == OrderStatus.OPEN


def test_crypto_paid_in_coin_is_checked_against_the_coin_amount(make_payment, fulfilments):
    payment = make_payment(crypto_amount=4829857, crypto_currency="LTCT")

    record_observation(payment, paid(4829856, "LTCT"), Source.POLL)
    assert reload(payment).status == S.PENDING

    record_observation(payment, paid(4829857, "LTCT"), Source.POLL)
    assert reload(payment).status == S.COMPLETED
    assert len(fulfilments) == 1


def test_a_final_status_never_regresses(make_payment):
    payment = make_payment()
    record_observation(payment, paid(), Source.IPN)

    outcome = record_observation(payment, Observation(status=S.PENDING, raw_status="0"), Source.IPN)
    record_observation(payment, Observation(status=S.FAILED, raw_status="-2"), Source.POLL)

    assert not outcome.transitioned
    payment = reload(payment)
    assert payment.status == S.COMPLETED
    refused = events(payment, "refused")
    assert [e.raw_status for e in refused] == ["0", "-2"]
    assert "COMPLETED -> PENDING is not allowed" in refused[0].message


@pytest.mark.parametrize("final", [S.EXPIRED, S.FAILED, S.CANCELLED])
def test_late_money_completes_a_final_payment_flagged_and_fulfilled_once(
    make_payment, fulfilments, final
):
    payment = make_payment(status=final)

    record_observation(payment, paid(), Source.SWEEP)
    record_observation(payment, paid(), Source.IPN)

    payment = reload(payment)
    assert payment.status == S.COMPLETED
    assert payment.late and payment.needs_review
    assert payment.review_reason == f"late payment: money arrived after the payment was {final}"
    assert len(events(payment, "transition")) == 1
    assert len(fulfilments) == 1


def test_a_second_payment_of_a_paid_order_completes_but_is_flagged_and_not_fulfilled(
    make_payment, fulfilments
):
    first = make_payment()
    second = Payment(
        order_id=first.order_id, gateway="stripe", amount=1250, currency="USD", status=S.PENDING
    )
    db.session.add(second)
    db.session.commit()

    record_observation(first, paid(), Source.IPN)
    outcome = record_observation(second, paid(), Source.IPN)

    second = reload(second)
    assert outcome.transitioned and not outcome.fulfilled
    assert second.status == S.COMPLETED
    assert second.needs_review and second.review_reason == DUPLICATE_REVIEW
    assert db.session.get(Order, first.order_id).paid_by_payment_id == first.id
    assert [ref for ref, _ in fulfilments] == [first.ref]


def test_gateway_review_facts_are_recorded_once(make_payment):
    payment = make_payment()
    observation = Observation(
        status=S.PENDING, raw_status="AUTHORIZED", review="authorized, not captured"
    )

    record_observation(payment, observation, Source.POLL)
    record_observation(payment, observation, Source.POLL)

    payment = reload(payment)
    assert payment.status == S.PENDING and payment.needs_review
    assert [e.message for e in events(payment, "review")] == ["authorized, not captured"]


def test_transport_errors_leave_the_status_and_back_off(make_payment):
    payment = make_payment()
    delays = []
    for _ in range(3):
        before = utcnow()
        record_error(reload(payment), GatewayUnavailable("timeout calling gateway"), Source.SWEEP)
        delays.append(reload(payment).next_check_at - before)

    payment = reload(payment)
    assert payment.status == S.PENDING
    assert payment.failure_count == 3
    assert delays[0] < delays[1] < delays[2]
    assert [e.kind for e in events(payment)] == ["error", "error", "error"]
    assert "timeout calling gateway" in events(payment)[0].message

    record_observation(payment, Observation(status=S.PENDING, raw_status="0"), Source.SWEEP)
    assert reload(payment).failure_count == 0


def test_claim_check_lets_one_caller_through_per_window(make_payment):
    payment = make_payment()
    assert claim_check(payment, timedelta(seconds=5)) is True
    assert claim_check(payment, timedelta(seconds=5)) is False
    assert claim_check(payment, timedelta(seconds=0)) is True


def test_concurrent_observations_make_one_transition_and_one_fulfilment(
    app: Flask, make_payment, fulfilments
):
    payments = [make_payment() for _ in range(5)]
    ids = [p.id for p in payments]
    sources = [Source.IPN, Source.RETURN, Source.POLL, Source.SWEEP]
    barrier = threading.Barrier(len(sources))
    errors: list[BaseException] = []

    def observe(payment_id: int, source: Source) -> None:
        with app.app_context():
            payment = db.session.get(Payment, payment_id)
            barrier.wait()
            try:
                record_observation(payment, paid(), source)
            except BaseException as exc:
                errors.append(exc)
            finally:
                db.session.remove()

    for payment_id in ids:
        threads = [threading.Thread(target=observe, args=(payment_id, s)) for s in sources]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    assert errors == []
    db.session.expire_all()
    for payment_id in ids:
        payment = db.session.get(Payment, payment_id)
        assert payment.status == S.COMPLETED
        assert len(events(payment, "transition")) == 1
    assert sorted(ref for ref, _ in fulfilments) == sorted(p.ref for p in payments)
