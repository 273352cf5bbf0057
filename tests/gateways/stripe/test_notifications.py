"""Stripe webhooks read by notifications.parse, without HTTP: what a verified body yields.

Bodies are signed with the SDK's own signer, as Stripe signs them. The end-to-end path (our
endpoint, the funnel, duplicates) is tested in tests/blueprints/test_stripe_webhook_and_return.py.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
import stripe

from checkout.gateways.base import InvalidNotification
from checkout.gateways.stripe.notifications import parse
from checkout.money import Money
from checkout.states import PaymentStatus

S = PaymentStatus
SECRET = "whsec_test_notifications"
TOLERANCE = 300


def _session(**changes: Any) -> dict[str, Any]:
    session = {
        "id": "cs_test_1",
        "object": "checkout.session",
        "status": "complete",
        "payment_status": "paid",
        "amount_total": 1250,
        "currency": "usd",
        "client_reference_id": "pay_1",
        "customer_email": "shopper@example.com",
        "customer_details": {"email": "shopper@example.com", "name": "A Shopper"},
        "client_secret": "cs_test_1_secret_x",
        "expires_at": 1_900_000_000,
        "payment_intent": "pi_1",
    }
    session.update(changes)
    return session


def _signed(
    data_object: dict[str, Any],
    event_type: str = "checkout.session.completed",
    *,
    secret: str = SECRET,
    timestamp: int | None = None,
) -> tuple[dict[str, str], bytes]:
    body = json.dumps(
        {
            "id": "evt_test_1",
            "object": "event",
            "created": int(time.time()),
            "data": {"object": data_object},
            "livemode": False,
            "type": event_type,
        }
    )
    header = stripe.WebhookSignature.generate_signature_header(body, secret, timestamp)
    return {"Stripe-Signature": header}, body.encode()


def test_a_completed_session_is_read_and_kept_without_personal_data() -> None:
    notification = parse(*_signed(_session()), SECRET, TOLERANCE)

    assert (notification.event_id, notification.event_type) == (
        "evt_test_1",
        "checkout.session.completed",
    )
    assert not notification.ignore
    assert notification.payment_ref == "pay_1"
    assert notification.gateway_reference == "cs_test_1"
    assert notification.observation.status == S.COMPLETED
    assert notification.observation.paid == Money(1250, "USD")
    kept = json.dumps(notification.payload)
    for secret in ("shopper@example.com", "A Shopper", "cs_test_1_secret_x"):
        assert secret not in kept
    assert notification.payload["object"]["payment_intent"] == "pi_1"


def test_a_failed_delayed_payment_is_failed_by_its_event() -> None:
    session = _session(payment_status="unpaid")

    notification = parse(
        *_signed(session, "checkout.session.async_payment_failed"), SECRET, TOLERANCE
    )

    assert notification.observation.status == S.FAILED
    assert notification.observation.raw_status.startswith("checkout.session.async_payment_failed")


@pytest.mark.parametrize(
    ("secret", "age"),
    [("whsec_someone_else", 0), (SECRET, TOLERANCE + 60)],
    ids=["another secret", "too old"],
)
def test_a_body_that_does_not_verify_is_refused(secret: str, age: int) -> None:
    headers, body = _signed(_session(), secret=secret, timestamp=int(time.time()) - age)

    with pytest.raises(InvalidNotification, match="signature does not verify"):
        parse(headers, body, SECRET, TOLERANCE)


def test_a_signed_body_altered_after_signing_is_refused() -> None:
    headers, body = _signed(_session())

    with pytest.raises(InvalidNotification):
        parse(headers, body.replace(b"1250", b"9999"), SECRET, TOLERANCE)


@pytest.mark.parametrize(
    ("data_object", "event_type"),
    [
        ({"id": "pi_1", "object": "payment_intent"}, "payment_intent.succeeded"),
        ({"id": "pi_1", "object": "payment_intent"}, "checkout.session.completed"),
    ],
)
def test_events_about_anything_but_a_session_are_ignored(
    data_object: dict[str, Any], event_type: str
) -> None:
    notification = parse(*_signed(data_object, event_type), SECRET, TOLERANCE)

    assert notification.ignore
    assert notification.observation is None
    assert notification.payment_ref is None


def test_a_signed_session_event_without_a_session_id_is_refused() -> None:
    with pytest.raises(InvalidNotification, match="without a session id"):
        parse(*_signed(_session(id=None)), SECRET, TOLERANCE)


def test_a_decimal_amount_is_kept_as_text_and_never_paid() -> None:
    headers, body = _signed(_session(amount_total=12.5))

    notification = parse(headers, body, SECRET, TOLERANCE)

    assert notification.payload["object"]["amount_total"] == "12.5"
    assert notification.observation.paid is None
