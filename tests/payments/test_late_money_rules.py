"""The pure rules behind late card money and the shopper's review words, row by row, no HTTP:
which last answer of each gateway means money may still come after our deadline, and which words
each kind of review gets."""

from __future__ import annotations

from typing import Any

import pytest

from checkout.gateways.base import Observation
from checkout.gateways.coinpayments.client import CoinPaymentsGateway
from checkout.gateways.mpgs.client import MpgsGateway
from checkout.gateways.stripe.client import StripeGateway, observe_session
from checkout.gateways.transport import HttpTransport
from checkout.models import Payment
from checkout.money import Money
from checkout.payments.decision import amount_mismatch, mismatch_kind
from checkout.payments.states import REVIEW_WORDS, PaymentStatus, ReviewKind, review_words


def _mpgs() -> MpgsGateway:
    return MpgsGateway(
        base_url="http://127.0.0.1:9",
        merchant_id="TESTMERCHANT",
        api_password="x",
        notification_secret="y",
    )


def _payment(**values: Any) -> Payment:
    defaults: dict[str, Any] = {
        "ref": "pay_rules",
        "gateway": "mpgs",
        "amount": 1250,
        "currency": "USD",
        "status": "PENDING",
    }
    return Payment(**{**defaults, **values})


@pytest.mark.parametrize(
    ("status", "may_come"),
    [
        ("INITIATED", True),
        ("AUTHENTICATION_INITIATED", True),  # 3-D Secure is running
        ("AUTHENTICATED", True),
        ("AUTHENTICATION_NOT_NEEDED", True),
        ("AUTHORIZED", True),  # the money is held; staff may still capture it
        ("PARTIALLY_CAPTURED", True),
        ("CAPTURED", False),
        ("FAILED", False),
        ("CANCELLED", False),
        ("AUTHENTICATION_UNSUCCESSFUL", False),
        ("REFUNDED", False),
        ("DISPUTED", False),
        ("SOMETHING_NEW", False),  # unknown: pending, but nothing says money is coming
    ],
)
def test_mpgs_money_may_still_come(status: str, may_come: bool) -> None:
    order = {"id": "pay_rules", "status": status, "currency": "USD", "amount": "12.50"}
    if status == "CAPTURED":
        order["totalCapturedAmount"] = "12.50"
    gateway = _mpgs()
    observation = gateway.observe_order(_payment(), order)
    assert gateway.money_may_still_come(observation) is may_come


@pytest.mark.parametrize(
    ("session_status", "payment_status", "intent_status", "may_come"),
    [
        ("open", "unpaid", None, False),  # nobody started paying
        ("open", "unpaid", "requires_payment_method", False),  # a declined card, nothing running
        ("open", "unpaid", "requires_action", True),  # 3-D Secure is running
        ("open", "unpaid", "requires_confirmation", True),
        ("open", "unpaid", "processing", True),
        ("complete", "unpaid", "processing", True),  # a bank debit is settling
        ("complete", "unpaid", "requires_payment_method", False),  # the debit bounced
        ("complete", "paid", "succeeded", False),
        ("expired", "unpaid", None, False),
        ("expired", "unpaid", "canceled", False),
    ],
)
def test_stripe_money_may_still_come(
    session_status: str, payment_status: str, intent_status: str | None, may_come: bool
) -> None:
    session: dict[str, Any] = {
        "id": "cs_test_rules",
        "object": "checkout.session",
        "status": session_status,
        "payment_status": payment_status,
        "amount_total": 1250,
        "currency": "usd",
    }
    if intent_status:
        session["payment_intent"] = {"id": "pi_rules", "status": intent_status}
    gateway = StripeGateway(secret_key="sk_test_x", webhook_secret="whsec_x")
    assert gateway.money_may_still_come(observe_session(session)) is may_come


def test_crypto_money_may_always_come_late() -> None:
    gateway = CoinPaymentsGateway(
        public_key="pub",
        private_key="priv",
        merchant_id="m",
        ipn_secret="s",
        transport=HttpTransport(connect_timeout=1.0, read_timeout=1.0),
    )
    assert gateway.money_may_still_come(Observation(PaymentStatus.EXPIRED, "-1")) is True


@pytest.mark.parametrize(
    ("paid", "invoiced", "kind"),
    [
        (Money(1000, "USD"), None, ReviewKind.UNDERPAID),
        (Money(1500, "USD"), None, ReviewKind.OVERPAID),
        (Money(5000000, "LTCT"), None, ReviewKind.UNDERPAID),
        (Money(20000000, "LTCT"), None, ReviewKind.OVERPAID),
        (Money(1250, "EUR"), None, ReviewKind.AMOUNT_MISMATCH),
        (Money(1250, "USD"), Money(1300, "USD"), ReviewKind.AMOUNT_MISMATCH),
        (None, None, ReviewKind.AMOUNT_MISMATCH),
    ],
)
def test_each_amount_mismatch_has_its_kind(
    paid: Money | None, invoiced: Money | None, kind: ReviewKind
) -> None:
    payment = _payment(gateway="coinpayments", crypto_amount=15625000, crypto_currency="LTCT")
    assert amount_mismatch(payment, paid, invoiced) is not None
    assert mismatch_kind(payment, paid, invoiced) == kind


def test_every_review_kind_has_its_own_words() -> None:
    assert set(REVIEW_WORDS) == set(ReviewKind)
    assert len(set(REVIEW_WORDS.values())) == len(ReviewKind)  # no two kinds read the same
    different = [k for k, words in REVIEW_WORDS.items() if "different amount" in words]
    assert different == [ReviewKind.AMOUNT_MISMATCH]
    assert review_words(None) == review_words("no such kind") == REVIEW_WORDS[ReviewKind.OTHER]
