"""The same IPN delivered many times at once on PostgreSQL: stored once, acted on once."""

from __future__ import annotations

import secrets
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from flask import Flask

from checkout.extensions import db
from checkout.models import Notification, Payment
from tests.blueprints.test_ipn_coinpayments import ipn, post
from tests.reconciliation import completions

pytestmark = pytest.mark.postgres


def test_one_ipn_delivered_eight_times_at_once_is_stored_and_acted_on_once(
    app: Flask, make_payment, fulfilments: list
) -> None:
    payment = make_payment(
        gateway="coinpayments",
        gateway_reference="CP" + secrets.token_hex(12).upper(),
        crypto_amount=15625000,
        crypto_currency="LTCT",
        confirms_needed=2,
        confirms_received=0,
    )
    fields = ipn(payment)
    start = threading.Barrier(8)

    def deliver(_: int) -> int:
        client = app.test_client()
        start.wait()
        return post(client, app, fields).status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        codes = list(pool.map(deliver, range(8)))

    assert codes == [200] * 8
    db.session.rollback()
    rows = db.session.scalars(db.select(Notification)).all()
    assert [(r.event_id, r.outcome, r.payment_id) for r in rows] == [
        (fields["ipn_id"], "processed", payment.id)
    ]
    assert db.session.get(Payment, payment.id).status == "COMPLETED"
    assert len(completions(payment.ref)) == 1
    assert len(fulfilments) == 1
