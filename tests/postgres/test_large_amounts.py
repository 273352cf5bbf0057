"""Amounts past 2**31 minor units, on PostgreSQL, where INTEGER is 32-bit.

Coin amounts are counted in 1e-8 units, so 21.47 coins is already 2**31: a 2,500.00 USD order
is 31.25 LTCT (3,125,000,000 units) at the sandbox's price, and 16,666 coins in Dogecoin.
SQLite's INTEGER is 64-bit and hid this; PostgreSQL refused to store the gateway's answer
("integer out of range") and the shopper's checkout failed after the transaction was opened.
"""

from __future__ import annotations

import pytest
from flask import Flask

from checkout.extensions import db
from checkout.models import Payment
from checkout.payments.service import Source, refresh
from tests.conftest import Sandbox
from tests.reconciliation import open_payments, pay_ref, payment

pytestmark = pytest.mark.postgres

PAST_32_BITS = 2**31 + 1


def test_an_order_past_21_coins_opens_and_completes_to_the_unit(
    app: Flask, sandbox: Sandbox, fulfilments: list
) -> None:
    [ref] = open_payments(app, "coinpayments", 1, price=250_000, currency="USD")
    with app.app_context():
        opened = payment(ref)
        assert opened.crypto_amount > PAST_32_BITS
        owed = opened.crypto_amount
        pay_ref(sandbox, ref)
        refresh(opened, Source.STAFF)
        db.session.expire_all()
        paid = payment(ref)
        assert paid.status == "COMPLETED"
        assert paid.crypto_amount == owed
        assert not paid.needs_review
    assert len(fulfilments) == 1


def test_fiat_amounts_past_32_bits_are_stored_exactly(app: Flask, make_payment) -> None:
    with app.app_context():
        made = make_payment(
            gateway="mpgs", amount=PAST_32_BITS, currency="KRW", refunded_amount=PAST_32_BITS
        )
        db.session.expire_all()
        stored = db.session.get(Payment, made.id)
        assert (stored.amount, stored.refunded_amount) == (PAST_32_BITS, PAST_32_BITS)
        assert stored.order.amount == stored.order.product.price == PAST_32_BITS
