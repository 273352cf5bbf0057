"""The sweep against the real gateway clients and the sandbox, on SQLite.

Notifications are switched off at the sandbox in these tests: the sweep has to find the truth on
its own. The PostgreSQL twins (claims under real concurrency) live in tests/postgres/.
"""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from flask import Flask
from sqlalchemy import update

from checkout.extensions import db
from checkout.gateways.base import GatewayUnavailable
from checkout.gateways.registry import get_gateway
from checkout.models import Order, Payment, SweepRun, utcnow
from checkout.money import Money
from checkout.payments.schedule import backoff_delay
from checkout.payments.sweep import sweep_pending
from tests.conftest import Sandbox, make_test_app
from tests.reconciliation import (
    GATEWAYS,
    GatewayCalls,
    completions,
    due_now,
    events,
    open_payments,
    pay,
    pay_ref,
    payment,
    quiet,
    send_late,
)


@pytest.fixture
def app_overrides() -> dict[str, Any]:
    return {"SWEEP_PAGE_SIZE": 10, "SWEEP_WORKERS": 4}


@pytest.fixture(autouse=True)
def _no_notifications(sandbox: Sandbox) -> None:
    quiet(sandbox)


def _set(ref: str, **values: Any) -> None:
    db.session.execute(update(Payment).where(Payment.ref == ref).values(**values))
    db.session.commit()


def test_sweep_completes_what_was_paid_and_backs_off_the_rest(
    app: Flask, sandbox: Sandbox, fulfilments: list
) -> None:
    calls = GatewayCalls().watch(app)
    refs = {name: open_payments(app, name, 2) for name in GATEWAYS}
    with app.app_context():
        for name in GATEWAYS:
            pay_ref(sandbox, refs[name][0])
        calls.calls.clear()
        due_now()
        run = sweep_pending("test")

        for name in GATEWAYS:
            paid, unpaid = refs[name]
            assert payment(paid).status == "COMPLETED", name
            [event] = completions(paid)
            assert event.source == "sweep"
            assert payment(unpaid).status == "PENDING"
            assert payment(unpaid).next_check_at > utcnow()
            assert payment(unpaid).claimed_by is None
        assert sorted(ref for ref, _ in fulfilments) == sorted(r[0] for r in refs.values())
        assert (run.checked, run.changed, run.expired, run.errors) == (6, 3, 0, 0)
        assert run.finished_at is not None and run.trigger == "test"
        # one batched call for CoinPayments' two payments and one list page for Stripe's two
        # (catchup.py); MPGS has no batch API: one call each
        assert calls.calls == {"coinpayments": 1, "mpgs": 2, "stripe": 1}
        assert run.gateway_calls == 4
        assert run.details["gateways"]["coinpayments"]["calls"] == 1

        # nothing is due again right away: the funnel pushed next_check_at forward
        again = sweep_pending("test")
        assert again.checked == 0
        assert calls.total == 4
        assert db.session.query(SweepRun).count() == 2


def test_coinpayments_is_asked_25_ids_a_call_in_pages(app: Flask, sandbox: Sandbox) -> None:
    refs = open_payments(app, "coinpayments", 60)
    calls = GatewayCalls().watch(app, "coinpayments")
    with app.app_context():
        app.config["SWEEP_PAGE_SIZE"] = 30
        due_now()
        run = sweep_pending("test")
        assert run.checked == 60 and run.errors == 0
        # pages of 30 -> batches of 25 + 5, twice
        assert sorted(len(refs) for _, refs in calls.batches) == [5, 5, 25, 25]
        assert calls.calls["coinpayments"] == run.gateway_calls == 4
        assert calls.polled_refs() == {ref: 1 for ref in refs}


