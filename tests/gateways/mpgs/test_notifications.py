"""MPGS webhooks: the shared secret is checked, the order named, nothing else trusted or kept."""

from __future__ import annotations

import hashlib
import json

import pytest

from checkout.gateways.base import InvalidNotification
from checkout.sandbox import credentials

from .conftest import MID

WEBHOOK_BODY = {
    "gatewayEntryPoint": "CHECKOUT_VIA_WEBSITE",
    "merchant": MID,
    "order": {"id": "pay_ref", "amount": 12.5, "currency": "USD", "status": "CAPTURED"},
    "response": {"gatewayCode": "APPROVED", "acquirerCode": "00"},
    "result": "SUCCESS",
    "sourceOfFunds": {
        "type": "CARD",
        "provided": {"card": {"number": "512345xxxxxx0008", "expiry": {"month": "1"}}},
    },
    "billing": {"address": {"street": "1 Main St"}},
    "customer": {"email": "payer@example.com"},
    "transaction": {"id": "1", "type": "PAYMENT", "amount": 12.5, "currency": "USD"},
    "timeOfRecord": "2026-11-21T10:00:00.000Z",
    "version": "100",
}


def headers(**overrides: str | None) -> dict[str, str]:
    values: dict[str, str | None] = {
        "X-Notification-Secret": credentials.MPGS["notification_secret"],
        "X-Notification-Id": "a1b2c3",
        "X-Notification-Attempt": "1",
    }
    values.update(overrides)
    return {k: v for k, v in values.items() if v is not None}


def test_a_valid_notification_names_the_order_and_only_asks_for_a_lookup(gateway):
    inbound = gateway.parse_notification(headers(), json.dumps(WEBHOOK_BODY).encode())

    assert inbound.event_id == "a1b2c3"
    assert inbound.payment_ref == "pay_ref"
    assert inbound.event_type == "PAYMENT"
    assert inbound.observation is None
    stored = json.dumps(inbound.payload)
    for private in ("512345", "expiry", "Main St", "payer@example.com", 'sourceOfFunds": {"p'):
        assert private not in stored
    assert inbound.payload["order"]["status"] == "CAPTURED"


def test_notification_headers_are_read_whatever_their_case(gateway):
    lower = {k.lower(): v for k, v in headers().items()}

    assert gateway.parse_notification(lower, json.dumps(WEBHOOK_BODY).encode()).event_id == "a1b2c3"


def test_a_notification_without_an_id_is_named_by_the_hash_of_its_body(gateway):
    raw = json.dumps(WEBHOOK_BODY).encode()

    inbound = gateway.parse_notification(headers(**{"X-Notification-Id": None}), raw)

    assert inbound.event_id == "sha256:" + hashlib.sha256(raw).hexdigest()
    assert inbound.payment_ref == "pay_ref"
    assert inbound.observation is None


@pytest.mark.parametrize(
    ("hdrs", "body", "reason"),
    [
        (headers(**{"X-Notification-Secret": "wrong"}), WEBHOOK_BODY, "does not match"),
        (headers(**{"X-Notification-Secret": ""}), WEBHOOK_BODY, "does not match"),
        (headers(**{"X-Notification-Secret": None}), WEBHOOK_BODY, "missing"),
        (
            headers(**{"X-Notification-Secret": credentials.MPGS["notification_secret"] + "x"}),
            WEBHOOK_BODY,
            "does not match",
        ),
        (headers(), "not json", "not JSON"),
        (headers(), ["a", "list"], "not a JSON object"),
        (headers(), {**WEBHOOK_BODY, "merchant": "SOMEONEELSE"}, "merchant"),
    ],
    ids=["wrong", "empty", "missing", "longer", "not-json", "list", "other-merchant"],
)
def test_notifications_that_do_not_verify_are_refused(gateway, hdrs, body, reason):
    raw = body.encode() if isinstance(body, str) else json.dumps(body).encode()

    with pytest.raises(InvalidNotification, match=reason):
        gateway.parse_notification(hdrs, raw)
