"""Webhooks (B.12): the transaction record, with the merchant's secret and a delivery id.

MPGS signs nothing: the receiver compares `X-Notification-Secret` with its own copy, and
`X-Notification-Attempt` counts the deliveries of the one `X-Notification-Id`.
"""

from __future__ import annotations

import secrets
from typing import Any

from .. import credentials
from ..common import deliver
from ..env import SandboxEnv
from .answers import JSON_UTF8, dumps
from .store import NAME, OrderState

SECRET = credentials.MPGS["notification_secret"]


def send(env: SandboxEnv, order: OrderState, record: dict[str, Any]) -> None:
    """Send the transaction record to the order's URL or the merchant-admin default."""
    url = order.notification_url or env.options.notification_urls.get(NAME, "")
    body = dumps(record).encode()
    notification_id = secrets.token_hex(16)

    def headers(attempt: int) -> dict[str, str]:
        return {
            "Content-Type": JSON_UTF8,
            "X-Notification-Secret": SECRET,
            "X-Notification-Id": notification_id,
            "X-Notification-Attempt": str(attempt),
        }

    deliver(env, NAME, url, body, headers)
