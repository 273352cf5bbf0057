"""The CoinPayments client over real HTTP: exact bytes and HMAC, batching, and what each kind of
failure raises (the status table itself is in test_statuses.py, the IPN HMAC in
test_notifications.py).

Two servers answer it: the sandbox (the emulated API) and, where a test must see the exact bytes
or script an answer the sandbox would never give (HTTP 500, a chosen status code), a small
capture server on a real port.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl

import pytest
import requests
from flask import Flask, Response, request

from checkout.extensions import db
from checkout.gateways.base import (
    GatewayConfigError,
    GatewayError,
    GatewayRejected,
    GatewayUnavailable,
    ReturnUrls,
)
from checkout.gateways.coinpayments.client import CoinPaymentsGateway
from checkout.gateways.registry import get_gateway
from checkout.gateways.transport import HttpTransport
from checkout.models import Order, Payment
from checkout.money import Money
from checkout.sandbox import credentials
from checkout.sandbox.server import ThreadedServer
from checkout.states import PaymentStatus

from .conftest import TXN, make_cp_payment, ok, tx_info

S = PaymentStatus
URLS = ReturnUrls(
    return_url="https://shop.example/status/r/return",
    cancel_url="https://shop.example/status/r/cancel",
    notify_url="https://shop.example/ipn/coinpayments",
    status_url="https://shop.example/status/r",
)


# -- a capture server: records the exact request, answers what the test scripts ---------------


@dataclass
class Capture:
    url: str
    calls: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    answer: Callable[[bytes], tuple[int, str]] = lambda body: (200, "{}")

    def reply(self, envelope: Any, status: int = 200) -> None:
        self.answer = lambda body: (
            status,
            envelope if isinstance(envelope, str) else json.dumps(envelope),
        )

    def client(self, **overrides: Any) -> CoinPaymentsGateway:
        settings: dict[str, Any] = {
            "api_url": f"{self.url}/api.php",
            "public_key": "pub",
            "private_key": "priv",
            "merchant_id": "merchant",
            "ipn_secret": "ipn",
            "currency2": "LTCT",
            "transport": HttpTransport(connect_timeout=1, read_timeout=2),
        }
        settings.update(overrides)
        return CoinPaymentsGateway(**settings)


@pytest.fixture(scope="module")
def _capture_server() -> Iterator[tuple[ThreadedServer, list[Capture]]]:
    holder: list[Capture] = []
    app = Flask("capture")

    @app.post("/api.php")
    def api() -> Response:
        capture = holder[-1]
        body = request.get_data()
        capture.calls.append((dict(request.headers), body))
        status, text = capture.answer(body)
        return Response(text, status, mimetype="application/json")

    server = ThreadedServer(app).start()
    yield server, holder
    server.stop()


@pytest.fixture
def capture(_capture_server) -> Capture:
    server, holder = _capture_server
    holder.append(Capture(server.url))
    return holder[-1]


def cp_settings(sandbox, **values: Any) -> None:
    """Change the emulated account's behaviour through the sandbox's own control URL."""
    response = requests.post(
        f"{sandbox.url}/_sandbox/coinpayments/settings", json=values, timeout=5
    )
    assert response.status_code == 200, response.text


# -- signing -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("price", "currency", "amount"),
    [(1250, "USD", "12.50"), (1250, "KWD", "1.250"), (1000, "JPY", "1000"), (4500, "SAR", "45.00")],
)
def test_create_sends_these_exact_bytes_signed_with_the_private_key(
    capture, make_product, price, currency, amount
):
    product = make_product(price=price, currency=currency, name="Europe 5 GB")
    order = Order(
        product_id=product.id, email="shopper@example.com", amount=price, currency=currency
    )
    db.session.add(order)
    db.session.commit()
    payment = Payment(order_id=order.id, gateway="coinpayments", amount=price, currency=currency)
    db.session.add(payment)
    db.session.commit()
    capture.reply(ok(_create_result()))

    capture.client().create_checkout(payment, URLS)

    ((headers, body),) = capture.calls
    assert (
        body
        == (
            "version=1&key=pub&cmd=create_transaction&format=json"
            f"&amount={amount}&currency1={currency}&currency2=LTCT"
            "&buyer_email=shopper%40example.com&item_name=Europe+5+GB"
            f"&invoice={payment.ref}&custom={order.ref}"
            "&ipn_url=https%3A%2F%2Fshop.example%2Fipn%2Fcoinpayments"
            "&success_url=https%3A%2F%2Fshop.example%2Fstatus%2Fr%2Freturn"
            "&cancel_url=https%3A%2F%2Fshop.example%2Fstatus%2Fr%2Fcancel"
        ).encode()
    )
    assert headers["Hmac"] == hmac.new(b"priv", body, hashlib.sha512).hexdigest()
    assert headers["Content-Type"] == "application/x-www-form-urlencoded"


def test_a_lookup_is_signed_over_its_own_bytes(capture, make_payment):
    payment = make_cp_payment(make_payment)
    capture.reply(ok(tx_info(0)))

    capture.client().fetch_status(payment)

    ((headers, body),) = capture.calls
    assert body == f"version=1&key=pub&cmd=get_tx_info&format=json&txid={TXN}".encode()
    assert headers["Hmac"] == hmac.new(b"priv", body, hashlib.sha512).hexdigest()


# -- create against the sandbox ----------------------------------------------------------------


def test_create_against_the_sandbox_returns_a_complete_session(app, make_payment):
    payment = make_payment(gateway="coinpayments", amount=1250, currency="USD")
    gateway = get_gateway("coinpayments", app)
    before = datetime.now(UTC)

    session = gateway.create_checkout(payment, URLS)

    assert re.fullmatch(r"CP[A-Z0-9]{24}", session.gateway_reference)
    assert f"cmd=checkout&id={session.gateway_reference}&key=" in session.redirect_url
    assert session.crypto is not None
    assert session.crypto.amount == Money(15625000, "LTCT")  # 12.50 USD at 80 USD per LTCT
    assert session.crypto.confirms_needed == 2
    assert session.crypto.address.startswith("tltc1q")
    assert (
        before + timedelta(seconds=3599)
        <= session.expires_at
        <= datetime.now(UTC) + timedelta(seconds=3600)
    )
    assert set(session.data) == {"status_url", "qrcode_url"}
    assert session.raw["txn_id"] == session.gateway_reference
    assert payment.ref not in json.dumps(session.raw)


def test_stringified_numbers_are_read_the_same(app, sandbox, make_payment):
    gateway = get_gateway("coinpayments", app)
    payment = make_payment(gateway="coinpayments")
    session = gateway.create_checkout(payment, URLS)
    payment.gateway_reference = session.gateway_reference
    payment.confirms_needed = 2
    db.session.commit()
    cp_settings(sandbox, stringify_numbers=True)

    observation = gateway.fetch_status(payment)

    assert observation.raw["status"] == "0"
    assert observation.status == S.PENDING
    assert observation.confirms_received == 0
    assert observation.message == "Waiting for your coins"


# -- batching ----------------------------------------------------------------------------------


def test_thirty_payments_are_looked_up_in_two_calls_of_25_and_5(capture, make_payment):
    payments = [
        make_cp_payment(make_payment, gateway_reference=f"CPBATCH{n:019d}") for n in range(30)
    ]
    bad = payments[7].gateway_reference

    def answer(body: bytes) -> tuple[int, str]:
        ids = dict(parse_qsl(body.decode()))["txid"].split("|")
        result = {
            i: {"error": "Invalid payment ID!"} if i == bad else {"error": "ok", **tx_info(100)}
            for i in ids
        }
        return 200, json.dumps(ok(result))

    capture.answer = answer

    results = capture.client().fetch_statuses(payments)

    sent = [dict(parse_qsl(body.decode())) for _, body in capture.calls]
    assert [s["cmd"] for s in sent] == ["get_tx_info_multi", "get_tx_info_multi"]
    assert [len(s["txid"].split("|")) for s in sent] == [25, 5]
    assert sent[0]["txid"].split("|") == [p.gateway_reference for p in payments[:25]]
    assert set(results) == {p.ref for p in payments}
    assert isinstance(results[payments[7].ref], GatewayRejected)
    assert "Invalid payment ID!" in str(results[payments[7].ref])
    completed = [r for r in results.values() if not isinstance(r, GatewayError)]
    assert len(completed) == 29
    assert all(r.status == S.COMPLETED for r in completed)


def test_a_failed_chunk_is_an_error_for_its_payments_only(capture, make_payment):
    payments = [
        make_cp_payment(make_payment, gateway_reference=f"CPCHUNK{n:019d}") for n in range(27)
    ]
    calls = iter([200, 500])

    def answer(body: bytes) -> tuple[int, str]:
        ids = dict(parse_qsl(body.decode()))["txid"].split("|")
        return next(calls), json.dumps(ok({i: {"error": "ok", **tx_info(0)} for i in ids}))

    capture.answer = answer

    results = capture.client().fetch_statuses(payments)

    assert all(results[p.ref].status == S.PENDING for p in payments[:25])
    assert all(isinstance(results[p.ref], GatewayUnavailable) for p in payments[25:])


def test_batch_against_the_sandbox_with_an_unknown_id(app, make_payment):
    gateway = get_gateway("coinpayments", app)
    payments = []
    for _ in range(2):
        payment = make_payment(gateway="coinpayments")
        payment.gateway_reference = gateway.create_checkout(payment, URLS).gateway_reference
        payments.append(payment)
    stranger = make_cp_payment(make_payment, gateway_reference="CPNOSUCHTXN00000000000000X")
    never_opened = make_payment(gateway="coinpayments")
    db.session.commit()

    results = gateway.fetch_statuses([*payments, stranger, never_opened])

    assert [results[p.ref].status for p in payments] == [S.PENDING, S.PENDING]
    assert isinstance(results[stranger.ref], GatewayRejected)
    assert isinstance(results[never_opened.ref], GatewayRejected)


# -- failures ----------------------------------------------------------------------------------


def test_gateway_down_is_unavailable(make_payment):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    gateway = Capture(f"http://127.0.0.1:{port}").client()

    with pytest.raises(GatewayUnavailable, match="cannot reach"):
        gateway.fetch_status(make_cp_payment(make_payment))


@pytest.mark.parametrize(
    ("status", "text", "match"),
    [
        (500, "<html>Internal Server Error</html>", "HTTP 500"),
        (503, json.dumps({"error": "ok", "result": {}}), "HTTP 503"),
        (200, "<html>502 Bad Gateway</html>", "not JSON"),
        (200, json.dumps({"result": {}}), "without an error field"),
        (200, json.dumps(["error", "ok"]), "without an error field"),
        (200, json.dumps(ok("not an object")), "no result object"),
    ],
)
def test_transport_trouble_is_unavailable(capture, make_payment, status, text, match):
    capture.answer = lambda body: (status, text)

    with pytest.raises(GatewayUnavailable, match=match):
        capture.client().fetch_status(make_cp_payment(make_payment))


@pytest.mark.parametrize(
    ("error", "exception"),
    [
        ("HMAC signature does not match", GatewayConfigError),
        ("This API Key does not have permission to use that command!", GatewayConfigError),
        ("Invalid API public key passed!", GatewayConfigError),
        (
            "Too many errors in the last two minutes from 1.2.3.4: please fix your code",
            GatewayUnavailable,
        ),
        ("Amount too small, there would be nothing left!", GatewayRejected),
    ],
)
def test_error_envelopes_map_to_exception_classes(capture, make_payment, error, exception):
    capture.reply({"error": error, "result": []})

    with pytest.raises(exception, match=re.escape(error)):
        capture.client().create_checkout(make_payment(gateway="coinpayments"), URLS)


def test_a_wrong_private_key_is_a_config_error_from_the_sandbox(app, make_payment):
    gateway = get_gateway("coinpayments", app)
    gateway._private_key = b"not-the-key"

    with pytest.raises(GatewayConfigError, match="HMAC signature does not match"):
        gateway.create_checkout(make_payment(gateway="coinpayments"), URLS)


def test_a_command_the_key_may_not_use_is_a_config_error(app, sandbox, make_payment):
    cp_settings(sandbox, denied_commands=["create_transaction"])

    with pytest.raises(GatewayConfigError, match="does not have permission"):
        get_gateway("coinpayments", app).create_checkout(make_payment(gateway="coinpayments"), URLS)


def test_an_unsupported_currency_is_rejected_by_the_sandbox(app, make_payment):
    payment = make_payment(gateway="coinpayments", currency="XTS")

    with pytest.raises(GatewayRejected, match="currency1"):
        get_gateway("coinpayments", app).create_checkout(payment, URLS)


@pytest.mark.parametrize(
    ("knobs", "match"),
    [
        ({"malformed_rate": 1.0}, "not JSON"),
        ({"error_rate": 1.0}, "Too many errors"),
    ],
)
def test_sandbox_misbehaviour_is_unavailable(app, sandbox, make_payment, knobs, match):
    sandbox.knobs("coinpayments", **knobs)

    with pytest.raises(GatewayUnavailable, match=match):
        get_gateway("coinpayments", app).create_checkout(make_payment(gateway="coinpayments"), URLS)


def test_a_slow_gateway_times_out_as_unavailable(sandbox, make_payment):
    sandbox.knobs("coinpayments", latency_ms=700)
    account = credentials.COINPAYMENTS
    gateway = CoinPaymentsGateway(
        api_url=f"{sandbox.url}/api.php",
        public_key=account["public_key"],
        private_key=account["private_key"],
        merchant_id=account["merchant_id"],
        ipn_secret=account["ipn_secret"],
        transport=HttpTransport(connect_timeout=1, read_timeout=0.2),
    )

    with pytest.raises(GatewayUnavailable, match="timeout"):
        gateway.create_checkout(make_payment(gateway="coinpayments"), URLS)


def test_missing_keys_are_a_config_error_before_any_call(capture, make_payment):
    with pytest.raises(GatewayConfigError):
        capture.client(private_key="").create_checkout(make_payment(gateway="coinpayments"), URLS)
    assert capture.calls == []


def test_a_configured_coin_money_cannot_count_is_a_config_error(capture, make_payment):
    with pytest.raises(GatewayConfigError, match="CURRENCY2"):
        capture.client(currency2="XMR").create_checkout(make_payment(gateway="coinpayments"), URLS)
    assert capture.calls == []


def test_from_config_reads_every_setting():
    gateway = CoinPaymentsGateway.from_config(
        {
            "COINPAYMENTS_API_URL": "http://127.0.0.1:9/api.php",
            "COINPAYMENTS_PUBLIC_KEY": "pub",
            "COINPAYMENTS_PRIVATE_KEY": "priv",
            "COINPAYMENTS_MERCHANT_ID": "m",
            "COINPAYMENTS_IPN_SECRET": "s",
            "COINPAYMENTS_CURRENCY2": "ltct",
            "GATEWAY_CONNECT_TIMEOUT": 1.5,
            "GATEWAY_READ_TIMEOUT": 7,
        }
    )

    assert gateway.api_url == "http://127.0.0.1:9/api.php"
    assert gateway.currency2 == "LTCT"
    assert gateway.merchant_id == "m"
    assert gateway.transport.timeout == (1.5, 7.0)
    assert CoinPaymentsGateway.notification_ack == ("IPN OK", 200)
    assert CoinPaymentsGateway.batch_size == 25


def _create_result() -> dict[str, Any]:
    return {
        "amount": "0.15625000",
        "txn_id": TXN,
        "address": "tltc1qexample",
        "confirms_needed": "2",
        "timeout": 3600,
        "checkout_url": f"https://www.coinpayments.net/index.php?cmd=checkout&id={TXN}&key=k",
        "status_url": f"https://www.coinpayments.net/index.php?cmd=status&id={TXN}&key=k",
        "qrcode_url": f"https://www.coinpayments.net/qrgen.php?id={TXN}&key=k",
    }


# -- currencies: `amount` is a decimal string in currency1, ISO exponent (docs/currencies.md) --


@pytest.mark.parametrize(
    ("money", "written"),
    [
        (Money(1250, "USD"), "12.50"),
        (Money(1500, "JPY"), "1500"),
        (Money(500, "ISK"), "500"),
        (Money(4255, "KWD"), "4.255"),  # CoinPayments takes what Stripe cannot
        (Money(500050, "MGA"), "5000.50"),
    ],
)
def test_amounts_are_decimal_strings_with_the_iso_exponent(money: Money, written: str) -> None:
    rules = CoinPaymentsGateway.currency_rules({})
    assert rules.can_charge(money) is None
    assert rules.decimal_str(money) == written


def test_nothing_to_charge_is_refused_before_calling() -> None:
    reason = CoinPaymentsGateway.currency_rules({}).can_charge(Money(0, "USD"))
    assert reason == "CoinPayments cannot charge 0.00 USD: nothing to charge"
