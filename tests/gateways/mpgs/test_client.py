"""The MPGS client against the sandbox over real HTTP: what it sends, how it reads answers.

Status rows go through the funnel (`refresh`) so each asserts the state a look-up leaves behind:
status, message, review flag, events and fulfilments.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from checkout.gateways.base import GatewayConfigError, GatewayRejected, GatewayUnavailable
from checkout.gateways.mpgs.client import MpgsGateway
from checkout.gateways.registry import get_gateway
from checkout.models import Payment
from checkout.money import Money
from checkout.payments.service import Source, refresh
from checkout.sandbox import credentials
from checkout.states import PaymentStatus

from .conftest import (
    MID,
    STATUS_ROWS,
    URLS,
    events,
    force_answer,
    force_order,
    make_gateway,
    pay,
    received,
    reload,
)

S = PaymentStatus


@pytest.fixture(autouse=True)
def quiet_webhooks(sandbox):
    """These tests call the client only; nothing listens at URLS.notify_url."""
    sandbox.knobs("mpgs", notifications=False)


# --- session create ----------------------------------------------------------------------------


def test_create_v100_sends_initiate_checkout_with_basic_auth(sandbox, make_payment):
    payment = make_payment(gateway="mpgs", amount=1250, currency="USD")
    gw = make_gateway(sandbox, session_timeout=600)

    before = datetime.now(UTC)
    session = gw.create_checkout(payment, URLS)

    [call] = received(sandbox)
    assert call["method"] == "POST"
    assert call["path"] == f"/api/rest/version/100/merchant/{MID}/session"
    expected_auth = base64.b64encode(
        f"merchant.{MID}:{credentials.MPGS['api_password']}".encode()
    ).decode()
    assert call["authorization"] == f"Basic {expected_auth}"
    assert call["body"] == {
        "apiOperation": "INITIATE_CHECKOUT",
        "order": {
            "id": payment.ref,
            "amount": "12.50",
            "currency": "USD",
            "description": payment.order.product.name,
            "notificationUrl": URLS.notify_url,
        },
        "interaction": {
            "operation": "PURCHASE",
            "returnUrl": URLS.return_url,
            "cancelUrl": URLS.cancel_url,
            "timeoutUrl": URLS.timeout_url,
            "timeout": 600,
            "merchant": {"name": "Tollgate test"},
        },
    }
    assert session.gateway_reference.startswith("SESSION")
    assert session.redirect_url == (
        f"{sandbox.url}/checkout/pay/{session.gateway_reference}?checkoutVersion=1.0.0"
    )
    assert session.launch_script == f"{sandbox.url}/static/checkout/checkout.min.js"
    assert len(session.secret) == 16
    assert session.data["session_version"]
    assert session.raw is not None and "successIndicator" not in session.raw
    assert session.secret not in json.dumps(dict(session.data))
    assert before + timedelta(seconds=599) <= session.expires_at
    assert session.expires_at <= datetime.now(UTC) + timedelta(seconds=601)


def test_create_before_v63_uses_create_checkout_session_and_the_old_script(sandbox, make_payment):
    payment = make_payment(gateway="mpgs")
    gw = make_gateway(sandbox, api_version=62)

    session = gw.create_checkout(payment, URLS)

    [call] = received(sandbox)
    assert call["path"] == f"/api/rest/version/62/merchant/{MID}/session"
    assert call["body"]["apiOperation"] == "CREATE_CHECKOUT_SESSION"
    assert call["authorization"].startswith("Basic ")
    assert session.launch_script == f"{sandbox.url}/checkout/version/62/checkout.js"
    assert session.raw is not None and "checkoutMode" not in session.raw


@pytest.mark.parametrize(
    ("amount", "currency", "sent"),
    [(1250, "USD", "12.50"), (1250, "JPY", "1250"), (1250, "KWD", "1.250"), (5, "EUR", "0.05")],
)
def test_order_amount_is_a_decimal_string_with_the_currency_exponent(
    sandbox, make_payment, amount, currency, sent
):
    payment = make_payment(gateway="mpgs", amount=amount, currency=currency)

    make_gateway(sandbox).create_checkout(payment, URLS)

    assert received(sandbox)[-1]["body"]["order"]["amount"] == sent


def test_the_configured_gateway_points_at_the_configured_base_url(gateway, sandbox):
    assert gateway.api_root == f"{sandbox.url}/api/rest/version/100/merchant/{MID}"


def test_wrong_password_is_a_configuration_error(sandbox, make_payment):
    payment = make_payment(gateway="mpgs")
    gw = make_gateway(sandbox, api_password="not-the-password")

    with pytest.raises(GatewayConfigError, match="401"):
        gw.create_checkout(payment, URLS)
    with pytest.raises(GatewayConfigError, match="Invalid credentials"):
        gw.fetch_status(payment)


def test_validation_error_is_rejected_with_the_gateways_explanation(sandbox, make_payment):
    payment = make_payment(gateway="mpgs")

    with pytest.raises(GatewayRejected, match=r"is invalid.*interaction\.timeout"):
        make_gateway(sandbox, session_timeout=0).create_checkout(payment, URLS)


@pytest.mark.parametrize(
    ("amount", "currency", "currencies", "reason"),
    [
        (0, "USD", "", "MPGS cannot charge 0.00 USD: nothing to charge"),
        (1250, "EUR", "SAR,USD", "MPGS does not take EUR"),
        (10**14, "USD", "", "MPGS cannot charge 1000000000000.00 USD: the amount is too large"),
    ],
)
def test_what_mpgs_cannot_take_is_refused_before_calling(
    sandbox, make_payment, amount, currency, currencies, reason
):
    payment = make_payment(gateway="mpgs", amount=amount, currency=currency)
    gateway = make_gateway(sandbox, currencies=currencies)
    gateway.transport = None  # any call at all would fail differently

    with pytest.raises(GatewayRejected) as refused:
        gateway.create_checkout(payment, URLS)
    assert str(refused.value) == reason


@pytest.mark.parametrize(
    "knobs",
    [
        {"error_rate": 1.0},  # SERVER_BUSY / SERVER_FAILED with a 5xx
        {"malformed_rate": 1.0},  # an HTML page instead of JSON
        {"timeout_rate": 1.0, "hang_seconds": 1.0},
    ],
    ids=["5xx", "malformed", "timeout"],
)
def test_transport_trouble_is_unavailable_on_create_and_lookup(sandbox, make_payment, knobs):
    payment = make_payment(gateway="mpgs")
    gw = make_gateway(sandbox, read_timeout=0.4)
    sandbox.knobs("mpgs", **knobs)

    with pytest.raises(GatewayUnavailable):
        gw.create_checkout(payment, URLS)
    with pytest.raises(GatewayUnavailable):
        gw.fetch_status(payment)


@pytest.mark.parametrize("cause", ["SERVER_BUSY", "SERVER_FAILED"])
def test_busy_causes_are_transient_whatever_the_http_status(sandbox, make_payment, cause):
    payment = make_payment(gateway="mpgs")
    force_answer(sandbox, 400, {"result": "ERROR", "error": {"cause": cause, "explanation": "x"}})

    with pytest.raises(GatewayUnavailable, match=cause):
        make_gateway(sandbox).fetch_status(payment)


def test_a_session_answer_without_success_indicator_is_not_accepted(sandbox, make_payment):
    payment = make_payment(gateway="mpgs")
    force_answer(sandbox, 201, {"result": "SUCCESS", "session": {"id": "SESSION0002X"}})

    with pytest.raises(GatewayUnavailable):
        make_gateway(sandbox).create_checkout(payment, URLS)


def test_authorize_is_refused_as_a_setting(app, sandbox, make_payment):
    config = dict(app.config, MPGS_OPERATION="AUTHORIZE")
    assert "MPGS_OPERATION" in MpgsGateway.missing_settings(config)
    assert MpgsGateway.missing_settings(dict(app.config)) == []

    gw = make_gateway(sandbox, operation="AUTHORIZE")
    with pytest.raises(GatewayConfigError, match="PURCHASE"):
        gw.create_checkout(make_payment(gateway="mpgs"), URLS)
    assert received(sandbox) == []


# --- Retrieve Order: the status table (STATUS_ROWS in conftest.py) through the funnel -------


@pytest.mark.parametrize(
    ("raw", "code", "extra", "expected", "message", "review"),
    STATUS_ROWS,
    ids=[f"{row[0]}-{row[1]}" for row in STATUS_ROWS],
)
def test_status_table(
    app, sandbox, make_payment, fulfilments, raw, code, extra, expected, message, review
):
    payment = make_payment(gateway="mpgs", amount=1250, currency="USD")
    force_order(sandbox, payment.ref, status=raw, gatewayCode=code, amount="12.50", **extra)

    refresh(payment, Source.POLL)

    payment = reload(payment)
    assert payment.status == expected
    assert payment.status_message == message
    if review:
        assert payment.needs_review and review in payment.review_reason
    else:
        assert not payment.needs_review
    assert len(fulfilments) == (1 if expected == S.COMPLETED else 0)
    kinds = [e.kind for e in events(payment)]
    if expected != S.PENDING:
        assert kinds == ["transition"]
        assert events(payment)[0].raw_status.startswith(raw)
    elif review:
        assert kinds == ["review"]
    else:
        assert kinds == []
    assert payment.last_raw["status"] == raw


@pytest.mark.parametrize("raw", ["AUTHENTICATED", "AUTHORIZED", "INITIATED"])
def test_top_level_result_success_never_means_paid(app, sandbox, make_payment, fulfilments, raw):
    """The eSIM defect: Retrieve Order answers result SUCCESS for orders nobody has paid."""
    payment = make_payment(gateway="mpgs")
    force_order(sandbox, payment.ref, status=raw, result="SUCCESS", totalCapturedAmount="0")

    observation = get_gateway("mpgs").fetch_status(payment)
    refresh(payment, Source.POLL)

    assert observation.raw["result"] == "SUCCESS"
    assert observation.status == S.PENDING
    assert reload(payment).status == S.PENDING
    assert fulfilments == []


@pytest.mark.parametrize(
    ("captured", "currency", "words"),
    [("10.00", "USD", "amount mismatch"), ("12.50", "EUR", "currency mismatch")],
)
def test_captured_with_the_wrong_amount_or_currency_is_flagged_not_completed(
    app, sandbox, make_payment, fulfilments, captured, currency, words
):
    payment = make_payment(gateway="mpgs", amount=1250, currency="USD")
    force_order(
        sandbox,
        payment.ref,
        status="CAPTURED",
        amount=captured,
        currency=currency,
        totalCapturedAmount=captured,
    )

    refresh(payment, Source.POLL)

    payment = reload(payment)
    assert payment.status == S.PENDING
    assert payment.needs_review and words in payment.review_reason
    assert fulfilments == []
    assert [e.kind for e in events(payment)] == ["review"]


def test_no_such_order_is_pending_before_the_session_expires(app, sandbox, make_payment):
    payment = make_payment(gateway="mpgs", expires_at=datetime.now(UTC) + timedelta(minutes=10))

    observation = get_gateway("mpgs").fetch_status(payment)
    refresh(payment, Source.POLL)

    assert observation.raw_status == "NO_SUCH_ORDER"
    assert reload(payment).status == S.PENDING
    assert events(payment) == []


def test_no_such_order_after_the_session_expired_is_expired(app, sandbox, make_payment):
    payment = make_payment(gateway="mpgs", expires_at=datetime.now(UTC) - timedelta(seconds=1))

    refresh(payment, Source.POLL)

    payment = reload(payment)
    assert payment.status == S.EXPIRED
    assert "timed out" in payment.status_message
    assert [(e.kind, e.raw_status) for e in events(payment)] == [("transition", "NO_SUCH_ORDER")]


@pytest.mark.parametrize(
    "knobs",
    [{"error_rate": 1.0}, {"malformed_rate": 1.0}, {"timeout_rate": 1.0, "hang_seconds": 3.0}],
    ids=["5xx", "malformed", "timeout"],
)
def test_transport_trouble_leaves_the_payment_pending_with_an_error_event(
    app, sandbox, make_payment, knobs
):
    payment = make_payment(gateway="mpgs", expires_at=datetime.now(UTC) - timedelta(hours=1))
    sandbox.knobs("mpgs", **knobs)

    refresh(payment, Source.POLL)

    payment = reload(payment)
    assert payment.status == S.PENDING
    assert payment.failure_count == 1
    [event] = events(payment)
    assert event.kind == "error" and "GatewayUnavailable" in event.message


def test_a_401_on_lookup_is_recorded_and_fails_nothing(app, sandbox, make_payment):
    payment = make_payment(gateway="mpgs")
    force_answer(
        sandbox,
        401,
        {
            "error": {"cause": "INVALID_REQUEST", "explanation": "Invalid credentials."},
            "result": "ERROR",
        },
    )

    refresh(payment, Source.POLL)

    payment = reload(payment)
    assert payment.status == S.PENDING
    [event] = events(payment)
    assert event.kind == "error" and "GatewayConfigError" in event.message


def test_a_paid_order_read_from_a_real_payment(sandbox, make_payment):
    payment = make_payment(gateway="mpgs")
    gw = make_gateway(sandbox)
    session = gw.create_checkout(payment, URLS)
    pay(session.redirect_url, "5123450000000008")

    observation = gw.fetch_status(payment)

    assert observation.status == S.COMPLETED
    assert observation.paid == Money(1250, "USD")
    card_digits = "5123450000000008"
    assert card_digits[:6] not in json.dumps(observation.raw)
    assert "sourceOfFunds" not in observation.raw


# --- return --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "note"),
    [
        ({"resultIndicator": "0123456789abcdef", "sessionVersion": "x"}, "resultIndicator matches"),
        ({"resultIndicator": "fedcba9876543210"}, "resultIndicator does not match"),
        ({"resultIndicator": "0123456789abcdeF"}, "resultIndicator does not match"),
        ({"resultIndicator": "é☃"}, "resultIndicator does not match"),
        ({}, "resultIndicator missing"),
        ({"resultIndicator": ""}, "resultIndicator missing"),
    ],
)
def test_check_return_compares_the_indicator(gateway, make_payment, args, note):
    payment = make_payment(gateway="mpgs", gateway_secret="0123456789abcdef")

    assert gateway.check_return(payment, args) == note


def test_check_return_without_a_stored_secret_never_matches(gateway, make_payment):
    payment = make_payment(gateway="mpgs", gateway_secret=None)

    assert gateway.check_return(payment, {"resultIndicator": ""}) == "resultIndicator missing"
    assert (
        gateway.check_return(payment, {"resultIndicator": "x"}) == "resultIndicator does not match"
    )


# --- refunds -------------------------------------------------------------------------------------


def paid_payment(sandbox, make_payment, amount: int = 1250) -> tuple[MpgsGateway, Payment]:
    payment = make_payment(gateway="mpgs", amount=amount)
    gw = make_gateway(sandbox)
    pay(gw.create_checkout(payment, URLS).redirect_url, "5123450000000008")
    return gw, payment


def test_full_refund(sandbox, make_payment):
    gw, payment = paid_payment(sandbox, make_payment)

    result = gw.refund(payment, Money(1250, "USD"))

    call = received(sandbox)[-1]
    assert call["method"] == "PUT"
    assert call["path"] == (
        f"/api/rest/version/100/merchant/{MID}/order/{payment.ref}/transaction/"
        f"{result.refund_reference}"
    )
    assert call["body"] == {
        "apiOperation": "REFUND",
        "transaction": {"amount": "12.50", "currency": "USD", "reference": result.refund_reference},
    }
    assert result.status == "succeeded"
    assert result.amount == Money(1250, "USD")
    observation = gw.fetch_status(payment)
    assert observation.raw_status == "REFUNDED"
    assert "refunded 12.50 USD" in observation.review


def test_partial_refunds_use_a_new_transaction_id_each_and_stop_at_the_captured_total(
    sandbox, make_payment
):
    gw, payment = paid_payment(sandbox, make_payment)

    first = gw.refund(payment, Money(500, "USD"))
    assert gw.fetch_status(payment).raw_status == "PARTIALLY_REFUNDED"
    second = gw.refund(payment, Money(750, "USD"))

    assert first.refund_reference != second.refund_reference
    assert gw.fetch_status(payment).raw_status == "REFUNDED"
    with pytest.raises(GatewayRejected, match="exceeds"):
        gw.refund(payment, Money(1, "USD"))


def test_refund_in_another_currency_is_refused_before_calling(sandbox, make_payment):
    gw, payment = paid_payment(sandbox, make_payment)
    calls = len(received(sandbox))

    with pytest.raises(GatewayRejected):
        gw.refund(payment, Money(100, "EUR"))
    assert len(received(sandbox)) == calls


def test_refund_of_an_unpaid_order_is_rejected(sandbox, make_payment):
    payment = make_payment(gateway="mpgs")

    with pytest.raises(GatewayRejected, match="Unable to find order"):
        make_gateway(sandbox).refund(payment, Money(100, "USD"))


def test_amounts_are_read_as_exact_decimals(sandbox, make_payment):
    payment = make_payment(gateway="mpgs", amount=1, currency="KWD")
    force_order(
        sandbox,
        payment.ref,
        status="CAPTURED",
        amount="0.001",
        currency="KWD",
        totalCapturedAmount="0.001",
    )

    observation = make_gateway(sandbox).fetch_status(payment)

    assert observation.paid == Money(1, "KWD")
    assert Decimal(observation.raw["totalCapturedAmount"]) == Decimal("0.001")


@pytest.mark.parametrize(
    ("ours", "theirs", "flagged"),
    [(500, "5.00", False), (0, "5.00", True), (500, "7.50", True)],
    ids=["our-own-refund", "refunded-elsewhere", "more-than-we-know"],
)
def test_refunds_we_made_are_not_flagged_others_are(
    app, sandbox, make_payment, ours, theirs, flagged
):
    payment = make_payment(gateway="mpgs", status=S.COMPLETED, refunded_amount=ours)
    force_order(
        sandbox,
        payment.ref,
        status="PARTIALLY_REFUNDED",
        totalCapturedAmount="12.50",
        totalRefundedAmount=theirs,
    )

    refresh(payment, Source.STAFF)

    payment = reload(payment)
    assert payment.status == S.COMPLETED
    assert payment.needs_review is flagged
    assert [e.kind for e in events(payment)] == (["review"] if flagged else [])


# -- currencies: `order.amount` is a decimal string with the ISO exponent (docs/currencies.md) --


@pytest.mark.parametrize(
    ("money", "written"),
    [
        (Money(1250, "USD"), "12.50"),
        (Money(1500, "JPY"), "1500"),
        (Money(4255, "KWD"), "4.255"),
        (Money(10050, "SAR"), "100.50"),
        (Money(99_999_999_999_99, "USD"), "99999999999.99"),  # 14 characters, the most
    ],
)
def test_amounts_are_decimal_strings_with_the_iso_exponent(money: Money, written: str) -> None:
    rules = MpgsGateway.currency_rules({})
    assert rules.can_charge(money) is None
    assert rules.decimal_str(money) == written


def test_the_currencies_come_from_the_merchant_profile_setting(sandbox, make_payment) -> None:
    rules = MpgsGateway.currency_rules({"MPGS_CURRENCIES": "sar, usd"})
    assert rules.can_charge(Money(1250, "SAR")) is None
    assert rules.can_charge(Money(1250, "EUR")) == "MPGS does not take EUR"
    payment = make_payment(gateway="mpgs", amount=4255, currency="KWD")

    body = make_gateway(sandbox).session_request(payment, URLS)

    assert body["order"]["amount"] == "4.255"
