"""The COPYandPAY client against its sandbox over real HTTP: what it sends, how it reads answers.

The card form is rendered by paymentWidgets.js in a browser; here `pay` posts the fields that
script renders, as the browser would.
"""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests

from checkout.extensions import db
from checkout.gateways.base import (
    GatewayConfigError,
    GatewayRateLimited,
    GatewayRejected,
    GatewayUnavailable,
    ReturnUrls,
)
from checkout.gateways.copyandpay import plugin
from checkout.gateways.copyandpay import settings as demo
from checkout.gateways.copyandpay.client import CopyAndPayGateway
from checkout.models import Payment
from checkout.money import Money
from checkout.payments.service import checkout_values
from checkout.states import PaymentStatus

from .conftest import helper

S = PaymentStatus
URLS = ReturnUrls(
    return_url="https://shop.example/status/r/return",
    cancel_url="https://shop.example/status/r/cancel",
    notify_url="https://shop.example/ipn/copyandpay",
    status_url="https://shop.example/status/r",
)


def make_gateway(sandbox, **overrides: Any) -> CopyAndPayGateway:
    settings: dict[str, Any] = {
        "base_url": sandbox.url,
        "access_token": demo.SANDBOX_ACCESS_TOKEN,
        "entity_id": demo.SANDBOX_ENTITY_ID,
        "webhook_key": demo.SANDBOX_WEBHOOK_KEY,
        "read_timeout": 1.0,
        "connect_timeout": 1.0,
    }
    settings.update(overrides)
    return CopyAndPayGateway(**settings)


@pytest.fixture
def gateway(sandbox) -> CopyAndPayGateway:
    return make_gateway(sandbox)


@pytest.fixture
def opened(app, gateway, make_payment):
    """A payment with a checkout opened, stored as the funnel stores it."""

    def factory(amount: int = 9200, currency: str = "SAR") -> Payment:
        payment = make_payment(gateway="copyandpay", amount=amount, currency=currency)
        session = gateway.create_checkout(payment, URLS)
        for key, value in checkout_values(payment, session).items():
            setattr(payment, key, value)
        db.session.commit()
        return payment

    return factory


def received(sandbox) -> list[dict[str, Any]]:
    return helper(sandbox, "GET", "/requests").json()


def pay(sandbox, payment: Payment, number: str, outcome: str | None = None) -> requests.Response:
    """Submit the widget's card form; with `outcome`, answer the 3-D Secure challenge too."""
    url = f"{sandbox.url}/v1/checkouts/{payment.gateway_reference}/payment"
    fields = {
        "shopperResultUrl": URLS.return_url,
        "paymentBrand": "VISA",
        "card.number": number,
        "card.expiry": "12 / 34",
        "card.holder": "Test Holder",
        "card.cvv": "123",
    }
    response = requests.post(url, data=fields, allow_redirects=False, timeout=5)
    if outcome is not None:
        assert "Verify it" in response.text
        response = requests.post(
            url.replace("/payment", "/challenge"),
            data={"outcome": outcome},
            allow_redirects=False,
            timeout=5,
        )
    assert response.status_code == 302, response.text
    return response


@pytest.mark.parametrize(
    ("amount", "currency", "text"),
    [(9200, "SAR", "92.00"), (1250, "USD", "12.50"), (1000, "JPY", "1000"), (4250, "KWD", "4.25")],
)
def test_create_sends_bearer_entity_and_the_amount_in_oppwa_format(
    sandbox, opened, amount, currency, text
) -> None:
    payment = opened(amount, currency)
    (call,) = received(sandbox)
    assert call["method"] == "POST" and call["path"] == "/v1/checkouts"
    assert call["authorization"] == f"Bearer {demo.SANDBOX_ACCESS_TOKEN}"
    assert call["content_type"] == "application/x-www-form-urlencoded"
    assert call["form"] == {
        "entityId": demo.SANDBOX_ENTITY_ID,
        "amount": text,
        "currency": currency,
        "paymentType": "DB",
        "merchantTransactionId": payment.ref,
        "shopperResultUrl": URLS.return_url,
        "integrity": "true",
    }


def test_create_hands_the_widget_to_our_launch_page(sandbox, opened) -> None:
    payment = opened()
    data = payment.gateway_data
    assert payment.checkout_url == URLS.status_url
    assert data["launch_script"] == (
        f"{sandbox.url}/v1/paymentWidgets.js?checkoutId={payment.gateway_reference}"
    )
    assert plugin.presentation.launch_template == "copyandpay/widget.html"
    assert data["shopper_result_url"] == URLS.return_url
    assert data["brands"] == "MADA VISA MASTER"
    script = requests.get(data["launch_script"], timeout=5).content
    assert (
        data["integrity"] == "sha384-" + base64.b64encode(hashlib.sha384(script).digest()).decode()
    )
    assert payment.expires_at - datetime.now(UTC) > timedelta(minutes=29)


