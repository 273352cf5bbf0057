"""The one funnel: record_observation, record_error and claim_check, on the real database."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from flask import Flask
from sqlalchemy import text, update

from checkout.extensions import db
from checkout.gateways.base import GatewayUnavailable, Observation
from checkout.models import Order, OrderStatus, Payment, PaymentEvent, utcnow
from checkout.money import Money
from checkout.payments import service
from checkout.payments.decision import DUPLICATE_REVIEW
from checkout.payments.service import (
    Source,
    claim_check,
    record_error,
    record_observation,
    record_observations,
)
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


def test_a_fresh_copy_another_writer_changed_loses_and_is_decided_again(
    make_payment, fulfilments, monkeypatch
):
    """fresh=True decides on the caller's copy first; a stale one loses the compare-and-set,
    its claim of the order is rolled back, and the row as it is now decides."""
    payment = make_payment()
    real_decide = service.decide
    decided_on: list[str] = []

    def watched(current, observation, **facts):
        decided_on.append(current.status)
        return real_decide(current, observation, **facts)

    monkeypatch.setattr(service, "decide", watched)
    copy = db.session.get(Payment, payment.id)  # read in the open transaction, as the IPN does
    assert copy.status == S.PENDING
    with db.engine.begin() as other:  # a second connection completes it after that read
        other.execute(
            update(Payment)
            .where(Payment.id == payment.id)
            .values(status=S.COMPLETED, version=Payment.version + 1)
        )
    calls: list[str] = []

    outcome = record_observation(
        copy, paid(), Source.IPN, fresh=True, along=lambda: calls.append("along")
    )

    assert (outcome.old_status, outcome.transitioned, outcome.fulfilled) == (
        S.COMPLETED,
        False,
        False,
    )
    assert decided_on == [S.PENDING, S.COMPLETED]  # the stale copy, then the row re-read
    assert calls == ["along"]  # once, with the attempt that won
    assert events(payment, "transition") == []
    db.session.expire_all()
    assert db.session.get(Order, payment.order_id).status == OrderStatus.OPEN
    assert len(fulfilments) == 0


# -- the batched path (the sweep's): same rules, same rows, same events as one by one -----------


def pending(raw_status: str = "0", **values) -> Observation:
    return Observation(
        status=S.PENDING, raw_status=raw_status, raw={"status": raw_status}, **values
    )


def _scenario(make_payment) -> list[tuple[Payment, Observation]]:
    """One of each kind of answer a sweep meets: quiet, paid, wrong money, refused, late, review."""
    paid_order = make_payment()
    record_observation(paid_order, paid(), Source.IPN)
    duplicate = Payment(
        order_id=paid_order.order_id,
        gateway="stripe",
        amount=1250,
        currency="USD",
        status=S.PENDING,
    )
    db.session.add(duplicate)
    db.session.commit()
    return [
        (make_payment(), pending()),
        (make_payment(), pending("1", confirms_received=1, confirms_needed=3)),
        (make_payment(), paid()),
        (make_payment(), paid(1249)),
        (make_payment(status=S.COMPLETED), pending()),
        (make_payment(status=S.EXPIRED), paid()),
        (make_payment(), pending("AUTHORIZED", review="authorized, not captured")),
        (duplicate, paid()),
        (make_payment(), pending()),
    ]


def _state(payment: Payment) -> tuple:
    row = reload(payment)
    order = db.session.get(Order, row.order_id)
    return (
        row.status,
        row.version,
        row.needs_review,
        row.review_reason,
        row.late,
        row.failure_count,
        row.confirms_received,
        row.last_raw,
        row.last_checked_at is not None,
        order.status,
        order.paid_by_payment_id == row.id,
        [(e.kind, e.old_status, e.new_status, e.raw_status, e.message) for e in events(row)],
    )


def test_the_batch_path_gives_exactly_what_one_by_one_gives(make_payment, fulfilments):
    one_by_one = _scenario(make_payment)
    batched = _scenario(make_payment)
    fulfilments.clear()

    single = [record_observation(p, o, Source.SWEEP) for p, o in one_by_one]
    single_fulfilled = [ref for ref, _ in fulfilments]
    fulfilments.clear()
    together = record_observations(batched, Source.SWEEP)

    assert [(o.old_status, o.new_status, o.transitioned, o.fulfilled) for o in together] == [
        (o.old_status, o.new_status, o.transitioned, o.fulfilled) for o in single
    ]
    assert [o.payment_ref for o in together] == [p.ref for p, _ in batched]
    assert [_state(p) for p, _ in batched] == [_state(p) for p, _ in one_by_one]
    by_position = {p.ref: i for i, (p, _) in enumerate(one_by_one)}
    by_position.update({p.ref: i for i, (p, _) in enumerate(batched)})
    assert [by_position[ref] for ref, _ in fulfilments] == [
        by_position[ref] for ref in single_fulfilled
    ]
    assert len(fulfilments) == 2  # the paid one and the late one; the duplicate is not


def test_quiet_answers_are_bookkeeping_only_and_fulfil_once_when_repeated(
    make_payment, fulfilments
):
    payments = [make_payment() for _ in range(3)]
    versions = [p.version for p in payments]

    record_observations([(p, paid()) for p in payments], Source.SWEEP)
    outcomes = record_observations([(p, paid()) for p in payments], Source.SWEEP)

    assert not any(o.transitioned or o.fulfilled or o.error for o in outcomes)
    assert len(fulfilments) == 3
    for payment, version in zip(payments, versions, strict=True):
        payment = reload(payment)
        assert payment.status == S.COMPLETED
        assert payment.version == version + 2
        assert [e.kind for e in events(payment)] == ["transition"]


def test_a_lost_compare_and_set_sends_the_batch_through_the_single_path(
    app: Flask, make_payment, monkeypatch
):
    """Another writer completes a payment between the batch's read and its write."""
    payments = [make_payment() for _ in range(3)]
    raced = payments[1]
    real_decide = service.decide
    raced_once: list[int] = []

    def decide_then_race(payment, observation, **facts):
        decision = real_decide(payment, observation, **facts)
        if payment.id == raced.id and not raced_once:
            raced_once.append(payment.id)
            with db.engine.begin() as other:  # a second connection: a real concurrent writer
                other.execute(
                    update(Payment)
                    .where(Payment.id == raced.id)
                    .values(status=S.COMPLETED, version=Payment.version + 1)
                )
        return decision

    monkeypatch.setattr(service, "decide", decide_then_race)
    versions = {p.id: p.version for p in payments}

    outcomes = record_observations([(p, pending()) for p in payments], Source.SWEEP)

    assert raced_once
    assert [o.error for o in outcomes] == [None, None, None]
    assert reload(raced).status == S.COMPLETED
    [refused] = events(raced, "refused")
    assert "COMPLETED -> PENDING is not allowed" in refused.message
    for payment in payments:
        row = reload(payment)
        assert row.version == versions[payment.id] + (2 if payment.id == raced.id else 1)
        assert row.last_raw == {"status": "0"}
    assert events(payments[0]) == [] and events(payments[2]) == []


