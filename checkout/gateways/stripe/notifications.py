"""Stripe webhooks: verify `Stripe-Signature` on the raw body, then read the session in it.

The signature is checked by the SDK (HMAC-SHA256 of the timestamped body, within a tolerance).
A verified session in a webhook is used as is, because the funnel refuses regressions (an
`expired` event after `completed` changes nothing). Events about anything but a Checkout
Session are stored and ignored.
"""

from __future__ import annotations

from collections.abc import Mapping

import stripe

from ..base import InboundNotification, InvalidNotification
from ..wire import header, notification_object, object_at, text_at
from .statuses import observe_session, session_summary

SESSION_EVENTS = frozenset(
    {
        "checkout.session.completed",
        "checkout.session.async_payment_succeeded",
        "checkout.session.async_payment_failed",
        "checkout.session.expired",
    }
)


def parse(
    headers: Mapping[str, str], body: bytes, webhook_secret: str, tolerance: int
) -> InboundNotification:
    """Verify `Stripe-Signature` on the raw body with the SDK, then read the session in it.

    A signed body is still checked for shape (an event object whose `data.object` is an
    object, string ids): a valid signature proves who sent it, not that it is well formed.
    """
    signature = header(headers, "Stripe-Signature")
    try:
        stripe.WebhookSignature.verify_header(body, signature, webhook_secret, tolerance=tolerance)
    except stripe.SignatureVerificationError as exc:
        raise InvalidNotification(f"Stripe signature does not verify: {exc.user_message}") from exc
    except UnicodeDecodeError as exc:
        raise InvalidNotification("Stripe webhook body is not UTF-8") from exc

    # Stripe amounts are integers: a decimal number is kept as its text, so the stored
    # payload stays JSON and such an amount is simply not one (`statuses._paid` wants an int).
    data = notification_object(body, parse_float=str)
    event_id, event_type = text_at(data, "id"), text_at(data, "type")
    if not event_id or not event_type:
        raise InvalidNotification("signed Stripe payload without an event id or type")
    session = object_at(object_at(data, "data"), "object")
    payload = {
        "id": event_id,
        "type": event_type,
        "created": data.get("created"),
        "livemode": data.get("livemode"),
        "object": session_summary(session),
    }
    if event_type not in SESSION_EVENTS or session.get("object") != "checkout.session":
        return InboundNotification(event_id, event_type, ignore=True, payload=payload)
    session_id = text_at(session, "id")
    if not session_id:
        raise InvalidNotification(f"Stripe {event_type} without a session id")
    for key in ("status", "payment_status"):  # the status tables are looked up by these
        text_at(session, key)
    return InboundNotification(
        event_id=event_id,
        event_type=event_type,
        payment_ref=text_at(session, "client_reference_id"),
        gateway_reference=session_id,
        observation=observe_session(session, event_type=event_type),
        payload=payload,
    )
