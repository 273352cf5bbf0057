"""Webhooks (C.11): snapshot events signed `t=<unix>,v1=<HMAC-SHA256("t.body")>` with whsec.

Stripe Checkout has no per-session webhook URL: events go to the endpoint configured in the
dashboard, here `SandboxOptions.notification_urls["stripe"]`. The signature is made again for every
attempt, with the time of that attempt, as Stripe does.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from typing import Any

from .. import credentials
from ..common import deliver, random_id
from ..env import SandboxEnv
from .store import API_VERSION, NAME

log = logging.getLogger(__name__)


def send_event(env: SandboxEnv, event_type: str, data: dict[str, Any]) -> None:
    """Send a signed snapshot event of `data` to the dashboard-configured endpoint, with retries."""
    event = {
        "id": random_id("evt_", 24),
        "object": "event",
        "api_version": API_VERSION,
        "created": env.clock.timestamp(),
        "data": {"object": data},
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": event_type,
    }
    body = json.dumps(event).encode()
    clock = env.clock

    def headers(_attempt: int) -> dict[str, str]:
        return {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
            "Stripe-Signature": sign(body, clock.timestamp()),
        }

    if not deliver(env, NAME, env.options.notification_urls.get(NAME, ""), body, headers):
        log.info("sandbox stripe: %s for %s not sent (webhooks off)", event_type, data["id"])


def sign(body: bytes, timestamp: int, secret: str = credentials.STRIPE["webhook_secret"]) -> str:
    """The `Stripe-Signature` header value for `body` sent at `timestamp`."""
    signed = f"{timestamp}.".encode() + body
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"
