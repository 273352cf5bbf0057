"""`POST /ipn/<gateway>` under fuzzing, for every configured gateway, against PostgreSQL.

Two kinds of delivery: anything at all (random bytes and headers, and bodies known to hurt
parsers), which must not verify; and notifications correctly signed or sealed with the sandbox
secrets, of the gateway's own shape with one field made hostile (or replaced by any JSON), for a
payment that is not ours. Either way: no 5xx but 503, and no payment, order or event changes.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, urlencode

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import given
from hypothesis import strategies as st

from checkout.gateways.registry import plugins
from checkout.models import Payment
from checkout.sandbox.copyandpay.notify import seal
from checkout.sandbox.stripe.notify import sign as stripe_signature
from tests.conftest import Sandbox
from tests.fuzz.kit import FUZZ, NASTY_NUMBERS, NASTY_TEXT, assert_answered, nasty_json, snapshot
from tests.gateways.contract.kit import ADAPTERS
from tests.reconciliation import open_payments, quiet

#: bodies that have hurt JSON and form parsers: deep nesting, huge numbers, odd encodings
PARSER_BOMBS = [
    b"[" * 100_000,
    b'{"a":' * 50_000,
    b'{"encryptedBody": ' + b"[" * 100_000,
    b"9" * 10_000,
    b'{"amount": 1e400000}',
    b"\xff\xfe\x00",
    b"a=1&a=2&" * 500,
    b"%" * 1000,
    b"",
]
#: values that failed deep in the store (PostgreSQL) before notifications checked for them
STORE_BREAKERS = ["a\x00b", "\ud800", 10**4000, "1e400000"]
HEADER_NAMES = [
    "Content-Type",
    "HMAC",
    "X-Notification-Secret",
    "X-Notification-Id",
    "Stripe-Signature",
    "X-Initialization-Vector",
    "X-Authentication-Tag",
]
header_values = st.text(
    st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"),
    max_size=80,
)


def _gateways() -> list[str]:
    from tests.conftest import make_test_app

    return [p.name for p in plugins(make_test_app("http://127.0.0.1:9", "sqlite://").config)]


GATEWAYS = _gateways()


@pytest.fixture(autouse=True)
def _ours(app: Flask, sandbox: Sandbox) -> None:
    """One open payment per gateway, which no fuzzed delivery may touch."""
    quiet(sandbox)
    for name in GATEWAYS:
        open_payments(app, name, 1)


@pytest.mark.parametrize("gateway", GATEWAYS)
@FUZZ
@given(
    body=st.one_of(st.sampled_from(PARSER_BOMBS), st.binary(max_size=400)),
    headers=st.dictionaries(st.sampled_from(HEADER_NAMES), header_values, max_size=4),
)
def test_any_delivery_is_refused_without_a_5xx(
    app: Flask, client: FlaskClient, gateway: str, body: bytes, headers: dict[str, str]
) -> None:
    before = snapshot(app)
    response = client.post(f"/ipn/{gateway}", data=body, headers=headers)
    assert_answered(response.status_code, f"/ipn/{gateway} with {body[:40]!r}")
    assert response.status_code != 200 or gateway == "coinpayments"  # CoinPayments acks all
    assert snapshot(app) == before


# -- correctly signed, hostile inside -------------------------------------------------------

Signer = Callable[[Flask, bytes], tuple[dict[str, str], bytes]]


def _stranger() -> Payment:
    """A payment of nobody's: what a signed notification names."""
    return Payment(ref="PAY-NOT-OURS-" + secrets.token_hex(4), amount=1250, currency="USD")


def _template(app: Flask, gateway: str) -> Any:
    """The gateway's notification for a stranger, as data: form pairs or a JSON object."""
    if gateway == "copyandpay":
        return {
            "type": "PAYMENT",
            "payload": {
                "id": "8ac7a4a" + secrets.token_hex(12) + "0",
                "paymentType": "DB",
                "amount": "12.50",
                "currency": "USD",
                "merchantTransactionId": _stranger().ref,
                "result": {"code": "000.100.110", "description": "ok"},
                "ndc": "nobody",
            },
        }
    [unsigned] = [
        f
        for f in ADAPTERS[gateway].forgeries(_stranger(), app.config)
        if f.label.startswith("no ") and "Tag" not in f.label
    ]
    if gateway == "coinpayments":
        return parse_qsl(unsigned.body.decode())
    return json.loads(unsigned.body)


