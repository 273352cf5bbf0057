"""The Stripe emulator on the wire: raw HTTP where the shape matters, the SDK where it parses.

These pin the emulator to Stripe's protocol (protocols.md §C) rather than to our client: auth
and error bodies, bracketed form bodies, idempotent replays, session and refund rules, the
hosted page, and signed webhook deliveries with retries.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import stripe
from flask import Flask, request

from checkout.sandbox import credentials
from checkout.sandbox.server import ThreadedServer
from checkout.sandbox.stripe.params import unflatten

KEY = credentials.STRIPE["secret_key"]
AUTH = {"Authorization": f"Bearer {KEY}"}


def sdk(sandbox) -> stripe.StripeClient:
    return stripe.StripeClient(KEY, base_addresses={"api": sandbox.url}, max_network_retries=0)


def session_params(**overrides: Any) -> dict[str, Any]:
    params: dict[str, Any] = {
        "mode": "payment",
        "line_items": [
            {
                "price_data": {
                    "currency": "usd",
                    "unit_amount": 1250,
                    "product_data": {"name": "Europe 5 GB"},
                },
                "quantity": 1,
            }
        ],
        "client_reference_id": "pay_test",
        "customer_email": "shopper@example.com",
        "success_url": "http://shop.test/return?session_id={CHECKOUT_SESSION_ID}",
        "cancel_url": "http://shop.test/cancel",
        "expires_at": int(time.time()) + 3600,
    }
    params.update(overrides)
    return params


FORM = (
    "mode=payment&line_items[0][price_data][currency]=usd"
    "&line_items[0][price_data][unit_amount]=1250"
    "&line_items[0][price_data][product_data][name]=Widget&line_items[0][quantity]=2"
    "&metadata[order_ref]=ord_1&success_url=http%3A%2F%2Fx%2Fok%3Fsession_id%3D%7BCHECKOUT_SESSION_ID%7D"
)


def post(sandbox, path: str, body: str, **headers: str) -> requests.Response:
    merged = {**AUTH, "Content-Type": "application/x-www-form-urlencoded", **headers}
    return requests.post(sandbox.url + path, data=body, headers=merged, timeout=5)


def pay(url: str, number: str = "4242424242424242", **extra: str) -> requests.Response:
    form = {"method": "card", "cardNumber": number, "cardExpiry": "12/34", "cardCvc": "123"}
    return requests.post(url, data={**form, **extra}, allow_redirects=False, timeout=5)


# -- receiving webhooks -------------------------------------------------------------------


class Receiver:
    """A webhook endpoint that records deliveries and answers from a script of statuses."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.statuses: list[int] = []
        app = Flask("receiver")

        @app.post("/hook")
        def hook():  # type: ignore[no-untyped-def]
            self.received.append((dict(request.headers), request.get_data()))
            return "", self.statuses.pop(0) if self.statuses else 200

        self.server = ThreadedServer(app).start()
        self.url = f"{self.server.url}/hook"

    def events(self) -> list[dict[str, Any]]:
        return [json.loads(body) for _, body in self.received]


@pytest.fixture
def receiver(sandbox) -> Iterator[Receiver]:
    hook = Receiver()
    previous = sandbox.env.options.notification_urls.get("stripe", "")
    sandbox.env.options.notification_urls["stripe"] = hook.url
    yield hook
    sandbox.wait_notifications()
    sandbox.env.options.notification_urls["stripe"] = previous
    hook.server.stop()


@pytest.fixture
def no_webhooks(sandbox) -> None:
    sandbox.knobs("stripe", notifications=False)


# -- form bodies --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pairs", "expected"),
    [
        ([("a", "1")], {"a": "1"}),
        ([("a[b]", "1"), ("a[c]", "2")], {"a": {"b": "1", "c": "2"}}),
        ([("l[0][x]", "1"), ("l[1][x]", "2")], {"l": [{"x": "1"}, {"x": "2"}]}),
        ([("l[1]", "b"), ("l[0]", "a")], {"l": ["a", "b"]}),
        ([("e[]", "a"), ("e[]", "b")], {"e": ["a", "b"]}),
        ([("m[k]", "")], {"m": {"k": ""}}),
    ],
)
def test_bracketed_keys_unflatten(pairs, expected) -> None:
    assert unflatten(pairs) == expected


