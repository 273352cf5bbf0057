"""The sandbox's traffic counter: every gateway's look-ups counted under that gateway's key."""

from __future__ import annotations

from collections import Counter

from flask import Flask

from checkout.gateways.registry import get_gateway
from checkout.sandbox.server import ThreadedServer
from checkout.sandbox.traffic import Traffic
from tests.conftest import Sandbox
from tests.reconciliation import open_payments, payment, quiet

GATEWAYS = ("coinpayments", "mpgs", "stripe", "copyandpay")


def test_a_look_up_of_each_gateway_counts_once_under_its_key(
    app: Flask, sandbox: Sandbox, _sandbox_server: ThreadedServer
) -> None:
    quiet(sandbox, *GATEWAYS)
    refs = {name: open_payments(app, name, 1)[0] for name in GATEWAYS}
    with Traffic(_sandbox_server.server.app) as traffic, app.app_context():
        rows = {name: payment(ref) for name, ref in refs.items()}
        for name, row in rows.items():
            get_gateway(name, app).fetch_status(row)
        coinpayments = get_gateway("coinpayments", app)
        coinpayments.fetch_statuses([rows["coinpayments"], rows["coinpayments"]])

    assert traffic.calls == Counter({"coinpayments": 2, "mpgs": 1, "stripe": 1, "copyandpay": 1})
    assert traffic.lookups == {
        "coinpayments": Counter({rows["coinpayments"].gateway_reference: 2}),
        "mpgs": Counter({refs["mpgs"]: 1}),  # Retrieve Order is by our ref
        "stripe": Counter({rows["stripe"].gateway_reference: 1}),
        "copyandpay": Counter({rows["copyandpay"].gateway_reference: 1}),
    }
    assert traffic.endpoints["coinpayments api"] == 2
    assert _sandbox_server.server.app.wsgi_app is not traffic  # uninstalled on the way out
