"""Shared helpers of the MPGS tests: a client against the sandbox and the sandbox's controls."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from checkout.extensions import db
from checkout.gateways.base import ReturnUrls
from checkout.gateways.mpgs.client import MpgsGateway
from checkout.gateways.registry import get_gateway
from checkout.models import Payment, PaymentEvent
from checkout.sandbox import credentials
from checkout.states import PaymentStatus

S = PaymentStatus
MID = credentials.MPGS["merchant_id"]
URLS = ReturnUrls(
    return_url="https://shop.example/status/r/return",
    cancel_url="https://shop.example/status/r/cancel",
    notify_url="https://shop.example/ipn/mpgs",
    status_url="https://shop.example/status/r",
    timeout_url="https://shop.example/status/r/timeout",
)


@pytest.fixture
def gateway(app) -> MpgsGateway:
    return get_gateway("mpgs")


def make_gateway(sandbox, **overrides: Any) -> MpgsGateway:
    settings: dict[str, Any] = {
        "base_url": sandbox.url,
        "merchant_id": MID,
        "api_password": credentials.MPGS["api_password"],
        "notification_secret": credentials.MPGS["notification_secret"],
        "merchant_name": "Tollgate test",
        "read_timeout": 2.0,
        "connect_timeout": 1.0,
    }
    settings.update(overrides)
    return MpgsGateway(**settings)


def received(sandbox) -> list[dict[str, Any]]:
    return requests.get(f"{sandbox.url}/_sandbox/mpgs/requests", timeout=5).json()


def force_order(sandbox, ref: str, **spec: Any) -> None:
    response = requests.post(f"{sandbox.url}/_sandbox/mpgs/orders/{ref}", json=spec, timeout=5)
    assert response.status_code == 200


def force_answer(sandbox, status: int, body: Any, content_type: str = "application/json") -> None:
    requests.post(
        f"{sandbox.url}/_sandbox/mpgs/next-answer",
        json={"status": status, "body": body, "content_type": content_type},
        timeout=5,
    ).raise_for_status()


def pay(session_url: str, card: str) -> str:
    """Submit a card on the hosted page as a browser would; returns where it sends the payer."""
    response = requests.post(
        session_url, data={"cardNumber": card, "action": "pay"}, allow_redirects=False, timeout=5
    )
    assert response.status_code == 302, response.text
    return response.headers["Location"]


def reload(payment: Payment) -> Payment:
    db.session.expire_all()
    return db.session.get(Payment, payment.id)


def events(payment: Payment) -> list[PaymentEvent]:
    return db.session.scalars(
        db.select(PaymentEvent).filter_by(payment_id=payment.id).order_by(PaymentEvent.id)
    ).all()


#: The Retrieve Order status table, run over HTTP through the funnel (test_client.py) and
#: through the pure mapping (test_statuses.py).
STATUS_ROWS = [
    # order status, gatewayCode, extra order fields -> our status, message, review contains
    ("CAPTURED", "APPROVED", {"totalCapturedAmount": "12.50"}, S.COMPLETED, "Paid by card", None),
    ("INITIATED", "PENDING", {}, S.PENDING, None, None),
    ("AUTHENTICATION_INITIATED", "PENDING", {}, S.PENDING, None, None),
    ("AUTHENTICATED", "APPROVED", {}, S.PENDING, None, None),
    ("AUTHENTICATION_NOT_NEEDED", "APPROVED", {}, S.PENDING, None, None),
    ("AUTHORIZED", "APPROVED", {"totalAuthorizedAmount": "12.50"}, S.PENDING, None, "capture"),
    ("PARTIALLY_CAPTURED", "APPROVED", {"totalCapturedAmount": "5.00"}, S.PENDING, None, "part"),
    ("FAILED", "DECLINED", {}, S.FAILED, "Card declined", None),
    ("FAILED", "INSUFFICIENT_FUNDS", {}, S.FAILED, "Insufficient funds", None),
    ("FAILED", "EXPIRED_CARD", {}, S.FAILED, "Card expired", None),
    ("FAILED", "SOME_NEW_CODE", {}, S.FAILED, "Payment not approved (SOME_NEW_CODE)", None),
    ("CANCELLED", "APPROVED", {}, S.FAILED, "The payment was cancelled", None),
    (
        "AUTHENTICATION_UNSUCCESSFUL",
        "DECLINED",
        {},
        S.FAILED,
        "Card authentication (3-D Secure) failed",
        None,
    ),
    ("REFUNDED", "APPROVED", {"totalRefundedAmount": "12.50"}, S.PENDING, None, "REFUNDED"),
    ("PARTIALLY_REFUNDED", "APPROVED", {}, S.PENDING, None, "PARTIALLY_REFUNDED"),
    ("REFUND_REQUESTED", "APPROVED", {}, S.PENDING, None, "REFUND_REQUESTED"),
    ("CHARGEBACK_PROCESSED", "APPROVED", {}, S.PENDING, None, "CHARGEBACK_PROCESSED"),
    ("DISPUTED", "APPROVED", {}, S.PENDING, None, "DISPUTED"),
    ("VERIFIED", "APPROVED", {}, S.PENDING, None, None),
    ("A_STATUS_FROM_THE_FUTURE", "APPROVED", {}, S.PENDING, None, None),
]