def test_an_amount_oppwa_cannot_take_is_refused_before_any_call(sandbox, gateway, make_payment):
    payment = make_payment(gateway="copyandpay", amount=4255, currency="KWD")
    with pytest.raises(GatewayRejected):
        gateway.create_checkout(payment, URLS)
    assert received(sandbox) == []


@pytest.mark.parametrize(
    ("number", "outcome", "status", "raw_status"),
    [
        ("4200000000000000", None, S.COMPLETED, "000.100.110"),
        ("4464040000000007", None, S.COMPLETED, "000.000.000"),
        ("4000000000000002", None, S.FAILED, "800.100.151"),
        ("4000000000000036", None, S.PENDING, "000.200.000"),
        ("4000000000000077", None, S.PENDING, "000.400.000"),
        ("4000000000003220", "approve", S.COMPLETED, "000.000.000"),
        ("4000000000003220", "fail", S.FAILED, "100.380.401"),
    ],
)
def test_fetch_after_paying_in_the_widget(
    sandbox, gateway, opened, number, outcome, status, raw_status
) -> None:
    payment = opened()
    response = pay(sandbox, payment, number, outcome)
    checkout = payment.gateway_reference
    assert response.headers["Location"] == (
        f"{URLS.return_url}?id={checkout}&resourcePath=%2Fv1%2Fcheckouts%2F{checkout}%2Fpayment"
    )
    seen = gateway.fetch_status(payment)
    assert (seen.status, seen.raw_status) == (status, raw_status)
    assert received(sandbox)[-1]["path"] == f"/v1/checkouts/{checkout}/payment"
    assert received(sandbox)[-1]["query"] == {"entityId": demo.SANDBOX_ENTITY_ID}
    if status == S.COMPLETED:
        assert seen.paid == Money(9200, "SAR")
    else:
        assert seen.paid is None
    if raw_status == "000.400.000":
        assert seen.review


def test_declined_says_why(sandbox, gateway, opened) -> None:
    payment = opened()
    pay(sandbox, payment, "4000000000000002")
    assert "invalid card" in gateway.fetch_status(payment).message


def test_a_pending_payment_completes_when_it_settles(sandbox, gateway, opened) -> None:
    payment = opened()
    pay(sandbox, payment, "4000000000000036")
    payment_id = gateway.fetch_status(payment).data["payment_id"]
    helper(sandbox, "POST", f"/payments/{payment_id}", json={"code": "000.000.000"})
    assert gateway.fetch_status(payment).status == S.COMPLETED


def test_after_the_checkout_expires_the_sweep_reads_the_report(sandbox, gateway, opened) -> None:
    payment = opened()
    pay(sandbox, payment, "4000000000000002")
    pay(sandbox, payment, "4200000000000000")  # the same checkout again after a decline
    sandbox.advance(31 * 60)
    payment.expires_at = datetime.now(UTC) - timedelta(minutes=1)
    seen = gateway.fetch_status(payment)
    assert seen.status == S.COMPLETED and seen.paid == Money(9200, "SAR")
    assert received(sandbox)[-1]["path"] == "/v1/query"
    assert received(sandbox)[-1]["query"] == {
        "entityId": demo.SANDBOX_ENTITY_ID,
        "merchantTransactionId": payment.ref,
    }


def test_a_gone_session_falls_back_to_the_report(sandbox, gateway, opened) -> None:
    payment = opened()
    sandbox.advance(31 * 60)  # the sandbox forgets the session; our clock still thinks it fresh
    seen = gateway.fetch_status(payment)
    assert (seen.status, seen.raw_status) == (S.PENDING, "700.400.580")
    assert [c["path"] for c in received(sandbox)][-2:] == [
        f"/v1/checkouts/{payment.gateway_reference}/payment",
        "/v1/query",
    ]


def test_nothing_paid_by_the_deadline_is_expired(sandbox, gateway, opened) -> None:
    payment = opened()
    payment.expires_at = datetime.now(UTC) - timedelta(seconds=1)
    assert gateway.fetch_status(payment).status == S.EXPIRED


def force(sandbox, status: int, body: Any, content_type: str = "application/json") -> None:
    helper(
        sandbox,
        "POST",
        "/force",
        json={"status": status, "body": body, "content_type": content_type},
    )