def _stored_row(payment: Payment) -> dict:
    """The payment's columns as the database holds them (JSON and times as stored text)."""
    skip = {"id", "ref", "order_id", "attempt_token", "created_at", "updated_at"}
    columns = [c.name for c in Payment.__table__.columns if c.name not in skip]
    query = text(f"SELECT {', '.join(columns)} FROM payments WHERE id = :id")  # noqa: S608
    return dict(db.session.execute(query, {"id": payment.id}).mappings().one())


def test_one_quiet_answer_writes_the_same_columns_batched_and_one_by_one(make_payment, monkeypatch):
    """The sweep's batched write and the single path store byte-identical values."""
    now = utcnow()
    monkeypatch.setattr(service, "utcnow", lambda: now)
    answer = pending(
        "1",
        gateway_reference="CPTEST-1",
        confirms_received=1,
        confirms_needed=3,
        expires_at=now + timedelta(hours=1),
        data={"coin_page": "https://pay.example/1"},
    )
    alone = make_payment(gateway_data={"session": "s-1"})
    batched = make_payment(gateway_data={"session": "s-1"})

    record_observation(alone, answer, Source.SWEEP)
    monkeypatch.setattr(service, "record_observation", None)  # the batch must write it itself
    [outcome] = record_observations([(batched, answer)], Source.SWEEP)

    assert (outcome.transitioned, outcome.error) == (False, None)
    assert _stored_row(batched) == _stored_row(alone)
    row = reload(batched)
    assert (row.last_checked_at, row.confirms_received, row.gateway_reference) == (
        now,
        1,
        "CPTEST-1",
    )
    assert row.gateway_data == {"session": "s-1", "coin_page": "https://pay.example/1"}
    assert events(alone) == [] and events(batched) == []


