"""Stripe's session states onto ours: the tables and the pure mapping, without HTTP.

One row per documented session state (status, payment_status, and the payment intent of a
complete but unpaid session), and one per session event a webhook can carry.
"""

from __future__ import annotations

from typing import Any

import pytest

from checkout.gateways.stripe.statuses import observe_session
from checkout.money import Money
from checkout.states import PaymentStatus

S = PaymentStatus


def _session(status: str | None, payment_status: str | None, intent: Any = None) -> dict:
    return {
        "id": "cs_test_1",
        "object": "checkout.session",
        "status": status,
        "payment_status": payment_status,
        "amount_total": 1250,
        "currency": "usd",
        "client_reference_id": "pay_1",
        "expires_at": 1_900_000_000,
        "payment_intent": intent,
    }


@pytest.mark.parametrize(
    ("status", "payment_status", "intent", "expected", "paid", "review"),
    [
        ("open", "unpaid", None, S.PENDING, None, False),
        ("complete", "paid", "pi_1", S.COMPLETED, Money(1250, "USD"), False),
        ("complete", "unpaid", "pi_1", S.PENDING, None, False),
        ("complete", "unpaid", {"id": "pi_1", "status": "processing"}, S.PENDING, None, False),
        (
            "complete",
            "unpaid",
            {"id": "pi_1", "status": "requires_payment_method"},
            S.FAILED,
            None,
            False,
        ),
        ("complete", "unpaid", {"id": "pi_1", "status": "canceled"}, S.FAILED, None, False),
        ("complete", "unpaid", {"id": "pi_1", "status": "mystery"}, S.PENDING, None, False),
        ("complete", "no_payment_required", None, S.PENDING, None, True),
        ("expired", "unpaid", None, S.EXPIRED, None, False),
        ("complete", "mystery", "pi_1", S.PENDING, None, False),
        ("mystery", "paid", "pi_1", S.PENDING, None, False),
        (None, None, None, S.PENDING, None, False),
    ],
)
def test_session_status_table(status, payment_status, intent, expected, paid, review) -> None:
    observation = observe_session(_session(status, payment_status, intent))

    assert observation.status == expected
    assert observation.paid == paid
    assert (observation.review is not None) == review
    assert observation.raw_status.startswith(f"{status}/{payment_status}")
    assert observation.gateway_reference == "cs_test_1"
    if intent:
        assert observation.data["payment_intent"] == "pi_1"


@pytest.mark.parametrize(
    ("event_type", "status", "payment_status", "expected"),
    [
        ("checkout.session.completed", "complete", "paid", S.COMPLETED),
        ("checkout.session.completed", "complete", "unpaid", S.PENDING),
        ("checkout.session.async_payment_succeeded", "complete", "paid", S.COMPLETED),
        ("checkout.session.async_payment_failed", "complete", "unpaid", S.FAILED),
        ("checkout.session.expired", "expired", "unpaid", S.EXPIRED),
    ],
)
def test_event_status_table(event_type, status, payment_status, expected) -> None:
    observation = observe_session(_session(status, payment_status, "pi_1"), event_type=event_type)

    assert observation.status == expected
    assert observation.raw_status.startswith(event_type)
