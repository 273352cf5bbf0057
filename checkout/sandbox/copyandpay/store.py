"""Checkouts and payments of the one demo entity, in memory, on the sandbox clock."""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from ...gateways.copyandpay import settings as demo
from ..env import SandboxEnv

NAME = "copyandpay"
#: "not later than 30 minutes" (COPYandPAY integration guide)
CHECKOUT_LIFETIME = timedelta(minutes=30)


def new_checkout_id() -> str:
    """Shaped like OPPWA's: 32 upper-case hex digits and the node that made it."""
    return secrets.token_hex(16).upper() + ".sbx01-vm-tx01"


def new_payment_id() -> str:
    return "8ac7a4a" + secrets.token_hex(12) + "0"


@dataclass
class CheckoutState:
    id: str
    entity_id: str
    amount: str
    currency: str
    payment_type: str
    merchant_transaction_id: str
    shopper_result_url: str
    created: datetime
    integrity: bool
    payment_ids: list[str] = field(default_factory=list)  # attempts, oldest first
    challenge: tuple[str, str, str] | None = None  # (card number, holder, brand) awaiting 3DS

    def expired(self, now: datetime) -> bool:
        return now >= self.created + CHECKOUT_LIFETIME


class CopyAndPayStore:
    """Everything the emulator holds, guarded by one lock."""

    def __init__(self, env: SandboxEnv) -> None:
        self.env = env
        self.access_token = demo.SANDBOX_ACCESS_TOKEN
        self.entity_id = demo.SANDBOX_ENTITY_ID
        self.webhook_key = demo.SANDBOX_WEBHOOK_KEY
        self.lock = threading.RLock()
        self.checkouts: dict[str, CheckoutState] = {}
        self.payments: dict[str, dict[str, Any]] = {}  # id -> the payment record as answered
        self.forced: list[tuple[int, str, str]] = []  # (status, body, content type), one-shot
        self.received: list[dict[str, Any]] = []  # the last API requests, for tests to read

    def reset(self) -> None:
        with self.lock:
            self.checkouts.clear()
            self.payments.clear()
            self.forced.clear()
            self.received.clear()

    def now(self) -> datetime:
        return self.env.clock.now()

    def payments_for(self, merchant_transaction_id: str) -> list[dict[str, Any]]:
        return [
            record
            for record in self.payments.values()
            if record.get("merchantTransactionId") == merchant_transaction_id
        ]