def _sign(app: Flask, gateway: str, body: bytes) -> tuple[dict[str, str], bytes]:
    """Headers and body as the gateway would send `body`, signed with the configured secret."""
    config = app.config
    if gateway == "coinpayments":
        secret = str(config["COINPAYMENTS_IPN_SECRET"]).encode()
        digest = hmac.new(secret, body, hashlib.sha512).hexdigest()
        return {"Content-Type": "application/x-www-form-urlencoded", "HMAC": digest}, body
    if gateway == "mpgs":
        return {
            "Content-Type": "application/json",
            "X-Notification-Id": secrets.token_hex(16),
            "X-Notification-Secret": str(config["MPGS_NOTIFICATION_SECRET"]),
        }, body
    if gateway == "stripe":
        signature = stripe_signature(body, int(time.time()), str(config["STRIPE_WEBHOOK_SECRET"]))
        return {"Content-Type": "application/json", "Stripe-Signature": signature}, body
    assert gateway == "copyandpay", f"no signer for {gateway}: add one here"
    sealed, iv, tag = seal(body, str(config["COPYANDPAY_WEBHOOK_KEY"]), secrets.token_bytes(12))
    headers = {
        "Content-Type": "text/plain",
        "X-Initialization-Vector": iv,
        "X-Authentication-Tag": tag,
    }
    return headers, sealed.encode()


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every key path into a JSON value, containers included."""
    found = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            found.extend(_paths(item, (*prefix, key)))
    return found


def _replaced(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    head, *rest = path
    return {**value, head: _replaced(value[head], tuple(rest), new)}


@st.composite
def _json_mutation(draw: st.DrawFn, template: dict[str, Any]) -> bytes:
    path = draw(st.sampled_from(_paths(template)))
    body = _replaced(template, path, draw(st.one_of(st.sampled_from(STORE_BREAKERS), nasty_json())))
    return json.dumps(body).encode()


@st.composite
def _form_mutation(draw: st.DrawFn, pairs: list[tuple[str, str]]) -> bytes:
    """A CoinPayments IPN with a field hostile, repeated, or raw bytes that are not UTF-8."""
    fields = list(pairs)
    index = draw(st.integers(0, len(fields) - 1))
    value = draw(st.one_of(st.sampled_from(NASTY_TEXT + NASTY_NUMBERS), st.text(max_size=40)))
    how = draw(st.sampled_from(["replace", "repeat", "append"]))
    if how == "replace":
        fields[index] = (fields[index][0], value)
    elif how == "repeat":
        fields.append((fields[index][0], value))
    else:
        fields.append((value, value))
    body = urlencode(fields, encoding="utf-8", errors="surrogatepass").encode()
    if draw(st.booleans()):
        body += draw(st.sampled_from([b"&x=\xff", b"&\xc3(=1", b"&big=" + b"9" * 5000]))
    return body


@pytest.mark.parametrize("gateway", GATEWAYS)
@FUZZ
@given(data=st.data())
def test_signed_hostile_notifications_change_nothing(
    app: Flask, client: FlaskClient, gateway: str, data: st.DataObject
) -> None:
    template = _template(app, gateway)
    if gateway == "coinpayments":
        body = data.draw(_form_mutation(template))
    else:
        body = data.draw(_json_mutation(template))
    headers, sent = _sign(app, gateway, body)
    before = snapshot(app)
    response = client.post(f"/ipn/{gateway}", data=sent, headers=headers)
    assert_answered(response.status_code, f"signed /ipn/{gateway} with {body[:200]!r}")
    assert snapshot(app) == before


@pytest.mark.parametrize("gateway", GATEWAYS)
def test_the_signer_is_right(app: Flask, client: FlaskClient, gateway: str) -> None:
    """The fuzz above is only worth something if its unmutated deliveries verify."""
    template = _template(app, gateway)
    body = urlencode(template).encode() if gateway == "coinpayments" else json.dumps(template)
    headers, sent = _sign(app, gateway, body if isinstance(body, bytes) else body.encode())
    response = client.post(f"/ipn/{gateway}", data=sent, headers=headers)
    assert response.status_code == 200, response.data
