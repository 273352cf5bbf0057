"""CoinPayments transactions in memory: what the account holds, not how it changes.

Statuses are the API's own numbers: 0 waiting for coins, 1 coins received and waiting for
confirmations, 100 complete, -1 cancelled or timed out (lifecycle.py moves them).
"""

from __future__ import annotations

import hmac
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from ..env import SandboxEnv
from .coins import f8

NAME = "coinpayments"
ERR_PAYMENT_ID = "Invalid payment ID!"  # the API's and the page's answer for an unknown id

STATUS_TEXT = {
    0: "Waiting for buyer funds...",
    1: "Funds received and confirmed, sending to you shortly...",
    100: "Complete",
    -1: "Cancelled / Timed Out",
}
#: what the hosted page's buttons do, in the words shown after one was pressed
ACTIONS = {
    "send_full": "Sent the full amount",
    "send_short": "Sent too little",
    "confirm": "Added a confirmation",
    "expire": "Let the timer run out",
    "send_late": "Sent the coins too late",
}
_TRUE = (True, 1, "1", "true", "on", "yes")


@dataclass
class Settings:
    """Sandbox-only behaviour of the emulated account (reset between tests)."""

    timeout: int = 3600  # seconds a buyer has to pay (the API's `timeout`)
    confirms_needed: int = 2
    auto_confirm_seconds: float = 0.0  # > 0: one confirmation per this many seconds
    short_percent: int = 50  # share of what is still due that "Send too little" sends
    stringify_numbers: bool = False  # answer "status": "0" like some live responses
    denied_commands: list[str] = field(default_factory=list)  # -> the permission error

    def update(self, values: dict[str, Any]) -> None:
        known = {f.name for f in fields(self)}
        for key, value in values.items():
            if key not in known:
                raise ValueError(f"unknown setting {key!r}")
            current = getattr(self, key)
            if isinstance(current, list):
                setattr(self, key, [str(v) for v in value])
            elif isinstance(current, bool):
                setattr(self, key, value in _TRUE)
            else:
                setattr(self, key, type(current)(value))


@dataclass
class Txn:
    txn_id: str
    key: str  # the 32-hex key in checkout_url / status_url
    created: int
    timeout: int
    amount1: str  # as the merchant sent it
    currency1: str
    currency2: str
    due: int  # 1e-8 units of currency2
    confirms_needed: int
    address: str
    dest_tag: str | None
    buyer_email: str
    extra: dict[str, str]  # buyer_name, item_name, item_number, invoice, custom
    ipn_url: str
    success_url: str
    cancel_url: str
    status: int = 0
    received: int = 0
    confirms: int = 0
    received_at: int | None = None
    completed: int | None = None
    send_tx: str | None = None

    @property
    def expires(self) -> int:
        return self.created + self.timeout

    @property
    def remaining(self) -> int:
        return max(0, self.due - self.received)

    @property
    def status_text(self) -> str:
        text = STATUS_TEXT.get(self.status, "Unknown")
        if self.status == 0 and self.received:
            return f"{text} ({f8(self.received)}/{f8(self.due)} {self.currency2} received)"
        return text


class Store:
    """Every transaction of the demo account and its settings, guarded by one lock."""

    def __init__(self, env: SandboxEnv) -> None:
        self.env = env
        self.lock = threading.RLock()
        self.txns: dict[str, Txn] = {}
        self.settings = Settings()

    def clear(self) -> None:
        with self.lock:
            self.txns = {}
            self.settings = Settings()

    def find(self, values: Mapping[str, str]) -> Txn | None:
        """The transaction a page URL names by `id`, if its `key` matches (as on the real site)."""
        txn = self.txns.get(values.get("id", ""))
        if txn is None or not hmac.compare_digest(txn.key, values.get("key", "")):
            return None
        return txn