@pytest.mark.parametrize(
    ("status", "body", "content_type"),
    [
        (500, {"result": {"code": "900.100.300"}}, "application/json"),
        (503, "Service Unavailable", "text/plain"),
        (200, "<html>502 Bad Gateway</html>", "text/html"),
        (200, "[1, 2]", "application/json"),
        (429, {"result": {"code": "800.120.100"}}, "application/json"),
        (
            200,
            {"result": {"code": "800.120.100", "description": "Rejected by Throttling."}},
            "application/json",
        ),
    ],
)
def test_transport_trouble_is_transient(sandbox, gateway, opened, status, body, content_type):
    payment = opened()
    force(sandbox, status, body, content_type)
    with pytest.raises(GatewayUnavailable):
        gateway.fetch_status(payment)


@pytest.mark.parametrize(
    "status",
    [429, 200],  # result code 800.120.100 in a 429, or in a 200 answer
)
def test_throttling_is_a_rate_limit_not_an_outage(sandbox, gateway, opened, status) -> None:
    payment = opened()
    force(sandbox, status, {"result": {"code": "800.120.100"}}, "application/json")
    with pytest.raises(GatewayRateLimited):
        gateway.fetch_status(payment)


def test_a_timeout_is_transient(sandbox, gateway, opened) -> None:
    payment = opened()
    sandbox.knobs("copyandpay", timeout_rate=1.0, hang_seconds=2.0)
    with pytest.raises(GatewayUnavailable):
        gateway.fetch_status(payment)


def test_a_wrong_token_is_a_config_error(sandbox, opened, make_payment) -> None:
    payment = opened()
    with pytest.raises(GatewayConfigError):
        make_gateway(sandbox, access_token="wrong").fetch_status(payment)
    with pytest.raises(GatewayConfigError):
        make_gateway(sandbox, entity_id="8ac7a4c8ffffffffffffffffffffffff").create_checkout(
            make_payment(gateway="copyandpay"), URLS
        )


def test_an_unknown_result_code_is_pending(sandbox, gateway, opened) -> None:
    payment = opened()
    force(sandbox, 200, {"id": "x", "result": {"code": "555.555.555", "description": "new"}})
    seen = gateway.fetch_status(payment)
    assert (seen.status, seen.raw_status) == (S.PENDING, "555.555.555")


def test_a_refused_parameter_on_create_is_rejected_with_the_field(sandbox, gateway, make_payment):
    force(
        sandbox,
        400,
        {
            "result": {
                "code": "200.300.404",
                "description": "invalid or missing parameter",
                "parameterErrors": [{"name": "currency", "value": "XXX", "message": "invalid"}],
            }
        },
    )
    with pytest.raises(GatewayRejected, match="currency: invalid"):
        gateway.create_checkout(make_payment(gateway="copyandpay"), URLS)


def test_refund_against_the_debit(sandbox, gateway, opened) -> None:
    payment = opened()
    pay(sandbox, payment, "4200000000000000")
    debit = gateway.fetch_status(payment).data["payment_id"]
    result = gateway.refund(payment, Money(2000, "SAR"))
    assert result.status == "succeeded" and result.amount == Money(2000, "SAR")
    call = received(sandbox)[-1]
    assert call["path"] == f"/v1/payments/{debit}"
    assert call["form"] == {
        "entityId": demo.SANDBOX_ENTITY_ID,
        "amount": "20.00",
        "currency": "SAR",
        "paymentType": "RF",
    }
    with pytest.raises(GatewayRejected):
        gateway.refund(payment, Money(9000, "SAR"))  # more than is left


def test_redaction_removes_the_token_and_card_data(sandbox, gateway, opened) -> None:
    payment = opened()
    pay(sandbox, payment, "4200000000000000")
    seen = gateway.fetch_status(payment)
    refund = gateway.refund(payment, Money(100, "SAR"))
    for kept in (payment.gateway_data, seen.raw, refund.raw):
        text = str(kept)
        assert demo.SANDBOX_ACCESS_TOKEN not in text
        assert "4200000000000000" not in text and "card" not in text and "Holder" not in text


def test_check_return_notes_whether_the_checkout_is_ours(opened, gateway) -> None:
    payment = opened()
    ours = payment.gateway_reference
    args = {"id": ours, "resourcePath": f"/v1/checkouts/{ours}/payment"}
    assert gateway.check_return(payment, args) == f"returned from checkout {ours}"
    assert "another checkout" in gateway.check_return(payment, {"id": "other"})
    assert gateway.check_return(payment, {}) == "id and resourcePath missing"