def test_a_payment_that_keeps_changing_is_an_error_outcome_not_an_exception(
    make_payment, monkeypatch
):
    busy, calm = make_payment(), make_payment()

    def always_busy(payment, observation, source):
        raise service.ConcurrencyError(f"payment {payment.ref} changed 8 times while deciding")

    monkeypatch.setattr(service, "record_observation", always_busy)
    outcomes = record_observations([(busy, paid()), (calm, pending())], Source.SWEEP)

    assert outcomes[0].error and "changed 8 times" in outcomes[0].error
    assert not outcomes[0].transitioned
    assert outcomes[1].error is None and reload(calm).last_raw == {"status": "0"}
    assert reload(busy).status == S.PENDING


# -- review kinds: what the shopper's page reads ------------------------------------------


def _kind(payment: Payment) -> str | None:
    return (reload(payment).gateway_data or {}).get("review_kind")


def test_each_flag_the_funnel_raises_records_its_kind(make_payment) -> None:
    under, over, other_coin = make_payment(), make_payment(), make_payment()
    record_observation(under, paid(1000), Source.IPN)
    record_observation(over, paid(1500), Source.IPN)
    record_observation(other_coin, paid(1250, "EUR"), Source.IPN)
    assert [_kind(p) for p in (under, over, other_coin)] == [
        "underpaid",
        "overpaid",
        "amount_mismatch",
    ]

    late = make_payment(status=S.EXPIRED, gateway_data={"session_id": "cs_1"})
    record_observation(late, paid(), Source.SWEEP)
    assert _kind(late) == "late"
    assert reload(late).gateway_data["session_id"] == "cs_1"  # the other facts stay

    first = make_payment()
    twice = Payment(
        order_id=first.order_id, gateway="stripe", amount=1250, currency="USD", status=S.PENDING
    )
    db.session.add(twice)
    db.session.commit()
    record_observation(first, paid(), Source.IPN)
    record_observation(twice, paid(), Source.IPN)
    assert _kind(twice) == "paid_twice"

    held = make_payment(gateway="mpgs")
    authorised = Observation(
        status=S.PENDING,
        raw_status="AUTHORIZED",
        review="authorized, not captured",
        review_kind="authorised",
    )
    record_observation(held, authorised, Source.POLL)
    assert _kind(held) == "authorised"


def test_an_expired_payment_the_gateway_still_calls_open_records_nothing(make_payment) -> None:
    """The slow look-ups that wait for late card money must not add a refusal each time."""
    expired = make_payment(gateway="mpgs", status=S.EXPIRED)
    for _ in range(3):
        outcome = record_observation(
            expired,
            Observation(status=S.PENDING, raw_status="AUTHENTICATION_INITIATED"),
            Source.SWEEP,
        )
        assert not outcome.transitioned
    assert reload(expired).status == S.EXPIRED
    assert events(expired) == []
    # FAILED -> PENDING is still a refusal worth recording
    failed = make_payment(gateway="mpgs", status=S.FAILED)
    record_observation(failed, Observation(status=S.PENDING, raw_status="INITIATED"), Source.POLL)
    assert [e.kind for e in events(failed)] == ["refused"]
