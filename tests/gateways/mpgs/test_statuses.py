"""The Retrieve Order mapping without HTTP: the status table, after-payment states, no order yet.

The same rows as the funnel tests in test_client.py, handed straight to the pure functions, so a
wrong row fails here before any sandbox or database is involved.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from checkout.gateways.mpgs import statuses
from checkout.models import Payment
from checkout.money import Money
from checkout.states import PaymentStatus, ReviewKind

from .conftest import STATUS_ROWS

S = PaymentStatus
NOW = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)


def payment(**values: Any) -> Payment:
    """An unsaved payment: the mapping reads only its ref, status, currency and refunds."""
    defaults: dict[str, Any] = {
        "ref": "pay_pure",
        "gateway": "mpgs",
        "amount": 1250,
        "currency": "USD",
        "status": "PENDING",
    }
    return Payment(**{**defaults, **values})


def order(status: str, code: str | None = "APPROVED", **extra: Any) -> dict[str, Any]:
    """A Retrieve Order answer as MPGS sends it (protocols.md B.5), with card data to redact."""
    transaction = {
        "timeOfRecord": "2026-11-21T09:59:00.000Z",
        "transaction": {"id": "1", "type": "PAYMENT", "amount": "12.50", "currency": "USD"},
        "sourceOfFunds": {"type": "CARD", "provided": {"card": {"number": "512345xxxxxx0008"}}},
    }
    if code:
        transaction["response"] = {"gatewayCode": code}
    return {
        "id": "pay_pure",
        "status": status,
        "result": "SUCCESS",
        "amount": "12.50",
        "currency": "USD",
        "transaction": [transaction],
        **extra,
    }


@pytest.mark.parametrize(
    ("raw", "code", "extra", "expected", "message", "review"),
    STATUS_ROWS,
    ids=[f"{row[0]}-{row[1]}" for row in STATUS_ROWS],
)
def test_status_table_without_http(raw, code, extra, expected, message, review):
    observation = statuses.observe_order(payment(), order(raw, code, **extra))

    assert observation.status == expected
    if expected != S.PENDING:
        assert observation.message == message
        assert observation.raw_status.startswith(raw)
    if review:
        assert observation.review and review in observation.review
    else:
        assert observation.review is None
    assert observation.raw["status"] == raw
    assert "512345" not in str(observation.raw)


def test_captured_reports_the_captured_amount_for_the_funnel_to_check():
    observation = statuses.observe_order(payment(), order("CAPTURED", totalCapturedAmount="10.00"))

    assert observation.status == S.COMPLETED
    assert observation.paid == Money(1000, "USD")


def test_an_unreadable_captured_amount_is_flagged_not_completed():
    observation = statuses.observe_order(payment(), order("CAPTURED", totalCapturedAmount="ten"))

    assert observation.status == S.PENDING
    assert observation.review and "unreadable" in observation.review


def test_an_answer_for_another_order_is_flagged_and_moves_nothing():
    answer = {**order("CAPTURED", totalCapturedAmount="12.50"), "id": "someone_else"}

    observation = statuses.observe_order(payment(status="PENDING"), answer)

    assert observation.status == S.PENDING
    assert observation.review and "someone_else" in observation.review


@pytest.mark.parametrize(
    ("current", "raw", "kind", "expected"),
    [
        ("PENDING", "AUTHORIZED", ReviewKind.AUTHORISED_NOT_CAPTURED, S.PENDING),
        ("PENDING", "PARTIALLY_CAPTURED", ReviewKind.UNDERPAID, S.PENDING),
        ("COMPLETED", "REFUNDED", ReviewKind.REFUNDED_AT_GATEWAY, S.COMPLETED),
        ("COMPLETED", "REFUND_REQUESTED", ReviewKind.REFUNDED_AT_GATEWAY, S.COMPLETED),
        ("COMPLETED", "CHARGEBACK_PROCESSED", ReviewKind.DISPUTED, S.COMPLETED),
        ("CREATED", "DISPUTED", ReviewKind.DISPUTED, S.PENDING),
    ],
)
def test_flagged_states_name_their_review_kind(current, raw, kind, expected):
    """After a payment the status stays where it is: staff decide what follows."""
    observation = statuses.observe_order(payment(status=current), order(raw))

    assert observation.review_kind == kind
    assert observation.status == expected


def test_the_latest_transaction_explains_the_status():
    answer = order("FAILED")
    answer["transaction"] = [
        {"timeOfRecord": "2026-11-21T09:58:00.000Z", "response": {"gatewayCode": "EXPIRED_CARD"}},
        {"timeOfRecord": "2026-11-21T09:59:00.000Z", "response": {"gatewayCode": "DECLINED"}},
    ]

    observation = statuses.observe_order(payment(), answer)

    assert (observation.raw_status, observation.message) == ("FAILED/DECLINED", "Card declined")


@pytest.mark.parametrize(
    ("expires_at", "expected"),
    [(NOW + timedelta(minutes=1), S.PENDING), (NOW, S.EXPIRED), (None, S.PENDING)],
    ids=["session-open", "session-over", "no-deadline"],
)
def test_no_such_order_is_pending_until_the_session_is_over(expires_at, expected):
    observation = statuses.no_such_order(payment(expires_at=expires_at), NOW)

    assert (observation.status, observation.raw_status) == (expected, "NO_SUCH_ORDER")


@pytest.mark.parametrize(
    ("raw", "may_come"),
    [("AUTHENTICATION_INITIATED", True), ("AUTHORIZED", True), ("CAPTURED", False), ("", False)],
)
def test_money_may_still_come_only_while_the_order_is_open(raw, may_come):
    assert statuses.money_may_still_come(raw) is may_come