def test_a_bracketed_form_body_creates_a_session(sandbox, no_webhooks) -> None:
    response = post(
        sandbox, "/v1/checkout/sessions", FORM, **{"Stripe-Version": "2026-10-28.endive"}
    )

    assert response.status_code == 200
    body = response.json()
    assert body["object"] == "checkout.session"
    assert body["id"].startswith("cs_test_")
    assert (body["status"], body["payment_status"]) == ("open", "unpaid")
    assert (body["amount_total"], body["currency"]) == (2500, "usd")
    assert body["metadata"] == {"order_ref": "ord_1"}
    assert body["success_url"] == "http://x/ok?session_id={CHECKOUT_SESSION_ID}"
    assert body["url"] == f"{sandbox.url}/c/pay/{body['id']}"
    assert body["payment_intent"] is None
    assert response.headers["Request-Id"].startswith("req_")


# -- auth and error shapes ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({}, "You did not provide an API key"),
        ({"Authorization": "Bearer sk_test_wrong"}, "Invalid API Key provided: sk_test_"),
        ({"Authorization": "Bearer pk_test_publishable"}, "Invalid API Key provided"),
        ({"Authorization": "Bearer"}, "You did not provide an API key"),
    ],
)
def test_requests_without_the_secret_key_get_401(sandbox, headers, message) -> None:
    response = requests.get(sandbox.url + "/v1/checkout/sessions/cs_x", headers=headers, timeout=5)

    assert response.status_code == 401
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["message"].startswith(message)
    assert KEY not in error["message"]


def test_basic_auth_with_the_key_as_user_is_accepted(sandbox) -> None:
    response = requests.get(sandbox.url + "/v1/checkout/sessions/cs_x", auth=(KEY, ""), timeout=5)

    assert response.status_code == 404  # authenticated, then not found


def test_a_missing_session_is_a_404_resource_missing(sandbox) -> None:
    response = requests.get(
        sandbox.url + "/v1/checkout/sessions/cs_missing", headers=AUTH, timeout=5
    )

    assert response.status_code == 404
    assert response.json() == {
        "error": {
            "code": "resource_missing",
            "doc_url": "https://stripe.com/docs/error-codes/resource-missing",
            "message": "No such checkout.session: 'cs_missing'",
            "param": "session",
            "type": "invalid_request_error",
        }
    }


@pytest.mark.parametrize(
    ("overrides", "param", "message"),
    [
        ({"mode": None}, "mode", "Missing required param: mode."),
        ({"line_items": None}, "line_items", "Missing required param: line_items."),
        ({"bogus": "1"}, "bogus", "Received unknown parameter: bogus"),
        ({"expires_in": 600}, "expires_at", "at least 30 minutes"),
        ({"expires_in": 86400 + 60}, "expires_at", "less than 24 hours"),
        ({"expires_at": "soon"}, "expires_at", "Invalid integer: soon"),
        ({"customer_email": "nope"}, "customer_email", "Invalid email address"),
        ({"success_url": "not a url"}, "success_url", "Not a valid URL"),
    ],
)
def test_create_validation_errors(sandbox, overrides, param, message) -> None:
    overrides = dict(overrides)
    if "expires_in" in overrides:  # relative to now, not to when the tests were collected
        overrides["expires_at"] = int(time.time()) + overrides.pop("expires_in")
    params = {k: v for k, v in session_params(**overrides).items() if v is not None}

    with pytest.raises(stripe.InvalidRequestError) as caught:
        sdk(sandbox).v1.checkout.sessions.create(params=params)

    assert caught.value.http_status == 400
    assert caught.value.param == param
    assert message in caught.value.user_message


def test_a_line_item_without_a_product_name(sandbox) -> None:
    item = {
        "price_data": {"currency": "usd", "unit_amount": 100, "product_data": {"description": "x"}}
    }
    with pytest.raises(stripe.InvalidRequestError) as caught:
        sdk(sandbox).v1.checkout.sessions.create(
            params=session_params(line_items=[{**item, "quantity": 1}])
        )

    assert caught.value.param == "line_items[0][price_data][product_data][name]"


