"""`POST /ipn/stripe`, the Stripe return and cancel URLs, and the checkout hand-off to Stripe.

Webhook bodies are real session snapshots from the sandbox (retrieved with the SDK) wrapped in
Stripe's event envelope and signed with the SDK's own signer, then posted to our endpoint.
Each test asserts what is left behind: status, timeline, stored notifications, fulfilments.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
import requests
import stripe

from checkout.blueprints.urls import return_urls
from checkout.extensions import db
from checkout.models import Notification, Order, Payment, PaymentEvent
from checkout.payments.service import open_checkout
from checkout.payments.states import PaymentStatus
from checkout.sandbox import credentials
from tests.blueprints.html_helpers import Form, parse, read_form

S = PaymentStatus
SECRET = credentials.STRIPE["webhook_secret"]


@pytest.fixture
def no_webhooks(sandbox) -> None:
    """The sandbox keeps its own webhooks to itself; these tests post their own."""
    sandbox.knobs("stripe", notifications=False)


def sdk(sandbox) -> stripe.StripeClient:
    return stripe.StripeClient(
        credentials.STRIPE["secret_key"], base_addresses={"api": sandbox.url}, max_network_retries=0
    )


def reload(payment: Payment) -> Payment:
    db.session.expire_all()
    return db.session.get(Payment, payment.id)


def events(payment: Payment, kind: str | None = None) -> list[PaymentEvent]:
    query = db.select(PaymentEvent).filter_by(payment_id=payment.id).order_by(PaymentEvent.id)
    return [e for e in db.session.scalars(query) if kind is None or e.kind == kind]


def notifications() -> list[Notification]:
    return db.session.scalars(db.select(Notification).order_by(Notification.id)).all()


def open_stripe(make_payment, **values: Any) -> Payment:
    payment = make_payment(gateway="stripe", status=S.CREATED, **values)
    open_checkout(payment, return_urls("stripe", payment.ref))
    return reload(payment)


def pay(payment: Payment, number: str = "4242424242424242") -> requests.Response:
    form = {"method": "card", "cardNumber": number, "cardExpiry": "12/34", "cardCvc": "123"}
    return requests.post(payment.checkout_url, data=form, allow_redirects=False, timeout=5)


def snapshot(sandbox, payment: Payment, **changes: Any) -> dict[str, Any]:
    session = sdk(sandbox).v1.checkout.sessions.retrieve(payment.gateway_reference).to_dict()
    session.update(changes)
    return session


def event(session: dict[str, Any], type_: str, event_id: str | None = None) -> str:
    return json.dumps(
        {
            "id": event_id or f"evt_test_{time.monotonic_ns()}",
            "object": "event",
            "api_version": "2026-10-28.endive",
            "created": int(time.time()),
            "data": {"object": session},
            "livemode": False,
            "pending_webhooks": 1,
            "request": {"id": None, "idempotency_key": None},
            "type": type_,
        }
    )


def deliver(client, body: str, *, timestamp: int | None = None, secret: str = SECRET):
    header = stripe.WebhookSignature.generate_signature_header(body, secret, timestamp)
    return client.post(
        "/ipn/stripe",
        data=body,
        headers={"Stripe-Signature": header, "Content-Type": "application/json"},
    )


# -- webhooks -----------------------------------------------------------------------------


def test_a_signed_completed_event_completes_and_fulfils(
    client, sandbox, no_webhooks, make_payment, fulfilments
) -> None:
    payment = open_stripe(make_payment)
    pay(payment)

    response = deliver(client, event(snapshot(sandbox, payment), "checkout.session.completed"))

    assert response.status_code == 200
    payment = reload(payment)
    assert payment.status == S.COMPLETED
    assert payment.gateway_data["payment_intent"].startswith("pi_")
    transition = events(payment, "transition")[-1]
    assert (transition.source, transition.new_status) == ("ipn", "COMPLETED")
    assert transition.raw_status == "checkout.session.completed (complete/paid)"
    [stored] = notifications()
    assert (stored.gateway, stored.event_type, stored.outcome) == (
        "stripe",
        "checkout.session.completed",
        "processed",
    )
    assert stored.payment_id == payment.id
    assert "customer_email" not in json.dumps(stored.payload)
    assert fulfilments == [(payment.ref, payment.order.ref)]


def _signed(body: str, at: int, secret: str = SECRET) -> str:
    return stripe.WebhookSignature.generate_signature_header(body, secret, at)


BAD_DELIVERIES = {
    "wrong secret": lambda body, now: (body, _signed(body, now, "whsec_other")),
    "body changed after signing": lambda body, now: (
        body.replace('"amount_total": 1250', '"amount_total": 1'),
        _signed(body, now),
    ),
    "stale timestamp": lambda body, now: (body, _signed(body, now - 301)),
    "no v1 signature": lambda body, now: (body, f"t={now},v0=abc"),
    "no header": lambda body, now: (body, ""),
}


@pytest.mark.parametrize("case", BAD_DELIVERIES)
def test_an_event_that_does_not_verify_changes_nothing(
    client, sandbox, no_webhooks, make_payment, fulfilments, case
) -> None:
    payment = open_stripe(make_payment)
    pay(payment)
    body = event(snapshot(sandbox, payment), "checkout.session.completed")
    sent_body, signature = BAD_DELIVERIES[case](body, int(time.time()))

    response = client.post("/ipn/stripe", data=sent_body, headers={"Stripe-Signature": signature})

    assert response.status_code == 400
    payment = reload(payment)
    assert payment.status == S.PENDING
    assert events(payment, "transition")[-1].new_status == "PENDING"
    assert notifications() == []
    assert fulfilments == []


def test_a_signed_body_that_is_not_an_event_is_refused(client, sandbox, make_payment) -> None:
    response = deliver(client, json.dumps({"hello": "world"}))

    assert response.status_code == 400
    assert notifications() == []


def _reshaped(envelope: dict[str, Any], path: tuple[str, ...], value: Any) -> str:
    target = envelope
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return json.dumps(envelope)


# Signed correctly, shaped wrongly: each is (how to build the body from a real completed event).
MALFORMED_SIGNED = {
    "a list": lambda envelope: json.dumps([envelope]),
    "a string": lambda envelope: json.dumps("checkout.session.completed"),
    "null": lambda envelope: "null",
    "data a list": lambda envelope: _reshaped(envelope, ("data",), [envelope["data"]]),
    "data null": lambda envelope: _reshaped(envelope, ("data",), None),
    "data.object a list": lambda envelope: _reshaped(envelope, ("data", "object"), []),
    "data.object a string": lambda envelope: _reshaped(envelope, ("data", "object"), "cs_1"),
    "event id a number": lambda envelope: _reshaped(envelope, ("id",), 12345),
    "event type a list": lambda envelope: _reshaped(envelope, ("type",), ["x"]),
    "session id an object": lambda envelope: _reshaped(envelope, ("data", "object", "id"), {}),
    "our ref a list": lambda envelope: _reshaped(
        envelope, ("data", "object", "client_reference_id"), ["pay_x"]
    ),
    "status an object": lambda envelope: _reshaped(envelope, ("data", "object", "status"), {}),
    "nested beyond the stack": lambda envelope: _reshaped(
        envelope, ("data", "object", "metadata"), "@"
    ).replace('"@"', "[" * 5000 + "]" * 5000),
}


@pytest.mark.parametrize("case", MALFORMED_SIGNED)
def test_a_signed_body_of_the_wrong_shape_is_refused_and_changes_nothing(
    client, sandbox, no_webhooks, make_payment, fulfilments, caplog, case
) -> None:
    payment = open_stripe(make_payment)
    pay(payment)
    envelope = json.loads(event(snapshot(sandbox, payment), "checkout.session.completed"))

    response = deliver(client, MALFORMED_SIGNED[case](envelope))

    assert response.status_code == 400
    assert reload(payment).status == S.PENDING
    assert notifications() == []
    assert fulfilments == []
    assert any("stripe notification rejected" in r.getMessage() for r in caplog.records)


def test_a_body_that_is_not_utf8_is_refused(client, sandbox, make_payment) -> None:
    body = '{"id": "evt_1", "type": "checkout.session.completed", "x": "\xff"}'
    signature = _signed(body, int(time.time()))

    response = client.post(
        "/ipn/stripe", data=body.encode("latin-1"), headers={"Stripe-Signature": signature}
    )

    assert response.status_code == 400
    assert notifications() == []


def test_a_decimal_amount_in_a_signed_event_is_stored_but_never_paid(
    client, sandbox, no_webhooks, make_payment, fulfilments
) -> None:
    payment = open_stripe(make_payment)
    pay(payment)
    body = event(snapshot(sandbox, payment, amount_total=12.5), "checkout.session.completed")

    response = deliver(client, body)

    assert response.status_code == 200
    [stored] = notifications()
    assert stored.payload["object"]["amount_total"] == "12.5"
    assert reload(payment).status != S.COMPLETED
    assert fulfilments == []


def test_a_duplicate_event_is_acknowledged_and_changes_nothing(
    client, sandbox, no_webhooks, make_payment, fulfilments
) -> None:
    payment = open_stripe(make_payment)
    pay(payment)
    body = event(snapshot(sandbox, payment), "checkout.session.completed", "evt_dup")

    first, second = deliver(client, body), deliver(client, body)

    assert (first.status_code, second.status_code) == (200, 200)
    payment = reload(payment)
    assert payment.status == S.COMPLETED
    assert [e.new_status for e in events(payment, "transition")] == ["PENDING", "COMPLETED"]
    assert len(notifications()) == 1
    assert fulfilments == [(payment.ref, payment.order.ref)]


def test_an_unknown_event_type_is_stored_and_ignored(
    client, sandbox, no_webhooks, make_payment, fulfilments
) -> None:
    payment = open_stripe(make_payment)
    pay(payment)
    intent = {"id": "pi_x", "object": "payment_intent", "status": "succeeded", "amount": 1250}

    response = deliver(client, event(intent, "payment_intent.succeeded"))

    assert response.status_code == 200
    [stored] = notifications()
    assert (stored.event_type, stored.outcome, stored.payment_id) == (
        "payment_intent.succeeded",
        "ignored",
        None,
    )
    assert reload(payment).status == S.PENDING
    assert fulfilments == []


def test_expired_after_completed_does_not_regress(
    client, sandbox, no_webhooks, make_payment, fulfilments
) -> None:
    payment = open_stripe(make_payment)
    pay(payment)
    paid = snapshot(sandbox, payment)
    stale = {**paid, "status": "expired", "payment_status": "unpaid"}

    deliver(client, event(paid, "checkout.session.completed"))
    response = deliver(client, event(stale, "checkout.session.expired"))

    assert response.status_code == 200
    payment = reload(payment)
    assert payment.status == S.COMPLETED
    [refused] = events(payment, "refused")
    assert (refused.source, refused.old_status, refused.new_status) == (
        "ipn",
        "COMPLETED",
        "COMPLETED",
    )
    assert "EXPIRED" in refused.message
    assert fulfilments == [(payment.ref, payment.order.ref)]


def test_expired_then_a_late_completed_is_completed_and_flagged(
    client, sandbox, no_webhooks, make_payment, fulfilments
) -> None:
    payment = open_stripe(make_payment)
    pay(payment)
    paid = snapshot(sandbox, payment)

    deliver(
        client,
        event(
            {**paid, "status": "expired", "payment_status": "unpaid"}, "checkout.session.expired"
        ),
    )
    deliver(client, event(paid, "checkout.session.completed"))

    payment = reload(payment)
    assert payment.status == S.COMPLETED
    assert payment.late and payment.needs_review
    assert fulfilments == [(payment.ref, payment.order.ref)]


def test_an_amount_mismatch_is_flagged_not_completed(
    client, sandbox, no_webhooks, make_payment, fulfilments
) -> None:
    payment = open_stripe(make_payment, amount=1250)
    pay(payment)

    response = deliver(
        client, event(snapshot(sandbox, payment, amount_total=125), "checkout.session.completed")
    )

    assert response.status_code == 200
    payment = reload(payment)
    assert payment.status == S.PENDING
    assert payment.needs_review
    assert "amount mismatch" in payment.review_reason
    assert db.session.get(Order, payment.order_id).status == "OPEN"
    assert fulfilments == []


def test_a_currency_mismatch_is_flagged_not_completed(
    client, sandbox, no_webhooks, make_payment, fulfilments
) -> None:
    payment = open_stripe(make_payment)
    pay(payment)

    deliver(client, event(snapshot(sandbox, payment, currency="eur"), "checkout.session.completed"))

    payment = reload(payment)
    assert payment.status == S.PENDING
    assert "currency mismatch" in payment.review_reason
    assert fulfilments == []


def test_a_bank_debit_waits_then_fails_by_webhook(
    client, sandbox, no_webhooks, make_payment, fulfilments
) -> None:
    payment = open_stripe(make_payment)
    requests.post(
        payment.checkout_url,
        data={"method": "us_bank_account", "routing": "110000000", "account": "000111111116"},
        timeout=5,
        allow_redirects=False,
    )
    pending = snapshot(sandbox, payment)

    deliver(client, event(pending, "checkout.session.completed"))
    assert reload(payment).status == S.PENDING
    deliver(client, event(pending, "checkout.session.async_payment_failed"))

    payment = reload(payment)
    assert payment.status == S.FAILED
    assert payment.status_message
    assert fulfilments == []


def test_a_bank_debit_waits_then_succeeds_by_webhook(
    client, sandbox, no_webhooks, make_payment, fulfilments
) -> None:
    payment = open_stripe(make_payment)
    requests.post(
        payment.checkout_url,
        data={"method": "us_bank_account", "routing": "110000000", "account": "000123456789"},
        timeout=5,
        allow_redirects=False,
    )
    deliver(client, event(snapshot(sandbox, payment), "checkout.session.completed"))
    sandbox.advance(21)

    deliver(client, event(snapshot(sandbox, payment), "checkout.session.async_payment_succeeded"))

    payment = reload(payment)
    assert payment.status == S.COMPLETED
    assert fulfilments == [(payment.ref, payment.order.ref)]


def test_an_expired_event_expires_an_open_payment(
    client, sandbox, no_webhooks, make_payment, fulfilments
) -> None:
    payment = open_stripe(make_payment)
    sdk(sandbox).v1.checkout.sessions.expire(payment.gateway_reference)

    deliver(client, event(snapshot(sandbox, payment), "checkout.session.expired"))

    assert reload(payment).status == S.EXPIRED
    assert fulfilments == []


def test_an_event_for_a_session_we_do_not_know_is_acknowledged(
    client, sandbox, no_webhooks, make_payment
) -> None:
    payment = open_stripe(make_payment)
    stranger = snapshot(sandbox, payment, id="cs_test_other", client_reference_id="pay_unknown")

    response = deliver(client, event(stranger, "checkout.session.completed"))

    assert response.status_code == 200
    assert notifications()[0].outcome == "unknown_payment"
    assert reload(payment).status == S.PENDING


def test_the_sandbox_webhook_completes_the_payment_without_the_return(
    live_site, sandbox, make_payment, fulfilments
) -> None:
    payment = open_stripe(make_payment)

    assert pay(payment).status_code == 303  # the shopper never comes back
    sandbox.wait_notifications()

    payment = reload(payment)
    assert payment.status == S.COMPLETED
    transition = events(payment, "transition")[-1]
    assert transition.source == "ipn"
    assert fulfilments == [(payment.ref, payment.order.ref)]


# -- return and cancel --------------------------------------------------------------------


def _return_path(response: requests.Response, base_url: str) -> str:
    location = response.headers["Location"]
    assert location.startswith(base_url)
    return location[len(base_url) :]


def test_the_return_alone_completes_a_paid_session(
    app, client, sandbox, no_webhooks, make_payment, fulfilments
) -> None:
    payment = open_stripe(make_payment)
    redirected = pay(payment)

    response = client.get(_return_path(redirected, app.config["PUBLIC_BASE_URL"]))

    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"/status/{payment.ref}")
    payment = reload(payment)
    assert payment.status == S.COMPLETED
    note = events(payment, "note")[-1]
    assert note.message == "shopper returned from Stripe with this payment's session id"
    assert events(payment, "transition")[-1].source == "return"
    assert fulfilments == [(payment.ref, payment.order.ref)]
    page = client.get(f"/status/{payment.ref}")
    assert "Paid" in page.get_data(as_text=True)


def test_a_forged_session_id_on_the_return_is_only_a_note(
    client, sandbox, no_webhooks, make_payment, fulfilments
) -> None:
    victim = open_stripe(make_payment)
    other = open_stripe(make_payment)
    pay(other)

    client.get(f"/status/{victim.ref}/return?session_id={other.gateway_reference}")

    victim = reload(victim)
    assert victim.status == S.PENDING
    assert "another session id" in events(victim, "note")[-1].message
    assert fulfilments == []


def test_a_return_while_stripe_is_down_keeps_pending_with_an_error(
    client, sandbox, no_webhooks, make_payment, fulfilments
) -> None:
    payment = open_stripe(make_payment)
    pay(payment)
    sandbox.knobs("stripe", error_rate=1.0)

    response = client.get(f"/status/{payment.ref}/return?session_id={payment.gateway_reference}")

    assert response.status_code == 303
    payment = reload(payment)
    assert payment.status == S.PENDING
    assert events(payment, "error")[-1].source == "return"
    assert fulfilments == []


def test_cancel_lands_on_the_status_page_with_another_way_to_pay(
    client, sandbox, no_webhooks, make_payment
) -> None:
    payment = open_stripe(make_payment)
    hosted_page = requests.get(payment.checkout_url, timeout=5).text
    assert f"/status/{payment.ref}/cancel" in hosted_page  # Stripe's back link

    response = client.get(f"/status/{payment.ref}/cancel", follow_redirects=True)

    text = response.get_data(as_text=True)
    assert "You left the payment page without paying" in text
    assert "Pay another way" in text
    assert reload(payment).status == S.PENDING


# -- the checkout hand-off ----------------------------------------------------------------


def _stripe_checkout_form(client, slug: str) -> Form:
    """The checkout page's form as a shopper sends it: the e-mail typed, Stripe chosen."""
    form = read_form(parse(client.get(f"/checkout/{slug}").data).by_id("paymentForm"))
    return form.fill("email", "a@example.com").choose("gateway", "stripe")


def test_paying_with_stripe_redirects_to_the_hosted_page(
    client, sandbox, no_webhooks, make_product
) -> None:
    product = make_product(price=1250, currency="USD")

    form = _stripe_checkout_form(client, product.slug)
    response = form.submit(client)

    assert response.status_code == 303
    payment = db.session.scalar(
        db.select(Payment).filter_by(attempt_token=form.hidden()["attempt"])
    )
    assert payment.status == S.PENDING
    assert response.headers["Location"] == payment.checkout_url
    assert payment.checkout_url.startswith(f"{sandbox.url}/c/pay/cs_test_")


def test_stripe_down_at_checkout_leaves_the_payment_created_with_an_error(
    client, sandbox, no_webhooks, make_product
) -> None:
    product = make_product(price=1250, currency="USD")
    sandbox.knobs("stripe", error_rate=1.0)

    form = _stripe_checkout_form(client, product.slug)
    response = form.submit(client)

    assert response.status_code == 503
    assert "not answering" in response.get_data(as_text=True)
    payment = db.session.scalar(
        db.select(Payment).filter_by(attempt_token=form.hidden()["attempt"])
    )
    assert payment.status == S.CREATED
    [error] = events(payment)
    assert (error.kind, error.source) == ("error", "create")
