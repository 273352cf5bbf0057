"""The MPGS emulator speaks the real wire format (protocols.md section B), tested with plain HTTP.

These tests do not use our client: they pin what the sandbox answers, so the client tests above
it are checked against the gateway's behaviour rather than against themselves.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from flask import Flask, request

from checkout.sandbox import credentials
from checkout.sandbox.common import luhn_ok
from checkout.sandbox.mpgs.cards import TEST_CARDS
from checkout.sandbox.server import ThreadedServer

MID = credentials.MPGS["merchant_id"]
AUTH = (f"merchant.{MID}", credentials.MPGS["api_password"])


@dataclass
class Receiver:
    """A merchant endpoint that records webhooks and can refuse the first few."""

    url: str
    calls: list[dict[str, Any]] = field(default_factory=list)
    refuse: int = 0


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    app = Flask("receiver")
    box = Receiver(url="")

    @app.post("/hook")
    def hook():  # type: ignore[no-untyped-def]
        box.calls.append({"headers": dict(request.headers), "body": request.get_data()})
        if box.refuse:
            box.refuse -= 1
            return "busy", 503
        return "OK", 200

    server = ThreadedServer(app).start()
    box.url = f"{server.url}/hook"
    yield box
    server.stop()


@pytest.fixture(autouse=True)
def no_default_webhook_url(sandbox, monkeypatch):
    """Only the tests that ask for webhooks get them (no merchant-admin default URL)."""
    monkeypatch.setitem(sandbox.env.options.notification_urls, "mpgs", "")


def api(sandbox, version: int = 100, merchant: str = MID) -> str:
    return f"{sandbox.url}/api/rest/version/{version}/merchant/{merchant}"


def session_body(ref: str = "ord-1", **order: Any) -> dict[str, Any]:
    return {
        "apiOperation": "INITIATE_CHECKOUT",
        "order": {"id": ref, "amount": "12.50", "currency": "USD", "description": "plan", **order},
        "interaction": {
            "operation": "PURCHASE",
            "returnUrl": "https://shop.example/return?x=1",
            "cancelUrl": "https://shop.example/cancel",
            "timeout": 600,
            "merchant": {"name": "Shop"},
        },
    }


def create(sandbox, body: dict[str, Any] | None = None, version: int = 100) -> dict[str, Any]:
    response = requests.post(
        f"{api(sandbox, version)}/session", json=body or session_body(), auth=AUTH, timeout=5
    )
    assert response.status_code == 201, response.text
    return response.json()


def submit(sandbox, session_id: str, card: str, action: str = "pay") -> requests.Response:
    return requests.post(
        f"{sandbox.url}/checkout/pay/{session_id}",
        data={"cardNumber": card, "action": action},
        allow_redirects=False,
        timeout=5,
    )


def order(sandbox, ref: str = "ord-1") -> requests.Response:
    return requests.get(f"{api(sandbox)}/order/{ref}", auth=AUTH, timeout=5)


def exact(response: requests.Response) -> dict[str, Any]:
    return json.loads(response.content, parse_float=Decimal)


# --- auth and errors ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "auth",
    [
        (f"merchant.{MID}", "wrong"),
        (MID, credentials.MPGS["api_password"]),  # username without the merchant. prefix
        None,
    ],
    ids=["password", "username", "none"],
)
def test_bad_credentials_get_the_real_401_body(sandbox, auth):
    response = requests.post(f"{api(sandbox)}/session", json=session_body(), auth=auth, timeout=5)

    assert response.status_code == 401
    assert response.headers["Content-Type"] == "application/json;charset=ISO-8859-1"
    assert response.json() == {
        "error": {"cause": "INVALID_REQUEST", "explanation": "Invalid credentials."},
        "result": "ERROR",
    }


def test_another_merchant_in_the_path_is_unauthenticated(sandbox):
    response = requests.get(f"{api(sandbox, merchant='OTHER')}/order/x", auth=AUTH, timeout=5)

    assert response.status_code == 401


def test_an_unknown_resource_is_404_in_the_error_shape(sandbox):
    response = requests.get(f"{sandbox.url}/api/rest/version/100/nothing", auth=AUTH, timeout=5)

    assert response.status_code == 404
    assert response.json()["result"] == "ERROR"
    assert response.json()["error"]["cause"] == "INVALID_REQUEST"


def test_the_error_knob_answers_server_busy_or_failed_with_5xx(sandbox):
    sandbox.knobs("mpgs", error_rate=1.0)

    answers = [order(sandbox) for _ in range(8)]

    assert {r.status_code for r in answers} <= {500, 503}
    causes = {r.json()["error"]["cause"] for r in answers}
    assert causes <= {"SERVER_BUSY", "SERVER_FAILED"} and causes
    assert all(r.json()["result"] == "ERROR" for r in answers)


def test_the_malformed_knob_answers_a_body_that_is_not_json(sandbox):
    sandbox.knobs("mpgs", malformed_rate=1.0)

    response = order(sandbox)

    with pytest.raises(ValueError):
        response.json()


# --- session -----------------------------------------------------------------------------------


def test_initiate_checkout_answers_201_with_the_v100_shape(sandbox):
    body = create(sandbox)

    assert set(body) == {"checkoutMode", "merchant", "result", "session", "successIndicator"}
    assert body["checkoutMode"] == "WEBSITE"
    assert body["merchant"] == MID
    assert body["result"] == "SUCCESS"
    assert re.fullmatch(r"SESSION[0-9A-Z]{20,30}", body["session"]["id"])
    assert body["session"]["updateStatus"] == "SUCCESS"
    assert re.fullmatch(r"[0-9a-f]{10}", body["session"]["version"])
    assert re.fullmatch(r"[0-9a-f]{16}", body["successIndicator"])


def test_create_checkout_session_is_the_operation_before_v63(sandbox):
    old = {**session_body(), "apiOperation": "CREATE_CHECKOUT_SESSION"}

    body = create(sandbox, old, version=62)

    assert "checkoutMode" not in body
    assert body["successIndicator"]


@pytest.mark.parametrize(
    ("version", "operation"), [(100, "CREATE_CHECKOUT_SESSION"), (62, "INITIATE_CHECKOUT")]
)
def test_the_wrong_operation_for_the_version_is_a_validation_error(sandbox, version, operation):
    response = requests.post(
        f"{api(sandbox, version)}/session",
        json={**session_body(), "apiOperation": operation},
        auth=AUTH,
        timeout=5,
    )

    assert response.status_code == 400
    assert response.json()["error"]["field"] == "apiOperation"
    assert response.json()["error"]["validationType"] == "INVALID"


def test_a_zero_amount_gets_the_real_validation_error(sandbox):
    response = requests.post(
        f"{api(sandbox)}/session", json=session_body(amount="0.00"), auth=AUTH, timeout=5
    )

    assert response.status_code == 400
    assert response.json() == {
        "error": {
            "cause": "INVALID_REQUEST",
            "explanation": "Value '0.00' is invalid. Transaction or order amount must be "
            "greater than zero",
            "field": "order.amount",
            "validationType": "INVALID",
        },
        "result": "ERROR",
    }


@pytest.mark.parametrize(
    ("order_fields", "field_name", "kind"),
    [
        ({"amount": None}, "order.amount", "MISSING"),
        ({"amount": "12.505"}, "order.amount", "INVALID"),
        ({"amount": "12.5", "currency": "JPY"}, "order.amount", "INVALID"),
        ({"currency": "usd"}, "order.currency", "INVALID"),
        ({"id": "x" * 41}, "order.id", "INVALID"),
    ],
)
def test_order_fields_are_validated(sandbox, order_fields, field_name, kind):
    body = session_body()
    body["order"].update(order_fields)
    body["order"] = {k: v for k, v in body["order"].items() if v is not None}

    response = requests.post(f"{api(sandbox)}/session", json=body, auth=AUTH, timeout=5)

    assert response.status_code == 400
    assert response.json()["error"]["field"] == field_name
    assert response.json()["error"]["validationType"] == kind


def test_a_session_alone_creates_no_order(sandbox):
    create(sandbox)

    response = order(sandbox, "ord-1")

    assert response.status_code == 400
    assert response.json() == {
        "error": {
            "cause": "INVALID_REQUEST",
            "explanation": f"Unable to find order = ord-1 for merchant {MID}",
        },
        "result": "ERROR",
    }


# --- the hosted page -----------------------------------------------------------------------------


def test_test_cards_are_real_card_numbers():
    assert all(luhn_ok(number) for number in TEST_CARDS)


@pytest.mark.parametrize(
    "path", ["/static/checkout/checkout.min.js", "/checkout/version/62/checkout.js"]
)
def test_checkout_js_is_served_and_opens_the_hosted_page(sandbox, path):
    response = requests.get(sandbox.url + path, timeout=5)

    assert response.status_code == 200
    assert "javascript" in response.headers["Content-Type"]
    assert "configure" in response.text and "showPaymentPage" in response.text
    assert f'"{sandbox.url}"' in response.text
    assert "/checkout/pay/" in response.text


@pytest.mark.parametrize("form", ["pay", "entry"])
def test_the_hosted_page_shows_the_order_and_the_test_cards(sandbox, form):
    session = create(sandbox)["session"]["id"]

    page = requests.get(f"{sandbox.url}/checkout/{form}/{session}?checkoutVersion=1.0.0", timeout=5)

    assert page.status_code == 200
    assert "12.50 USD" in page.text and "Shop" in page.text
    for number in TEST_CARDS:
        assert number in page.text


def test_an_unknown_session_is_404(sandbox):
    assert requests.get(f"{sandbox.url}/checkout/pay/SESSION0000", timeout=5).status_code == 404


def test_an_approved_card_captures_and_returns_the_success_indicator(sandbox):
    created = create(sandbox)

    response = submit(sandbox, created["session"]["id"], "5123450000000008")

    assert response.status_code == 302
    location = urlsplit(response.headers["Location"])
    assert location.netloc == "shop.example" and location.path == "/return"
    query = parse_qs(location.query)
    assert query["x"] == ["1"]
    assert query["resultIndicator"] == [created["successIndicator"]]
    assert re.fullmatch(r"[0-9a-f]{10}", query["sessionVersion"][0])

    body = exact(order(sandbox))
    assert body["id"] == "ord-1" and body["status"] == "CAPTURED" and body["result"] == "SUCCESS"
    assert body["amount"] == Decimal("12.50") and body["currency"] == "USD"
    assert body["totalCapturedAmount"] == Decimal("12.50")
    assert body["totalAuthorizedAmount"] == Decimal("12.50")
    assert body["totalRefundedAmount"] == Decimal("0.00")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", body["creationTime"])
    [txn] = body["transaction"]
    assert txn["transaction"]["type"] == "PAYMENT" and txn["transaction"]["id"] == "1"
    assert txn["response"]["gatewayCode"] == "APPROVED"
    assert txn["sourceOfFunds"]["provided"]["card"]["number"] == "512345xxxxxx0008"
    assert txn["order"]["status"] == "CAPTURED"

    single = requests.get(f"{api(sandbox)}/order/ord-1/transaction/1", auth=AUTH, timeout=5)
    assert single.status_code == 200 and exact(single) == txn


@pytest.mark.parametrize(
    ("card", "code"),
    [
        ("4000000000000002", "DECLINED"),
        ("4000000000009995", "INSUFFICIENT_FUNDS"),
        ("4000000000000069", "EXPIRED_CARD"),
        ("4111111111111111", "DECLINED"),
    ],
)
def test_a_refused_card_fails_the_order_and_returns_another_indicator(sandbox, card, code):
    created = create(sandbox)

    response = submit(sandbox, created["session"]["id"], card)

    indicator = parse_qs(urlsplit(response.headers["Location"]).query)["resultIndicator"][0]
    assert indicator != created["successIndicator"]
    assert re.fullmatch(r"[0-9a-f]{16}", indicator)
    body = order(sandbox).json()
    assert body["status"] == "FAILED" and body["result"] == "FAILURE"
    assert body["transaction"][-1]["response"]["gatewayCode"] == code
    assert body["totalCapturedAmount"] == 0


def test_an_invalid_card_number_stays_on_the_page(sandbox):
    session = create(sandbox)["session"]["id"]

    response = submit(sandbox, session, "1234")

    assert response.status_code == 400 and "valid card number" in response.text
    assert order(sandbox).status_code == 400  # still no order


@pytest.mark.parametrize(
    ("outcome", "final", "approved"),
    [("approve", "CAPTURED", True), ("fail", "AUTHENTICATION_UNSUCCESSFUL", False)],
)
def test_three_d_secure_challenge(sandbox, outcome, final, approved):
    created = create(sandbox)
    session = created["session"]["id"]

    challenge = submit(sandbox, session, "4000000000003220")
    assert challenge.status_code == 200 and "challenge" in challenge.text
    waiting = order(sandbox).json()
    assert waiting["status"] == "AUTHENTICATION_INITIATED"
    assert waiting["result"] == "PENDING"

    done = requests.post(
        f"{sandbox.url}/checkout/challenge/{session}",
        data={"outcome": outcome},
        allow_redirects=False,
        timeout=5,
    )

    assert done.status_code == 302
    indicator = parse_qs(urlsplit(done.headers["Location"]).query)["resultIndicator"][0]
    assert (indicator == created["successIndicator"]) is approved
    body = order(sandbox).json()
    assert body["status"] == final
    assert [t["transaction"]["type"] for t in body["transaction"]][:2] == [
        "AUTHENTICATION",
        "AUTHENTICATION",
    ]


def test_cancel_goes_to_the_cancel_url_and_closes_the_session(sandbox):
    session = create(sandbox)["session"]["id"]

    response = submit(sandbox, session, "", action="cancel")

    assert response.status_code == 302
    assert response.headers["Location"] == "https://shop.example/cancel"
    assert requests.get(f"{sandbox.url}/checkout/pay/{session}", timeout=5).status_code == 410
    assert order(sandbox).status_code == 400


def test_a_session_is_used_once(sandbox):
    session = create(sandbox)["session"]["id"]
    submit(sandbox, session, "5123450000000008")

    again = submit(sandbox, session, "5123450000000008")

    assert again.status_code == 410
    assert len(order(sandbox).json()["transaction"]) == 1


def test_the_session_expires_on_the_sandbox_clock(sandbox):
    session = create(sandbox)["session"]["id"]  # timeout 600 s
    sandbox.advance(599)
    assert requests.get(f"{sandbox.url}/checkout/pay/{session}", timeout=5).status_code == 200

    sandbox.advance(2)

    page = requests.get(f"{sandbox.url}/checkout/pay/{session}", timeout=5)
    assert page.status_code == 410 and "expired" in page.text
    assert submit(sandbox, session, "5123450000000008").status_code == 410
    assert order(sandbox).status_code == 400


# --- webhooks ------------------------------------------------------------------------------------


def test_webhooks_carry_the_transaction_and_the_secret_headers(sandbox, receiver):
    sid = create(sandbox, session_body("ord-2", notificationUrl=receiver.url))["session"]["id"]

    submit(sandbox, sid, "5123450000000008")
    sandbox.wait_notifications()

    [call] = receiver.calls
    assert call["headers"]["X-Notification-Secret"] == credentials.MPGS["notification_secret"]
    assert re.fullmatch(r"[0-9a-f]{32}", call["headers"]["X-Notification-Id"])
    assert call["headers"]["X-Notification-Attempt"] == "1"
    body = json.loads(call["body"])
    assert body["order"]["id"] == "ord-2" and body["order"]["status"] == "CAPTURED"
    assert body["transaction"]["type"] == "PAYMENT"
    assert body == order(sandbox, "ord-2").json()["transaction"][0]


def test_webhooks_go_to_the_merchant_default_url_without_a_per_order_one(
    sandbox, receiver, monkeypatch
):
    monkeypatch.setitem(sandbox.env.options.notification_urls, "mpgs", receiver.url)
    sid = create(sandbox)["session"]["id"]

    submit(sandbox, sid, "4000000000000002")
    sandbox.wait_notifications()

    assert [json.loads(c["body"])["order"]["status"] for c in receiver.calls] == ["FAILED"]


def test_webhooks_are_retried_with_the_same_id_and_a_growing_attempt(sandbox, receiver):
    receiver.refuse = 2
    sid = create(sandbox, session_body(notificationUrl=receiver.url))["session"]["id"]

    submit(sandbox, sid, "5123450000000008")
    sandbox.wait_notifications()

    assert [c["headers"]["X-Notification-Attempt"] for c in receiver.calls] == ["1", "2", "3"]
    assert len({c["headers"]["X-Notification-Id"] for c in receiver.calls}) == 1


def test_the_notifications_knob_silences_webhooks(sandbox, receiver):
    sandbox.knobs("mpgs", notifications=False)
    sid = create(sandbox, session_body(notificationUrl=receiver.url))["session"]["id"]

    submit(sandbox, sid, "5123450000000008")
    sandbox.wait_notifications()

    assert receiver.calls == []


def test_three_d_secure_sends_a_webhook_per_transaction_change(sandbox, receiver):
    sid = create(sandbox, session_body(notificationUrl=receiver.url))["session"]["id"]
    submit(sandbox, sid, "4000000000003220")
    requests.post(
        f"{sandbox.url}/checkout/challenge/{sid}",
        data={"outcome": "approve"},
        allow_redirects=False,
        timeout=5,
    )
    sandbox.wait_notifications()

    statuses = [json.loads(c["body"])["order"]["status"] for c in receiver.calls]
    assert sorted(statuses) == sorted(["AUTHENTICATION_INITIATED", "AUTHENTICATED", "CAPTURED"])


# --- refunds -------------------------------------------------------------------------------------


def refund(sandbox, txn_id: str, amount: str, currency: str = "USD") -> requests.Response:
    return requests.put(
        f"{api(sandbox)}/order/ord-1/transaction/{txn_id}",
        json={
            "apiOperation": "REFUND",
            "transaction": {"amount": amount, "currency": currency, "reference": txn_id},
        },
        auth=AUTH,
        timeout=5,
    )


def test_refunds_partial_then_full_then_nothing_left(sandbox):
    submit(sandbox, create(sandbox)["session"]["id"], "5123450000000008")

    first = refund(sandbox, "refund-1", "5.00")
    assert first.status_code == 201
    assert first.json()["transaction"]["type"] == "REFUND"
    assert first.json()["order"]["status"] == "PARTIALLY_REFUNDED"
    assert order(sandbox).json()["totalRefundedAmount"] == 5

    assert refund(sandbox, "refund-1", "1.00").status_code == 400  # ids are unique
    assert refund(sandbox, "refund-2", "1.00", "EUR").json()["error"]["field"] == (
        "transaction.currency"
    )
    too_much = refund(sandbox, "refund-3", "7.51")
    assert too_much.status_code == 400 and too_much.json()["error"]["field"] == "transaction.amount"

    assert refund(sandbox, "refund-4", "7.50").status_code == 201
    body = order(sandbox).json()
    assert body["status"] == "REFUNDED" and body["totalRefundedAmount"] == 12.5
    assert refund(sandbox, "refund-5", "0.01").status_code == 400


def test_refund_of_an_unknown_order_is_no_such_order(sandbox):
    response = refund(sandbox, "refund-1", "1.00")

    assert response.status_code == 400
    assert response.json()["error"]["explanation"].startswith("Unable to find order = ord-1")