@pytest.mark.parametrize(
    ("knob", "status"),
    [("error_rate", 500), ("malformed_rate", 200)],
)
def test_knobs_answer_like_a_struggling_stripe(sandbox, knob, status) -> None:
    sandbox.knobs("stripe", **{knob: 1.0})

    response = post(sandbox, "/v1/checkout/sessions", FORM)

    assert response.status_code == status
    if status == 500:
        assert response.json() == {
            "error": {"message": "An unknown error occurred", "type": "api_error"}
        }
    else:
        with pytest.raises(ValueError):
            response.json()
    with pytest.raises(stripe.APIError):
        sdk(sandbox).v1.checkout.sessions.create(params=session_params())


def test_an_invalid_api_version_is_refused(sandbox) -> None:
    response = post(sandbox, "/v1/checkout/sessions", FORM, **{"Stripe-Version": "latest!"})

    assert response.status_code == 400
    assert "Invalid Stripe API version" in response.json()["error"]["message"]


# -- idempotency --------------------------------------------------------------------------


def test_the_same_key_and_parameters_replay_the_first_answer(sandbox, no_webhooks) -> None:
    first = post(sandbox, "/v1/checkout/sessions", FORM, **{"Idempotency-Key": "k-1"})
    again = post(sandbox, "/v1/checkout/sessions", FORM, **{"Idempotency-Key": "k-1"})
    other = post(sandbox, "/v1/checkout/sessions", FORM, **{"Idempotency-Key": "k-2"})

    assert first.json() == again.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert other.json()["id"] != first.json()["id"]


def test_the_same_key_with_other_parameters_is_an_idempotency_error(sandbox) -> None:
    post(sandbox, "/v1/checkout/sessions", FORM, **{"Idempotency-Key": "k-1"})

    response = post(
        sandbox,
        "/v1/checkout/sessions",
        FORM + "&client_reference_id=x",
        **{"Idempotency-Key": "k-1"},
    )

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "idempotency_error"
    assert "same parameters" in error["message"]
    with pytest.raises(stripe.IdempotencyError):
        sdk(sandbox).v1.checkout.sessions.create(
            params=session_params(), options={"idempotency_key": "k-1"}
        )


def test_the_same_key_on_another_endpoint_is_an_idempotency_error(sandbox) -> None:
    post(sandbox, "/v1/checkout/sessions", FORM, **{"Idempotency-Key": "k-1"})

    response = post(sandbox, "/v1/refunds", "charge=ch_x", **{"Idempotency-Key": "k-1"})

    assert response.status_code == 400
    assert response.json()["error"]["type"] == "idempotency_error"


def test_a_rejected_request_is_not_stored_under_its_key(sandbox, no_webhooks) -> None:
    bad = post(sandbox, "/v1/checkout/sessions", "mode=payment", **{"Idempotency-Key": "k-1"})
    good = post(sandbox, "/v1/checkout/sessions", FORM, **{"Idempotency-Key": "k-1"})

    assert bad.status_code == 400
    assert good.status_code == 200


# -- sessions -----------------------------------------------------------------------------


def test_retrieve_expands_the_payment_intent_and_line_items(sandbox, no_webhooks) -> None:
    client = sdk(sandbox)
    session = client.v1.checkout.sessions.create(params=session_params())
    pay(session.url)

    found = client.v1.checkout.sessions.retrieve(
        session.id, params={"expand": ["payment_intent", "line_items"]}
    )

    assert (found.status, found.payment_status, found.url) == ("complete", "paid", None)
    assert found.payment_intent.object == "payment_intent"
    assert found.payment_intent.status == "succeeded"
    assert found.payment_intent.amount_received == 1250
    assert found.line_items.data[0].description == "Europe 5 GB"
    assert found.customer_details.email == "shopper@example.com"
    plain = client.v1.checkout.sessions.retrieve(session.id)
    assert plain.payment_intent == found.payment_intent.id


