"""Copies of an open checkout in the emulators answer look-ups as the original does."""

from __future__ import annotations

from flask import Flask

from checkout.gateways.registry import get_gateway
from checkout.sandbox.server import ThreadedServer
from tests.conftest import Sandbox
from tests.reconciliation import payment, quiet
from tests.sweep_load import seed_due

GATEWAYS = ("coinpayments", "mpgs", "stripe", "copyandpay")


def test_each_copy_has_its_own_reference_and_reads_as_the_original(
    app: Flask, sandbox: Sandbox, _sandbox_server: ThreadedServer
) -> None:
    quiet(sandbox, *GATEWAYS)
    for name in GATEWAYS:
        refs = seed_due(app, _sandbox_server.server.app, name, 3)
        with app.app_context():
            gateway = get_gateway(name, app)
            rows = [payment(ref) for ref in refs]
            answers = [gateway.fetch_status(row) for row in rows]
        assert len({row.gateway_reference for row in rows}) == 3, name
        assert [(a.status, a.raw_status) for a in answers] == [
            ("PENDING", answers[0].raw_status)
        ] * 3
        assert [row.next_check_at for row in rows] == [None] * 3, name  # due now
        assert rows[0].created_at < rows[1].created_at < rows[2].created_at, name
