"""An odd gateway answer in a sweep batch is stored and never costs the rest of its batch.

CoinPayments may answer a JSON number with a decimal point; the transport parses it exactly, as
a Decimal, which a JSON column cannot hold. The answer must be stored (as text) and the payments
batched with it must be decided as usual.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask

from checkout.gateways.registry import get_gateway
from checkout.payments.sweep import sweep_pending
from tests.conftest import Sandbox
from tests.reconciliation import completions, due_now, open_payments, pay_ref, payment, quiet


@pytest.fixture(autouse=True)
def _no_notifications(sandbox: Sandbox) -> None:
    quiet(sandbox)


def _add_decimal_number(app: Flask, txn_id: str) -> None:
    """Make CoinPayments' answers carry `"fee": 0.00010000` (a bare JSON number) for `txn_id`."""
    session = get_gateway("coinpayments", app).transport.session
    real_request = session.request

    def request(*args: Any, **kwargs: Any) -> Any:
        response = real_request(*args, **kwargs)
        pattern = rb'("' + re.escape(txn_id.encode()) + rb'"\s*:\s*\{)'
        response._content = re.sub(pattern, rb'\1"fee": 0.00010000, ', response.content)
        return response

    session.request = request  # type: ignore[method-assign]


def test_a_decimal_number_in_an_answer_does_not_sink_its_batch(
    app: Flask, sandbox: Sandbox, fulfilments: list
) -> None:
    odd, paid = open_payments(app, "coinpayments", 2)
    with app.app_context():
        pay_ref(sandbox, paid)
        _add_decimal_number(app, payment(odd).gateway_reference)
        due_now()

        run = sweep_pending("test")

        assert run.errors == 0
        assert payment(paid).status == "COMPLETED"
        assert len(completions(paid)) == 1
        assert [ref for ref, _ in fulfilments] == [paid]
        assert payment(odd).status == "PENDING"
        assert payment(odd).last_raw["fee"] == "0.00010000"  # stored exactly, as text
        assert payment(odd).claimed_by is None
