"""MPGS webhooks: verify the shared secret, read which order changed, trust nothing else.

Webhooks are authenticated by a plain shared secret (X-Notification-Secret) and MPGS promises
neither delivery nor order, so a notification carries no status: it only triggers a fresh
Retrieve Order. Pure functions; the client's parse_notification hands in its settings.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

from ..base import InboundNotification, InvalidNotification
from ..wire import header, notification_object, text_at
from .redaction import redact_transaction


def parse(
    headers: Mapping[str, str], body: bytes, *, secret: str, merchant_id: str
) -> InboundNotification:
    """Verify X-Notification-Secret and read which order changed; trust nothing else."""
    sent = header(headers, "X-Notification-Secret")
    if sent is None:
        raise InvalidNotification("X-Notification-Secret header missing")
    if not secret or not hmac.compare_digest(sent.encode(), secret.encode()):
        raise InvalidNotification("X-Notification-Secret does not match")
    data = notification_object(body)
    merchant = data.get("merchant")
    if merchant not in (None, merchant_id):
        raise InvalidNotification(f"notification is for merchant {merchant!r}, not ours")
    order = data.get("order") if isinstance(data.get("order"), dict) else {}
    transaction = data.get("transaction") if isinstance(data.get("transaction"), dict) else {}
    return InboundNotification(
        event_id=notification_id(headers, body),
        event_type=str(transaction.get("type") or "TRANSACTION"),
        payment_ref=text_at(order, "id"),
        observation=None,  # no promise of delivery or order: look the order up instead
        payload=redact_transaction(data),
    )


def notification_id(headers: Mapping[str, str], body: bytes) -> str:
    """X-Notification-Id when sent, else a hash of the body.

    Mastercard documents only X-Notification-Secret (developer.mastercard.com, Mastercard
    Gateway, "Webhook Notifications"); the id header is known from third parties alone. Without
    it a redelivery of the same body is still stored once, and a notification never carries a
    status anyway: it only triggers Retrieve Order.
    """
    event_id = header(headers, "X-Notification-Id")
    if event_id:
        return event_id
    return "sha256:" + hashlib.sha256(body).hexdigest()