@pytest.mark.parametrize(
    "knobs",
    [
        {"error_rate": 1.0},
        {"malformed_rate": 1.0},
        {"timeout_rate": 1.0, "hang_seconds": 2.5},
    ],
    ids=["error", "malformed", "timeout"],
)
def test_gateway_outage_backs_off_then_the_payments_complete(
    app: Flask, sandbox: Sandbox, fulfilments: list, knobs: dict[str, Any]
) -> None:
    refs = {name: open_payments(app, name, 1)[0] for name in GATEWAYS}
    refs["coinpayments-2"] = open_payments(app, "coinpayments", 1)[0]
    with app.app_context():
        for name in GATEWAYS:
            pay_ref(sandbox, refs[name])
            sandbox.knobs(name, **knobs)
        before = utcnow()
        due_now()
        run = sweep_pending("test")
        assert run.errors == 4 and run.changed == 0
        for ref in refs.values():
            row = payment(ref)
            assert row.status == "PENDING"
            assert row.failure_count == 1
            assert row.next_check_at >= before + backoff_delay(1)
            [error] = events(ref, kind="error")
            assert error.source == "sweep"
        assert fulfilments == []

        # still down a minute later: the delay grows
        later = utcnow() + timedelta(seconds=31)
        run = sweep_pending("test", now=later)
        assert run.errors == 4
        for ref in refs.values():
            row = payment(ref)
            assert row.status == "PENDING" and row.failure_count == 2
            assert row.next_check_at >= before + backoff_delay(2)

        for name in GATEWAYS:
            sandbox.knobs(name, error_rate=0.0, malformed_rate=0.0, timeout_rate=0.0)
        run = sweep_pending("test", now=utcnow() + timedelta(minutes=5))
        assert run.errors == 0
        for name in GATEWAYS:
            assert payment(refs[name]).status == "COMPLETED"
            assert payment(refs[name]).failure_count == 0
        assert payment(refs["coinpayments-2"]).status == "PENDING"
        assert len(fulfilments) == 3


def test_past_deadline_payments_of_each_gateway_are_expired(
    app: Flask, sandbox: Sandbox, fulfilments: list
) -> None:
    refs = {name: open_payments(app, name, 2) for name in GATEWAYS}
    calls = GatewayCalls().watch(app)
    with app.app_context():
        # Each gateway still calls them open (its own clock lags): the sweep runs two hours on,
        # past every deadline plus the grace period. Stripe closes a session only once our
        # stored deadline has passed by the real clock too.
        for ref in refs["stripe"]:
            _set(ref, expires_at=utcnow() - timedelta(minutes=10))
        pay_ref(sandbox, refs["stripe"][1])  # paid just before the deadline: not expired
        due_now()
        run = sweep_pending("test", now=utcnow() + timedelta(hours=2))

        for name in GATEWAYS:
            for ref in refs[name]:
                if ref == refs["stripe"][1]:
                    continue
                row = payment(ref)
                assert row.status == "EXPIRED", name
                [event] = events(ref, kind="transition", new_status="EXPIRED")
                assert event.source == "sweep"
                assert row.gateway_data["expired_by"] == "sweep"
                assert "deadline" in row.gateway_data["expiry_reason"]
        assert payment(refs["stripe"][1]).status == "COMPLETED"
        assert run.expired == 5 and run.changed == 6 and run.errors == 0
        assert len(fulfilments) == 1
        # requests per gateway: look-ups (CoinPayments and Stripe: one batch) + the expiries;
        # Stripe's expire is two (retrieve, then expire the open session)
        assert run.gateway_calls == 3 + 4 + 3
        assert calls.calls == {"coinpayments": 3, "mpgs": 4, "stripe": 3}

    # Stripe's sessions were closed at Stripe, not only marked here: the page refuses payment
    stripe_session = payment_reference(app, refs["stripe"][0])
    page = __import__("requests").get(f"{sandbox.url}/c/pay/{stripe_session}", timeout=5)
    assert page.status_code == 410


def payment_reference(app: Flask, ref: str) -> str:
    with app.app_context():
        return payment(ref).gateway_reference


