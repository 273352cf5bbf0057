"""The sweep's Stripe look-ups from the session list (catchup.py), counted at the sandbox.

Webhooks are off: the list has to find what happened. Requests are counted where they arrive,
at the emulator, not by trusting the client's own counters.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import update

from checkout.extensions import db
from checkout.gateways.registry import get_gateway
from checkout.models import Payment
from checkout.payments.sweep import sweep_pending
from checkout.states import PaymentStatus
from tests.gateways.stripe.test_client import open_stripe, pay_bank, pay_card, reload, sdk
from tests.reconciliation import completions, due_now, open_payments, pay_ref, payment

S = PaymentStatus
ACCOUNT_SETTLES, ACCOUNT_FAILS = "000123456789", "000111111116"


@pytest.fixture(autouse=True)
def _webhooks_off(sandbox) -> None:
    sandbox.knobs("stripe", notifications=False)


@pytest.fixture
def stripe_requests(_sandbox_server) -> Iterator[list[str]]:
    """Every Stripe API request the sandbox answers, as "METHOD /path"."""
    app = _sandbox_server.server.app
    seen: list[str] = []
    inner: Callable[..., Any] = app.wsgi_app

    def counting(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if environ["PATH_INFO"].startswith("/v1/"):
            seen.append(f"{environ['REQUEST_METHOD']} {environ['PATH_INFO']}")
        return inner(environ, start_response)

    app.wsgi_app = counting
    yield seen
    app.wsgi_app = inner


def test_a_missed_webhook_is_found_with_one_list_call(
    app: Flask, sandbox, stripe_requests: list[str], fulfilments
) -> None:
    [paid, waiting] = open_payments(app, "stripe", 2)
    with app.app_context():
        pay_ref(sandbox, paid)  # completed at Stripe; its webhook never comes
        due_now()
        stripe_requests.clear()
        run = sweep_pending("test")

        assert stripe_requests == ["GET /v1/checkout/sessions"]
        assert payment(paid).status == S.COMPLETED
        [event] = completions(paid)
        assert event.source == "sweep"
        assert payment(waiting).status == S.PENDING
        assert (run.checked, run.changed, run.errors) == (2, 1, 0)
    assert [ref for ref, _ in fulfilments] == [paid]


def test_a_mixed_batch_is_decided_from_the_list_as_a_retrieve_would(
    sandbox, make_payment, stripe_requests: list[str]
) -> None:
    failed = open_stripe(make_payment)
    pay_bank(failed, ACCOUNT_FAILS)
    sandbox.advance(21)  # that debit bounced
    paid, expired, still_open, processing = (open_stripe(make_payment) for _ in range(4))
    pay_card(paid)
    sdk(sandbox).v1.checkout.sessions.expire(expired.gateway_reference)
    pay_bank(processing, ACCOUNT_SETTLES)  # settles 20 s from now
    batch = [reload(p) for p in (failed, paid, expired, still_open, processing)]

    stripe_requests.clear()
    listed = get_gateway("stripe").fetch_statuses(batch)

    assert stripe_requests == ["GET /v1/checkout/sessions"]
    assert {p.ref: listed[p.ref].status for p in batch} == {
        failed.ref: S.FAILED,
        paid.ref: S.COMPLETED,
        expired.ref: S.EXPIRED,
        still_open.ref: S.PENDING,
        processing.ref: S.PENDING,
    }
    assert listed[processing.ref].data["intent_status"] == "processing"
    # one builder: what the list says is exactly what a retrieve says
    for p in batch:
        assert listed[p.ref] == get_gateway("stripe").fetch_status(p)


def test_more_than_a_page_of_sessions_is_paged_through(
    app: Flask, sandbox, stripe_requests: list[str]
) -> None:
    refs = open_payments(app, "stripe", 130)
    with app.app_context():
        batch = list(db.session.scalars(db.select(Payment).where(Payment.ref.in_(refs))))
        stripe_requests.clear()
        answers = get_gateway("stripe").fetch_statuses(batch)

    assert stripe_requests == ["GET /v1/checkout/sessions"] * 2
    assert {answer.status for answer in answers.values()} == {S.PENDING}
    assert set(answers) == set(refs)


def test_a_session_the_list_does_not_show_is_retrieved(
    app: Flask, sandbox, stripe_requests: list[str]
) -> None:
    [ref] = open_payments(app, "stripe", 1)
    with app.app_context():
        pay_ref(sandbox, ref)
        row = payment(ref)
        # as if the create had recorded the wrong creation time: the list range misses it
        db.session.execute(
            update(Payment)
            .where(Payment.id == row.id)
            .values(gateway_data={**row.gateway_data, "session_created": 1_000_000})
        )
        db.session.commit()
        stripe_requests.clear()
        answers = get_gateway("stripe").fetch_statuses([payment(ref)])

    assert answers[ref].status == S.COMPLETED
    assert stripe_requests == [
        "GET /v1/checkout/sessions",
        f"GET /v1/checkout/sessions/{row.gateway_reference}",
    ]


def test_the_next_sweep_reads_the_list_afresh(
    app: Flask, sandbox, stripe_requests: list[str]
) -> None:
    [ref] = open_payments(app, "stripe", 1)
    with app.app_context():
        due_now()
        sweep_pending("test")
        assert payment(ref).status == S.PENDING
        pay_ref(sandbox, ref)
        due_now()
        stripe_requests.clear()
        sweep_pending("test")  # at once: what the last run listed must not stand in

        assert stripe_requests == ["GET /v1/checkout/sessions"]
        assert payment(ref).status == S.COMPLETED
