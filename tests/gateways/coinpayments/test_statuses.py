"""The CoinPayments status table and the pure mapping of `get_tx_info` answers, without HTTP.

The client hands statuses.py the parsed answer; these tests hand it the same dict directly.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest

from checkout.gateways.base import Observation
from checkout.gateways.coinpayments.statuses import STATUS_TABLE, observe_poll, status_row
from checkout.models import Payment
from checkout.money import Money
from checkout.states import PaymentStatus

from .conftest import make_cp_payment, tx_info

S = PaymentStatus


def observe(payment: Payment, info: dict[str, Any]) -> Observation:
    """What the client makes of `info` for `payment` (its configured coin is LTCT)."""
    return observe_poll(info, payment, "LTCT", dict(info))


ROWS = [
    # (raw status, received 1e-8, our status, paid?, words)
    (-3, 0, S.FAILED, False, "The payment failed at CoinPayments"),
    (-2, 0, S.FAILED, False, "Refunded or reversed at CoinPayments"),
    (-1, 0, S.EXPIRED, False, "Cancelled or timed out"),
    (0, 0, S.PENDING, False, "Waiting for your coins"),
    (0, 5000000, S.PENDING, False, "Received 0.05000000 LTCT of 0.15625000 LTCT"),
    (1, 15625000, S.PENDING, False, "Coins received, waiting for confirmations (1/2)"),
    (2, 15625000, S.COMPLETED, True, "Paid (queued for the nightly payout)"),
    (3, 0, S.PENDING, False, "PayPal payment pending"),
    (42, 0, S.PENDING, False, "Payment in progress"),
    (99, 0, S.PENDING, False, "Payment in progress"),
    (100, 15625000, S.COMPLETED, True, "Paid"),
    (101, 15625000, S.COMPLETED, True, "Paid"),
    ("100", 15625000, S.COMPLETED, True, "Paid"),
    ("-1", 0, S.EXPIRED, False, "Cancelled or timed out"),
]


@pytest.mark.parametrize(("raw", "received", "status", "has_paid", "words"), ROWS)
def test_status_table_row(make_payment, raw, received, status, has_paid, words):
    payment = make_cp_payment(make_payment)

    observation = observe(payment, tx_info(raw, received=received, confirms=1))

    assert observation.status == status
    assert observation.message.startswith(words)
    assert observation.paid == (Money(received, "LTCT") if has_paid else None)
    assert observation.raw_status.startswith(str(raw))


@pytest.mark.parametrize("raw", ["paid", None, "1.5", "", True])
def test_an_unknown_status_is_pending_and_logged(make_payment, caplog, raw):
    payment = make_cp_payment(make_payment)

    with caplog.at_level(logging.WARNING, logger="checkout.gateways.coinpayments"):
        observation = observe(payment, tx_info(raw, received=15625000))

    assert observation.status == S.PENDING
    assert observation.paid is None
    assert f"payment {payment.ref}: unknown CoinPayments status" in caplog.text


def test_the_table_covers_every_integer_and_ships_only_on_2_or_100_plus():
    for code in range(-1000, 1000):
        status, _, parsed = status_row(code)
        assert parsed == code
        assert (status == S.COMPLETED) == (code == 2 or code >= 100)
    assert len({(low, high) for low, high, *_ in STATUS_TABLE}) == len(STATUS_TABLE)


def test_timeout_with_too_little_is_expired_and_names_what_arrived(make_payment):
    payment = make_cp_payment(make_payment)

    observation = observe(payment, tx_info(-1, received=5000000))

    assert observation.status == S.EXPIRED
    assert observation.review == (
        "timed out with 0.05000000 LTCT of 0.15625000 LTCT received: "
        "refund the buyer or settle by hand"
    )
