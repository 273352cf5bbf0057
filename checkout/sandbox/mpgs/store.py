"""Checkout sessions and orders of the one demo merchant, in memory, on the sandbox clock.

An MPGS order only exists once the payer submits a card on the hosted page; creating a session
does not create one. Each order keeps its transactions as the Retrieve Transaction records
(B.9) the API and the webhooks hand out.
"""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from .. import credentials
from ..env import SandboxEnv
from . import records
from .answers import stamp
from .cards import card_details

NAME = "mpgs"


@dataclass
class CheckoutSessionState:
    id: str
    merchant: str
    api_version: int
    version: str  # session.version, changes when the payer pays
    success_indicator: str
    order: dict[str, Any]  # id, amount (Decimal), currency, description, notificationUrl
    interaction: dict[str, Any]
    expires_at: datetime
    done: bool = False  # paid or refused: the page cannot be used again
    challenge_card: str | None = None  # card waiting on the 3-D Secure page


@dataclass
class OrderState:
    id: str
    merchant: str
    amount: Decimal
    currency: str
    description: str
    notification_url: str
    api_version: int
    created: str
    status: str = "INITIATED"
    updated: str = ""
    authorized: Decimal = Decimal(0)
    captured: Decimal = Decimal(0)
    refunded: Decimal = Decimal(0)
    authentication_status: str | None = None
    card: dict[str, Any] | None = None
    transactions: list[dict[str, Any]] = field(default_factory=list)


class MpgsStore:
    """Sessions and orders of the one demo merchant, guarded by one lock."""

    def __init__(self, env: SandboxEnv) -> None:
        self.env = env
        self.merchant_id = credentials.MPGS["merchant_id"]
        self.lock = threading.RLock()
        self.sessions: dict[str, CheckoutSessionState] = {}
        self.orders: dict[str, OrderState] = {}
        self.forced: list[tuple[int, str, str]] = []  # (status, body, content type), one-shot
        self.received: list[dict[str, Any]] = []  # the last API requests, for tests to read

    def reset(self) -> None:
        with self.lock:
            self.sessions.clear()
            self.orders.clear()
            self.forced.clear()
            self.received.clear()

    def now(self) -> datetime:
        return self.env.clock.now()

    def expired(self, session: CheckoutSessionState) -> bool:
        return self.now() >= session.expires_at

    def start_order(self, session: CheckoutSessionState, number: str) -> OrderState:
        """The order comes to life when the payer submits a card (not at session create)."""
        existing = self.orders.get(session.order["id"])
        if existing is not None:
            existing.card = card_details(number)
            return existing
        now = stamp(self.now())
        order = OrderState(
            id=session.order["id"],
            merchant=session.merchant,
            amount=session.order["amount"],
            currency=session.order["currency"],
            description=session.order["description"],
            notification_url=session.order["notificationUrl"],
            api_version=session.api_version,
            created=now,
            updated=now,
            card=card_details(number),
        )
        self.orders[order.id] = order
        return order

    def add_transaction(
        self,
        order: OrderState,
        *,
        txn_id: str,
        txn_type: str,
        result: str,
        gateway_code: str,
        amount: Decimal,
        entry_point: str = "CHECKOUT_VIA_WEBSITE",
        reference: str | None = None,
    ) -> dict[str, Any]:
        """Append a Retrieve-Transaction-shaped record (B.9); the caller has set order state."""
        now = self.now()
        order.updated = stamp(now)
        record = records.transaction_record(
            order,
            now=now,
            txn_id=txn_id,
            txn_type=txn_type,
            result=result,
            gateway_code=gateway_code,
            amount=amount,
            entry_point=entry_point,
            reference=reference,
            rng=self.env.random,
            merchant_id=self.merchant_id,
        )
        order.transactions.append(record)
        return record

    def next_txn_id(self, order: OrderState) -> str:
        """The id the hosted page gives its next transaction on `order`: 1, 2, 3..."""
        return str(len(order.transactions) + 1)


def new_hex(n: int) -> str:
    """`n` lower-case hex digits: session versions and result indicators look like this."""
    return secrets.token_hex(n // 2 + 1)[:n]