def test_expire_works_only_on_an_open_session(sandbox, no_webhooks) -> None:
    client = sdk(sandbox)
    session = client.v1.checkout.sessions.create(params=session_params())

    expired = client.v1.checkout.sessions.expire(session.id)
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.checkout.sessions.expire(session.id)

    assert (expired.status, expired.url) == ("expired", None)
    assert caught.value.http_status == 400
    assert caught.value.user_message == (
        'Only Checkout Sessions with a status in ["open"] can be expired. '
        "This Checkout Session has a status of `expired`."
    )
    assert pay(session.url).status_code == 410


def test_sessions_expire_by_the_clock(sandbox, no_webhooks) -> None:
    client = sdk(sandbox)
    session = client.v1.checkout.sessions.create(params=session_params())

    sandbox.advance(3600)

    assert client.v1.checkout.sessions.retrieve(session.id).status == "expired"


# -- refunds ------------------------------------------------------------------------------


def _paid_intent(sandbox) -> stripe.PaymentIntent:
    client = sdk(sandbox)
    session = client.v1.checkout.sessions.create(params=session_params())
    pay(session.url)
    return client.v1.checkout.sessions.retrieve(
        session.id, params={"expand": ["payment_intent"]}
    ).payment_intent


def test_refund_by_payment_intent_or_charge(sandbox, no_webhooks) -> None:
    intent = _paid_intent(sandbox)
    client = sdk(sandbox)

    partial = client.v1.refunds.create(params={"payment_intent": intent.id, "amount": 250})
    rest = client.v1.refunds.create(params={"charge": intent.latest_charge})

    assert (partial.object, partial.amount, partial.status) == ("refund", 250, "succeeded")
    assert (rest.amount, rest.payment_intent, rest.charge) == (
        1000,
        intent.id,
        intent.latest_charge,
    )
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.refunds.create(params={"payment_intent": intent.id})
    assert caught.value.code == "charge_already_refunded"


@pytest.mark.parametrize(
    ("params", "status", "code"),
    [
        ({"amount": 5000}, 400, "amount_too_large"),
        ({"amount": 0}, 400, "parameter_invalid_integer"),
        ({"reason": "because"}, 400, "parameter_invalid"),
        ({"payment_intent": "pi_missing"}, 404, "resource_missing"),
        ({"payment_intent": None}, 400, None),
    ],
)
def test_refund_errors(sandbox, no_webhooks, params, status, code) -> None:
    intent = _paid_intent(sandbox)
    merged = {k: v for k, v in {"payment_intent": intent.id, **params}.items() if v is not None}

    with pytest.raises(stripe.InvalidRequestError) as caught:
        sdk(sandbox).v1.refunds.create(params=merged)

    assert caught.value.http_status == status
    assert caught.value.code == code


def test_a_refused_refund_leaves_the_charge_refundable(sandbox, no_webhooks) -> None:
    intent = _paid_intent(sandbox)
    client = sdk(sandbox)

    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.refunds.create(
            params={"payment_intent": intent.id, "amount": 250, "metadata": {"k" * 41: "v"}}
        )
    full = client.v1.refunds.create(params={"payment_intent": intent.id})

    assert caught.value.param == f"metadata[{'k' * 41}]"
    assert full.amount == 1250


def test_an_unpaid_intent_cannot_be_refunded(sandbox, no_webhooks) -> None:
    client = sdk(sandbox)
    session = client.v1.checkout.sessions.create(params=session_params())
    pay(session.url, "4000000000000002")
    intent = client.v1.checkout.sessions.retrieve(session.id).payment_intent

    with pytest.raises(stripe.InvalidRequestError, match="does not have a successful charge"):
        client.v1.refunds.create(params={"payment_intent": intent})


# -- hosted page --------------------------------------------------------------------------


def test_the_hosted_page_shows_the_order_and_a_way_back(sandbox, no_webhooks) -> None:
    session = sdk(sandbox).v1.checkout.sessions.create(params=session_params())

    page = requests.get(session.url, timeout=5)

    assert page.status_code == 200
    assert "12.50 USD" in page.text
    assert "Europe 5 GB" in page.text
    assert 'href="http://shop.test/cancel"' in page.text


