"""The COPYandPAY sandbox answers as OPPWA does (docs/copyandpay.md), whatever our client does."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Iterator

import pytest
import requests
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from flask import Flask, request

from checkout.gateways.copyandpay import settings as demo
from checkout.sandbox.server import ThreadedServer

AUTH = {"Authorization": f"Bearer {demo.SANDBOX_ACCESS_TOKEN}"}
FORM = {
    "entityId": demo.SANDBOX_ENTITY_ID,
    "amount": "92.00",
    "currency": "SAR",
    "paymentType": "DB",
}


def prepare(sandbox, **fields: str) -> dict:
    response = requests.post(
        f"{sandbox.url}/v1/checkouts", data={**FORM, **fields}, headers=AUTH, timeout=5
    )
    assert response.status_code == 200, response.text
    return response.json()


def envelope_ok(body: dict) -> None:
    assert re.fullmatch(r"\d{3}\.\d{3}\.\d{3}", body["result"]["code"])
    assert body["buildNumber"] and body["ndc"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}\+0000", body["timestamp"])


def test_prepare_answers_a_checkout(sandbox) -> None:
    body = prepare(sandbox, merchantTransactionId="P-1")
    envelope_ok(body)
    assert body["result"] == {"code": "000.200.100", "description": "successfully created checkout"}
    assert body["id"] == body["ndc"]
    assert "integrity" not in body


@pytest.mark.parametrize(
    ("headers", "form", "status", "code"),
    [
        ({}, FORM, 401, "800.900.300"),
        ({"Authorization": "Bearer wrong"}, FORM, 401, "800.900.300"),
        ({"Authorization": f"Basic {demo.SANDBOX_ACCESS_TOKEN}"}, FORM, 401, "800.900.300"),
        (AUTH, {**FORM, "entityId": ""}, 400, "200.300.404"),
        (AUTH, {**FORM, "entityId": "8ac7a4c8ffffffffffffffffffffffff"}, 403, "800.900.301"),
        (AUTH, {**FORM, "amount": "92.5"}, 400, "200.300.404"),
        (AUTH, {**FORM, "amount": "4.255"}, 400, "200.300.404"),
        (AUTH, {**FORM, "amount": "1234567890123.00"}, 400, "200.300.404"),
        (AUTH, {**FORM, "currency": "sar"}, 400, "200.300.404"),
        (AUTH, {**FORM, "paymentType": "XX"}, 400, "200.300.404"),
    ],
)
def test_refusals_in_oppwa_shape(sandbox, headers, form, status, code) -> None:
    response = requests.post(f"{sandbox.url}/v1/checkouts", data=form, headers=headers, timeout=5)
    assert response.status_code == status
    body = response.json()
    envelope_ok(body)
    assert body["result"]["code"] == code
    if code == "200.300.404":
        (error,) = body["result"]["parameterErrors"]
        assert set(error) == {"name", "value", "message"}


def test_a_checkout_session_is_gone_after_30_minutes(sandbox) -> None:
    checkout = prepare(sandbox)["id"]
    url = f"{sandbox.url}/v1/checkouts/{checkout}/payment"
    params = {"entityId": demo.SANDBOX_ENTITY_ID}
    fresh = requests.get(url, params=params, headers=AUTH, timeout=5)
    assert fresh.json()["result"]["code"] == "000.200.000"
    sandbox.advance(30 * 60)
    gone = requests.get(url, params=params, headers=AUTH, timeout=5)
    assert gone.status_code == 400
    assert gone.json()["result"]["code"] == "200.300.404"
    assert "No payment session found" in gone.json()["result"]["description"]


def test_the_report_of_an_unknown_reference(sandbox) -> None:
    params = {"entityId": demo.SANDBOX_ENTITY_ID, "merchantTransactionId": "nobody"}
    response = requests.get(f"{sandbox.url}/v1/query", params=params, headers=AUTH, timeout=5)
    assert response.status_code == 404
    assert response.json()["result"] == {
        "code": "700.400.580",
        "description": "cannot find transaction",
    }


def test_the_widget_script_matches_the_integrity_it_was_announced_with(sandbox) -> None:
    body = prepare(sandbox, integrity="true")
    script = requests.get(
        f"{sandbox.url}/v1/paymentWidgets.js", params={"checkoutId": body["id"]}, timeout=5
    )
    assert script.headers["Access-Control-Allow-Origin"] == "*"
    assert script.headers["Content-Type"].startswith("application/javascript")
    digest = base64.b64encode(hashlib.sha384(script.content).digest()).decode()
    assert body["integrity"] == f"sha384-{digest}"
    assert b"form.paymentWidgets" in script.content


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[tuple[dict, bytes]]]]:
    """A webhook endpoint that fails its first delivery, then records what it is sent."""
    app = Flask(__name__)
    calls: list[tuple[dict, bytes]] = []

    @app.post("/hook")
    def hook() -> tuple[str, int]:
        calls.append((dict(request.headers), request.get_data()))
        return ("", 500) if len(calls) == 1 else ("", 200)

    server = ThreadedServer(app).start()
    yield f"{server.url}/hook", calls
    server.stop()


def test_a_payment_is_announced_by_an_encrypted_webhook_with_retries(sandbox, receiver) -> None:
    url, calls = receiver
    requests.post(f"{sandbox.url}/_sandbox/copyandpay/webhook", json={"url": url}, timeout=5)
    checkout = prepare(
        sandbox, merchantTransactionId="P-77", shopperResultUrl="https://s.example/r"
    )["id"]
    paid = requests.post(
        f"{sandbox.url}/v1/checkouts/{checkout}/payment",
        data={"card.number": "4200000000000000", "card.holder": "T", "paymentBrand": "VISA"},
        allow_redirects=False,
        timeout=5,
    )
    assert paid.status_code == 302
    assert paid.headers["Location"].startswith(f"https://s.example/r?id={checkout}&resourcePath=")
    sandbox.wait_notifications()
    assert len(calls) == 2 and calls[0][1] == calls[1][1]  # the same delivery, retried
    headers, body = calls[1]
    assert headers["Content-Type"] == "text/plain"
    iv = bytes.fromhex(headers["X-Initialization-Vector"])
    tag = bytes.fromhex(headers["X-Authentication-Tag"])
    plain = AESGCM(bytes.fromhex(demo.SANDBOX_WEBHOOK_KEY)).decrypt(
        iv, bytes.fromhex(body.decode()) + tag, None
    )
    event = json.loads(plain)
    assert event["type"] == "PAYMENT"
    assert event["payload"]["merchantTransactionId"] == "P-77"
    assert event["payload"]["result"]["code"] == "000.100.110"
    assert event["payload"]["ndc"] == checkout


def test_knobs_make_the_api_fail_in_its_own_shape(sandbox) -> None:
    sandbox.knobs("copyandpay", error_rate=1.0)
    response = requests.post(f"{sandbox.url}/v1/checkouts", data=FORM, headers=AUTH, timeout=5)
    assert response.status_code in (500, 503)
    envelope_ok(response.json())