def test_gateway_side_expiry_needs_no_extra_call(app: Flask, sandbox: Sandbox) -> None:
    [ref] = open_payments(app, "coinpayments", 1)
    calls = GatewayCalls().watch(app, "coinpayments")
    sandbox.advance(2 * 3600)  # CoinPayments' own timer ran out
    with app.app_context():
        due_now()
        run = sweep_pending("test")
        assert payment(ref).status == "EXPIRED"
        assert run.expired == 1 and calls.calls["coinpayments"] == 1


def test_paid_while_being_expired_completes_instead(
    app: Flask, sandbox: Sandbox, fulfilments: list
) -> None:
    [ref] = open_payments(app, "coinpayments", 1)
    client = get_gateway("coinpayments", app)
    original = client.expire

    def shopper_pays_first(payment: Payment) -> Any:
        # the coins confirm just as the sweep gives up on them
        pay(sandbox, payment.gateway, payment.checkout_url, payment.gateway_reference)
        return original(payment)

    client.expire = shopper_pays_first  # type: ignore[method-assign]
    with app.app_context():
        due_now()
        run = sweep_pending("test", now=utcnow() + timedelta(hours=2))
        row = payment(ref)
        assert row.status == "COMPLETED" and not row.late
        assert events(ref, new_status="EXPIRED") == []
        assert run.expired == 0 and run.changed == 1 and run.gateway_calls == 2
    assert len(fulfilments) == 1


def test_late_coins_after_the_sweep_expired_the_payment_complete_it_flagged(
    app: Flask, sandbox: Sandbox, live_site: str, fulfilments: list
) -> None:
    [ref] = open_payments(app, "coinpayments", 1)
    with app.app_context():
        due_now()
        sweep_pending("test", now=utcnow() + timedelta(hours=2))  # past CoinPayments' hour
        expired = payment(ref)
        assert expired.status == "EXPIRED"

        sandbox.knobs("coinpayments", notifications=True)
        send_late(sandbox, expired.checkout_url)
        sandbox.wait_notifications()

        late = payment(ref)
        assert late.status == "COMPLETED"
        assert late.late and late.needs_review
        assert "late payment" in late.review_reason
        [event] = completions(ref)
        assert event.old_status == "EXPIRED" and event.source == "ipn"
        assert fulfilments == [(ref, late.order.ref)]
        assert db.session.get(Order, late.order_id).fulfilment_code

        # a later sweep leaves the completed payment alone
        assert sweep_pending("test").checked == 0
        assert len(fulfilments) == 1


def test_late_coins_whose_ipn_is_lost_are_found_by_a_later_sweep(
    app: Flask, sandbox: Sandbox, fulfilments: list
) -> None:
    [ref] = open_payments(app, "coinpayments", 1)
    with app.app_context():
        due_now()
        sweep_pending("test", now=utcnow() + timedelta(hours=2))
        expired = payment(ref)
        assert expired.status == "EXPIRED"

        send_late(sandbox, expired.checkout_url)  # notifications stay off: the IPN never comes
        assert payment(ref).status == "EXPIRED"
        run = sweep_pending("test", now=payment(ref).next_check_at + timedelta(seconds=1))

        late = payment(ref)
        assert run.checked == 1 and run.changed == 1
        assert (late.status, late.late, late.needs_review) == ("COMPLETED", True, True)
        [event] = completions(ref)
        assert (event.old_status, event.source) == ("EXPIRED", "sweep")
        assert fulfilments == [(ref, late.order.ref)]


def test_expired_payments_are_only_polled_where_money_can_come_late_and_within_the_window(
    app: Flask, sandbox: Sandbox
) -> None:
    crypto_recent, crypto_old = open_payments(app, "coinpayments", 2)
    [card] = open_payments(app, "mpgs", 1)
    with app.app_context():
        due_now()
        sweep_pending("test", now=utcnow() + timedelta(hours=2))
        assert {payment(r).status for r in (crypto_recent, crypto_old, card)} == {"EXPIRED"}
        _set(crypto_old, created_at=utcnow() - timedelta(hours=49))
        db.session.execute(update(Payment).values(next_check_at=None))
        db.session.commit()

        run = sweep_pending("test")

        assert run.checked == 1  # only the recent crypto payment
        assert payment(crypto_recent).last_checked_at > payment(crypto_old).last_checked_at
        assert {payment(r).status for r in (crypto_recent, crypto_old, card)} == {"EXPIRED"}