def test_a_good_card_redirects_to_the_success_url_with_the_id(sandbox, no_webhooks) -> None:
    session = sdk(sandbox).v1.checkout.sessions.create(params=session_params())

    response = pay(session.url)

    assert response.status_code == 303
    assert response.headers["Location"] == f"http://shop.test/return?session_id={session.id}"


@pytest.mark.parametrize(
    ("number", "message"),
    [
        ("4000000000000002", "Your card was declined."),
        ("4000000000009995", "Your card has insufficient funds."),
        ("4242424242424241", "Your card number is invalid."),
        ("5555555555554444", "non test card"),
    ],
)
def test_a_refused_card_keeps_the_page_payable(sandbox, no_webhooks, number, message) -> None:
    client = sdk(sandbox)
    session = client.v1.checkout.sessions.create(params=session_params())

    refused = pay(session.url, number)

    assert refused.status_code == 402
    assert message in refused.text
    assert client.v1.checkout.sessions.retrieve(session.id).status == "open"
    assert pay(session.url).status_code == 303


def test_a_past_expiry_date_is_refused(sandbox, no_webhooks) -> None:
    session = sdk(sandbox).v1.checkout.sessions.create(params=session_params())

    response = pay(session.url, cardExpiry="01/20")

    assert response.status_code == 402
    assert "expiration year is in the past" in response.text


def test_an_unknown_session_page_is_not_found(sandbox) -> None:
    assert requests.get(sandbox.url + "/c/pay/cs_test_nope", timeout=5).status_code == 404


# -- webhooks -----------------------------------------------------------------------------


def test_a_card_payment_sends_one_signed_completed_event(sandbox, receiver) -> None:
    session = sdk(sandbox).v1.checkout.sessions.create(params=session_params())

    pay(session.url)
    sandbox.wait_notifications()

    [(headers, body)] = receiver.received
    secret = credentials.STRIPE["webhook_secret"]
    assert stripe.WebhookSignature.verify_header(body, headers["Stripe-Signature"], secret, 300)
    event = stripe.Webhook.construct_event(body, headers["Stripe-Signature"], secret)
    assert event.object == "event"
    assert event.id.startswith("evt_")
    assert event.type == "checkout.session.completed"
    assert event.api_version == "2026-10-28.endive"
    assert event.data.object.id == session.id
    assert event.data.object.payment_status == "paid"
    assert event.data.object.client_reference_id == "pay_test"
    assert headers["Content-Type"].startswith("application/json")


def test_a_bank_debit_sends_completed_then_the_async_outcome(sandbox, receiver) -> None:
    client = sdk(sandbox)
    paid = client.v1.checkout.sessions.create(params=session_params())
    failed = client.v1.checkout.sessions.create(params=session_params())
    for session, account in ((paid, "000123456789"), (failed, "000111111116")):
        response = requests.post(
            session.url,
            data={"method": "us_bank_account", "routing": "110000000", "account": account},
            allow_redirects=False,
            timeout=5,
        )
        assert response.status_code == 303

    sandbox.advance(25)
    assert client.v1.checkout.sessions.retrieve(paid.id).payment_status == "paid"
    sandbox.wait_notifications()

    seen = [(e["data"]["object"]["id"], e["type"]) for e in receiver.events()]
    assert seen == [
        (paid.id, "checkout.session.completed"),
        (failed.id, "checkout.session.completed"),
        (paid.id, "checkout.session.async_payment_succeeded"),
        (failed.id, "checkout.session.async_payment_failed"),
    ]
    intent = client.v1.checkout.sessions.retrieve(
        failed.id, params={"expand": ["payment_intent"]}
    ).payment_intent
    assert intent.status == "requires_payment_method"


def test_expiry_sends_checkout_session_expired(sandbox, receiver) -> None:
    session = sdk(sandbox).v1.checkout.sessions.create(params=session_params())

    sandbox.advance(3601)
    requests.get(session.url, timeout=5)  # touching the emulator expires what is due
    sandbox.wait_notifications()

    [event] = receiver.events()
    assert event["type"] == "checkout.session.expired"
    assert event["data"]["object"]["status"] == "expired"