def test_payments_leaving_the_window_get_a_last_check_then_expire(
    app: Flask, sandbox: Sandbox, fulfilments: list
) -> None:
    unpaid, paid, recent = open_payments(app, "coinpayments", 3)
    with app.app_context():
        pay_ref(sandbox, paid)
        old = utcnow() - timedelta(hours=49)
        for ref in (unpaid, paid):
            _set(ref, created_at=old, expires_at=None)
        _set(recent, expires_at=None)
        due_now()
        run = sweep_pending("test")
        assert payment(unpaid).status == "EXPIRED"
        assert "48-hour sweep window" in payment(unpaid).gateway_data["expiry_reason"]
        assert payment(paid).status == "COMPLETED"  # the last check found the money
        assert payment(recent).status == "PENDING"
        assert run.checked == 3 and run.expired == 1 and len(fulfilments) == 1


def test_a_narrowed_run_leaves_older_payments_alone(app: Flask, sandbox: Sandbox) -> None:
    old, new = open_payments(app, "coinpayments", 2)
    with app.app_context():
        _set(old, created_at=utcnow() - timedelta(hours=3))
        due_now()
        run = sweep_pending("cli", hours=1)
        assert run.checked == 1
        assert payment(old).last_checked_at < payment(new).last_checked_at
        assert payment(old).status == "PENDING"


def test_created_payments_are_cancelled_or_looked_up(app: Flask, sandbox: Sandbox) -> None:
    [stuck] = open_payments(app, "coinpayments", 1)  # the gateway answered, we crashed after
    [never] = open_payments(app, "mpgs", 1)
    [young] = open_payments(app, "stripe", 1)
    calls = GatewayCalls().watch(app)
    with app.app_context():
        minutes_ago = utcnow() - timedelta(minutes=2)
        _set(stuck, status="CREATED", created_at=minutes_ago, next_check_at=None)
        _set(never, status="CREATED", created_at=minutes_ago, gateway_reference=None)
        _set(young, status="CREATED", gateway_reference=None, next_check_at=None)
        due_now()
        run = sweep_pending("test")

        assert payment(stuck).status == "PENDING"
        cancelled = payment(never)
        assert cancelled.status == "CANCELLED"
        assert "could not be opened" in cancelled.status_message
        assert payment(young).status == "CREATED"  # may still be waiting for its gateway
        assert calls.calls == {"coinpayments": 1}
        assert run.details["cancelled"] == 1 and run.changed == 2


def test_dry_run_counts_and_changes_nothing(app: Flask, sandbox: Sandbox) -> None:
    refs = open_payments(app, "coinpayments", 3)
    calls = GatewayCalls().watch(app)
    with app.app_context():
        _set(refs[0], expires_at=utcnow() - timedelta(hours=1))
        before = {ref: payment(ref).version for ref in refs}
        due_now()
        run = sweep_pending("cli", dry_run=True)
        assert run.id is None and db.session.query(SweepRun).count() == 0
        assert run.details["due"] == 3
        assert run.details["gateways"]["coinpayments"]["past_deadline"] == 1
        assert calls.total == 0
        assert {ref: payment(ref).version for ref in refs} == before


def test_gateway_filter(app: Flask, sandbox: Sandbox) -> None:
    [cp] = open_payments(app, "coinpayments", 1)
    [mp] = open_payments(app, "mpgs", 1)
    with app.app_context():
        due_now()
        run = sweep_pending("cli", gateway="mpgs")
        assert run.checked == 1
        assert payment(cp).last_checked_at < payment(mp).last_checked_at


def test_a_crashing_batch_is_counted_and_the_rest_go_on(app: Flask, sandbox: Sandbox) -> None:
    cp = open_payments(app, "coinpayments", 2)
    [mp] = open_payments(app, "mpgs", 1)
    with app.app_context():
        pay_ref(sandbox, mp)
        client = get_gateway("coinpayments", app)

        def broken(payments: Any) -> Any:
            raise RuntimeError("a bug in a gateway module")

        client.fetch_statuses = broken  # type: ignore[method-assign]
        due_now()
        run = sweep_pending("test")
        assert run.errors == 2
        assert payment(mp).status == "COMPLETED"
        assert all(payment(ref).claimed_by is None for ref in cp)


def test_per_payment_errors_in_a_batch_back_off_only_those(app: Flask, sandbox: Sandbox) -> None:
    good, bad = open_payments(app, "coinpayments", 2)
    with app.app_context():
        _set(bad, gateway_reference="CPNOSUCHTXN000000000000000")
        due_now()
        run = sweep_pending("test")
        assert run.checked == 2 and run.errors == 1
        assert payment(bad).failure_count == 1 and payment(good).failure_count == 0


def test_two_sweepers_at_once_poll_each_payment_once(
    app: Flask, sandbox: Sandbox, tmp_path: Any, fulfilments: list
) -> None:
    refs = [ref for name in GATEWAYS for ref in open_payments(app, name, 8)]
    with app.app_context():
        for ref in refs[::2]:
            pay_ref(sandbox, ref)
    other = make_test_app(
        sandbox.url, app.config["SQLALCHEMY_DATABASE_URI"], SWEEP_PAGE_SIZE=5, SWEEP_WORKERS=4
    )
    calls = GatewayCalls()
    calls.watch(app)
    calls.watch(other)
    for name in GATEWAYS:
        sandbox.knobs(name, latency_ms=20)
    with app.app_context():
        due_now()
    start = threading.Barrier(2)
    runs: list[SweepRun] = []
    failures: list[BaseException] = []

    def sweep(instance: Flask) -> None:
        try:
            with instance.app_context():
                start.wait()
                runs.append(sweep_pending("test"))
        except BaseException as exc:  # pragma: no cover - reported below
            failures.append(exc)

    threads = [threading.Thread(target=sweep, args=(a,)) for a in (app, other)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert failures == []
    with app.app_context():
        assert calls.polled_refs() == {ref: 1 for ref in refs}
        assert sum(run.checked for run in runs) == len(refs)
        assert sum(run.changed for run in runs) == len(refs[::2])
        for ref in refs[::2]:
            assert len(completions(ref)) == 1
        assert len(fulfilments) == len(refs[::2])
        assert db.session.query(Payment).filter(Payment.claimed_by.is_not(None)).count() == 0
    with other.app_context():
        db.session.remove()
        db.engine.dispose()


def test_claimed_payments_are_skipped_until_the_lease_runs_out(
    app: Flask, sandbox: Sandbox
) -> None:
    held, free = open_payments(app, "coinpayments", 2)
    with app.app_context():
        _set(held, claimed_by="another-sweeper", claimed_until=utcnow() + timedelta(minutes=5))
        due_now()
        versions = {ref: payment(ref).version for ref in (held, free)}
        assert sweep_pending("test").checked == 1
        assert payment(free).version == versions[free] + 1
        assert payment(held).version == versions[held]
        assert payment(held).claimed_by == "another-sweeper"  # not ours to release
        _set(held, claimed_until=utcnow() - timedelta(seconds=1))
        assert sweep_pending("test", now=utcnow() + timedelta(minutes=1)).checked == 2


def test_unreachable_gateway_is_an_error_not_a_failure(app: Flask, sandbox: Sandbox) -> None:
    [ref] = open_payments(app, "coinpayments", 1)
    with app.app_context():
        client = get_gateway("coinpayments", app)

        def down(payments: Any) -> Any:
            raise GatewayUnavailable("connection refused")

        client.fetch_statuses = down  # type: ignore[method-assign]
        due_now()
        run = sweep_pending("test")
        assert run.errors == 1
        row = payment(ref)
        assert row.status == "PENDING" and row.failure_count == 1
        assert "connection refused" in events(ref, kind="error")[0].message


def test_still_pending_answers_get_bookkeeping_only_in_one_batch(
    app: Flask, sandbox: Sandbox
) -> None:
    """The sweep's batched write: last look, schedule, reset failures, one version; no event."""
    refs = [ref for name in GATEWAYS for ref in open_payments(app, name, 3)]
    with app.app_context():
        for ref in refs:
            _set(ref, failure_count=2)
        before = {ref: (payment(ref).version, len(events(ref))) for ref in refs}
        due_now()
        run = sweep_pending("test")

        assert (run.checked, run.changed, run.errors) == (len(refs), 0, 0)
        for ref in refs:
            row = payment(ref)
            version, event_count = before[ref]
            assert row.status == "PENDING"
            assert row.version == version + 1
            assert row.failure_count == 0
            assert row.last_checked_at is not None and row.next_check_at > utcnow()
            assert row.last_raw
            assert len(events(ref)) == event_count


# -- card money after the deadline ------------------------------------------------------------


def _force_mpgs(sandbox: Sandbox, ref: str, **spec: Any) -> None:
    answer = requests.post(f"{sandbox.url}/_sandbox/mpgs/orders/{ref}", json=spec, timeout=5)
    assert answer.status_code == 200, answer.text[:300]


@pytest.mark.parametrize(
    ("spec", "review", "kind", "words"),
    [
        (
            {"status": "AUTHORIZED", "totalAuthorizedAmount": "12.50"},
            "authorization that nobody will capture",
            "authorised",
            "The card was authorised but not captured",
        ),
        (
            {"status": "PARTIALLY_CAPTURED", "totalCapturedAmount": "5.00"},
            "partially captured",
            "underpaid",
            "Part of the amount was taken from the card",
        ),
        (
            {"status": "REFUNDED", "totalCapturedAmount": "12.50", "totalRefundedAmount": "12.50"},
            "REFUNDED",
            "refunded",
            "The card payment was refunded",
        ),
        ({"status": "DISPUTED"}, "DISPUTED", "disputed", "The card payment is disputed"),
        (
            {"status": "CHARGEBACK_PROCESSED"},
            "CHARGEBACK_PROCESSED",
            "disputed",
            "The card payment is disputed",
        ),
    ],
    ids=["authorized", "partially-captured", "refunded", "disputed", "chargeback"],
)
def test_an_expired_mpgs_payment_keeps_what_the_gateway_said(
    app: Flask, sandbox: Sandbox, spec: dict[str, Any], review: str, kind: str, words: str
) -> None:
    [ref] = open_payments(app, "mpgs", 1)
    _force_mpgs(sandbox, ref, **spec)
    with app.app_context():
        due_now()
        run = sweep_pending("test", now=utcnow() + timedelta(hours=2))  # first look: past deadline
        row = payment(ref)
        assert run.expired == 1
        assert row.status == "EXPIRED"
        assert row.needs_review and review in row.review_reason
        assert row.gateway_data["review_kind"] == kind
        assert row.status_message == words
        assert "no payment arrived" not in row.status_message.lower()


def _mpgs_challenge(sandbox: Sandbox, session_id: str) -> None:
    """The shopper enters a 3-D Secure card: the order waits in AUTHENTICATION_INITIATED."""
    answer = requests.post(
        f"{sandbox.url}/checkout/pay/{session_id}",
        data={"cardNumber": "4000000000003220"},
        timeout=10,
    )
    assert answer.status_code == 200 and "challenge" in answer.text


def test_mpgs_money_captured_after_expiry_completes_the_payment_flagged_late(
    app: Flask, sandbox: Sandbox, fulfilments: list
) -> None:
    [ref, idle] = open_payments(app, "mpgs", 2)
    with app.app_context():
        _mpgs_challenge(sandbox, payment(ref).gateway_reference)
        due_now()
        run = sweep_pending("test", now=utcnow() + timedelta(hours=2))
        assert run.expired == 2
        expired = payment(ref)
        assert expired.status == "EXPIRED"
        assert expired.gateway_data["late_money"] is True  # 3-D Secure was still running
        assert payment(idle).gateway_data["late_money"] is False  # no card was ever entered

        # the shopper finishes 3-D Secure after our deadline (the gateway's session lags)
        answer = requests.post(
            f"{sandbox.url}/checkout/challenge/{expired.gateway_reference}",
            data={"outcome": "approve"},
            allow_redirects=False,
            timeout=10,
        )
        assert answer.status_code == 302
        later = expired.next_check_at + timedelta(seconds=1)
        run = sweep_pending("test", now=later)
        assert run.checked == 1  # the idle one is left alone
        late = payment(ref)
        assert (late.status, late.late, late.needs_review) == ("COMPLETED", True, True)
        assert late.gateway_data["review_kind"] == "late"
        [event] = completions(ref)
        assert (event.old_status, event.source) == ("EXPIRED", "sweep")
        assert fulfilments == [(ref, late.order.ref)]

        assert sweep_pending("test", now=later + timedelta(hours=1)).checked == 0
        assert len(fulfilments) == 1


def test_stripe_debit_settling_after_expiry_completes_the_payment_flagged_late(
    app: Flask, sandbox: Sandbox, fulfilments: list
) -> None:
    [ref] = open_payments(app, "stripe", 1)
    with app.app_context():
        session_id = payment(ref).gateway_reference
        answer = requests.post(
            f"{sandbox.url}/c/pay/{session_id}",
            data={"method": "us_bank_account", "routing": "110000000", "account": "000123456789"},
            allow_redirects=False,
            timeout=10,
        )
        assert answer.status_code in (302, 303), answer.text[:300]
        _set(ref, expires_at=utcnow() - timedelta(minutes=10))
        due_now()
        run = sweep_pending("test", now=utcnow() + timedelta(hours=2))
        expired = payment(ref)
        assert run.expired == 1 and expired.status == "EXPIRED"
        assert expired.gateway_data["late_money"] is True  # the debit is still processing
        assert "still under way" in expired.status_message

        sandbox.advance(60)  # the bank debit settles at Stripe; the webhook is lost
        run = sweep_pending("test", now=expired.next_check_at + timedelta(seconds=1))
        late = payment(ref)
        assert run.checked == 1 and run.changed == 1
        assert (late.status, late.late, late.needs_review) == ("COMPLETED", True, True)
        [event] = completions(ref)
        assert (event.old_status, event.source) == ("EXPIRED", "sweep")
        assert fulfilments == [(ref, late.order.ref)]


def test_too_few_coins_by_the_deadline_are_flagged_as_underpaid(
    app: Flask, sandbox: Sandbox
) -> None:
    [ref] = open_payments(app, "coinpayments", 1)
    with app.app_context():
        short = payment(ref)
        query = parse_qs(urlsplit(short.checkout_url).query)
        requests.post(
            f"{sandbox.url}/index.php",
            data={"id": query["id"][0], "key": query["key"][0], "action": "send_short"},
            timeout=10,
        ).raise_for_status()
        sandbox.advance(2 * 3600)  # CoinPayments' own timer runs out with part of the coins in
        due_now()
        sweep_pending("test")
        row = payment(ref)
        assert row.status == "EXPIRED" and row.needs_review
        assert row.gateway_data["review_kind"] == "underpaid"
        assert 0 < Money.parse(row.gateway_data["coin_received"], "LTCT").amount < row.crypto_amount