def test_a_failed_delivery_is_retried_and_re_signed(sandbox, receiver) -> None:
    receiver.statuses = [500, 503]
    session = sdk(sandbox).v1.checkout.sessions.create(params=session_params())

    pay(session.url)
    sandbox.wait_notifications()

    assert len(receiver.received) == 3
    bodies = {body for _, body in receiver.received}
    assert len(bodies) == 1  # the same event each time
    secret = credentials.STRIPE["webhook_secret"]
    for headers, body in receiver.received:
        assert stripe.WebhookSignature.verify_header(body, headers["Stripe-Signature"], secret, 300)


def test_the_notifications_knob_silences_webhooks(sandbox, receiver) -> None:
    sandbox.knobs("stripe", notifications=False)
    session = sdk(sandbox).v1.checkout.sessions.create(params=session_params())

    pay(session.url)
    sandbox.wait_notifications()

    assert receiver.received == []


# -- currencies (docs.stripe.com/currencies) ----------------------------------------------


def _priced(currency: str, unit_amount: int) -> dict[str, Any]:
    item = {
        "price_data": {
            "currency": currency,
            "unit_amount": unit_amount,
            "product_data": {"name": "Europe 5 GB"},
        },
        "quantity": 1,
    }
    return session_params(line_items=[item])


@pytest.mark.parametrize(
    ("currency", "unit_amount", "shown"),
    [
        ("usd", 50, "0.50 USD"),  # the documented minimum itself
        ("jpy", 1500, "1500 JPY"),  # zero-decimal: whole yen
        ("mga", 5000, "5000 MGA"),  # zero-decimal at Stripe, two-decimal in ISO 4217
        ("isk", 50000, "500.00 ISK"),  # two-decimal in the API, whole krónur only
        ("kwd", 4250, "4.250 KWD"),  # three-decimal, last digit 0
        ("huf", 17550, "175.50 HUF"),  # two-decimal for charges (payouts are whole forints)
    ],
)
def test_amounts_stripe_takes(sandbox, no_webhooks, currency, unit_amount, shown) -> None:
    session = sdk(sandbox).v1.checkout.sessions.create(params=_priced(currency, unit_amount))

    assert (session.amount_total, session.currency) == (unit_amount, currency)
    assert shown in requests.get(session.url, timeout=5).text


@pytest.mark.parametrize(
    ("currency", "unit_amount", "code", "message"),
    [
        ("kwd", 4255, "invalid_amount", "last digit of the amount must be 0"),
        ("isk", 50050, "invalid_charge_amount_no_decimal_compatible", "divisible by 100"),
        ("usd", 49, "amount_too_small", "at least 0.50 USD"),
        ("jpy", 49, "amount_too_small", "at least 50 JPY"),
        ("usd", 100_000_000, "amount_too_large", "no more than 999999.99 USD"),
        ("xyz", 1250, None, "Invalid currency: xyz"),
    ],
)
def test_amounts_stripe_refuses(sandbox, currency, unit_amount, code, message) -> None:
    response = post(
        sandbox,
        "/v1/checkout/sessions",
        f"mode=payment&line_items[0][price_data][currency]={currency}"
        f"&line_items[0][price_data][unit_amount]={unit_amount}"
        "&line_items[0][price_data][product_data][name]=Widget&line_items[0][quantity]=1",
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error.get("code") == code
    assert message in error["message"]

    with pytest.raises(stripe.InvalidRequestError) as caught:  # and the SDK reads it so
        sdk(sandbox).v1.checkout.sessions.create(params=_priced(currency, unit_amount))
    assert caught.value.code == code and message in caught.value.user_message


def test_a_three_decimal_refund_must_end_in_zero(sandbox, no_webhooks) -> None:
    client = sdk(sandbox)
    session = client.v1.checkout.sessions.create(params=_priced("kwd", 4250))
    pay(session.url)
    intent = client.v1.checkout.sessions.retrieve(session.id).payment_intent

    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.refunds.create(params={"payment_intent": intent, "amount": 1005})
    assert caught.value.code == "invalid_amount" and caught.value.param == "amount"
    refund = client.v1.refunds.create(params={"payment_intent": intent, "amount": 1010})
    assert (refund.amount, refund.currency) == (1010, "kwd")
