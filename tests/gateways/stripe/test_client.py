"""The Stripe gateway module through the real `stripe` SDK, over HTTP, against the sandbox.

The status tables are tested without HTTP in test_statuses.py and the currency rules in
test_currencies.py; here the client drives the SDK against the emulator and the tests assert
what the gateway reports and what the payment row holds afterwards.
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import pytest
import requests
import stripe

from checkout.blueprints.urls import return_urls
from checkout.extensions import db
from checkout.gateways.base import (
    GatewayConfigError,
    GatewayRejected,
    GatewayUnavailable,
)
from checkout.gateways.registry import get_gateway
from checkout.gateways.stripe.client import StripeGateway
from checkout.models import Payment, PaymentEvent, utcnow
from checkout.money import Money
from checkout.payments.service import Source, open_checkout, refresh
from checkout.sandbox import credentials
from checkout.sandbox.stripe.store import StripeSandbox
from checkout.states import PaymentStatus

S = PaymentStatus
CARD_OK = "4242 4242 4242 4242"
CARD_DECLINED = "4000 0000 0000 0002"


@pytest.fixture(autouse=True)
def _webhooks_off(sandbox):
    """These tests look sessions up; the webhook path is tested in tests/blueprints."""
    sandbox.knobs("stripe", notifications=False)


@pytest.fixture
def stripe_state(_sandbox_server) -> StripeSandbox:
    """The emulator's own records, to check what reached the gateway."""
    return _sandbox_server.server.app.extensions["sandbox_stripe"]


def gateway() -> StripeGateway:
    return get_gateway("stripe")  # type: ignore[return-value]


def sdk(sandbox, key: str = credentials.STRIPE["secret_key"]) -> stripe.StripeClient:
    return stripe.StripeClient(key, base_addresses={"api": sandbox.url}, max_network_retries=0)


def reload(payment: Payment) -> Payment:
    db.session.expire_all()
    return db.session.get(Payment, payment.id)


def events(payment: Payment, kind: str | None = None) -> list[PaymentEvent]:
    query = db.select(PaymentEvent).filter_by(payment_id=payment.id).order_by(PaymentEvent.id)
    return [e for e in db.session.scalars(query) if kind is None or e.kind == kind]


def open_stripe(make_payment, **values: Any) -> Payment:
    payment = make_payment(gateway="stripe", status=S.CREATED, **values)
    open_checkout(payment, return_urls("stripe", payment.ref))
    return reload(payment)


def pay_card(payment: Payment, number: str = CARD_OK) -> requests.Response:
    form = {"method": "card", "cardNumber": number, "cardExpiry": "12 / 34", "cardCvc": "123"}
    return requests.post(payment.checkout_url, data=form, allow_redirects=False, timeout=5)


def pay_bank(payment: Payment, account: str) -> requests.Response:
    form = {"method": "us_bank_account", "routing": "110000000", "account": account}
    return requests.post(payment.checkout_url, data=form, allow_redirects=False, timeout=5)


# -- lifetime ---------------------------------------------------------------------------


def test_the_deadline_is_clamped_inside_stripes_window() -> None:
    now = utcnow()

    def lifetime(seconds: int) -> timedelta:
        client = StripeGateway(secret_key="sk_x", webhook_secret="w", session_lifetime=seconds)
        return client.deadline_from(now) - now

    assert lifetime(60) == timedelta(minutes=31)
    assert lifetime(7200) == timedelta(hours=2)
    assert lifetime(10 * 86400) == timedelta(hours=24) - timedelta(minutes=1)


# -- create -------------------------------------------------------------------------------


def test_create_opens_a_session_with_our_facts(sandbox, make_payment) -> None:
    payment = open_stripe(make_payment, amount=1250, currency="USD")

    assert payment.status == S.PENDING
    assert payment.gateway_reference.startswith("cs_test_")
    assert payment.checkout_url == f"{sandbox.url}/c/pay/{payment.gateway_reference}"
    lifetime = payment.expires_at - payment.created_at
    assert timedelta(minutes=30) < lifetime <= timedelta(minutes=31, seconds=1)

    session = sdk(sandbox).v1.checkout.sessions.retrieve(
        payment.gateway_reference, params={"expand": ["line_items"]}
    )
    assert session.mode == "payment"
    assert session.status == "open"
    assert session.client_reference_id == payment.ref
    assert session.metadata.to_dict() == {
        "order_ref": payment.order.ref,
        "payment_ref": payment.ref,
    }
    assert session.customer_email == "shopper@example.com"
    assert session.amount_total == 1250
    assert session.currency == "usd"
    [item] = session.line_items.data
    assert (item.description, item.quantity) == (payment.order.product.name, 1)
    assert session.success_url.endswith(
        f"/status/{payment.ref}/return?session_id={{CHECKOUT_SESSION_ID}}"
    )
    assert session.cancel_url.endswith(f"/status/{payment.ref}/cancel")
    assert session.expires_at == int(payment.expires_at.timestamp())


def test_zero_decimal_currencies_go_in_minor_units(sandbox, make_payment) -> None:
    payment = open_stripe(make_payment, amount=1500, currency="JPY")

    session = sdk(sandbox).v1.checkout.sessions.retrieve(payment.gateway_reference)
    assert (session.amount_total, session.currency) == (1500, "jpy")


def test_a_create_retried_seconds_later_gets_the_same_session(
    sandbox, stripe_state, make_payment, monkeypatch
) -> None:
    """Stripe opens the session but its answer is lost; our retry comes seconds later.

    The deadline was decided and stored before the first create, so the retry sends the very
    same parameters under the same Idempotency-Key and Stripe replays the first answer. (It
    used to recompute expires_at from "now", and Stripe answered idempotency_error.)
    """
    payment = make_payment(gateway="stripe", status=S.CREATED)
    sessions = gateway()._client.v1.checkout.sessions
    real_create = sessions.create

    def create_then_lose_the_answer(*args: Any, **kwargs: Any) -> Any:
        real_create(*args, **kwargs)
        monkeypatch.setattr(sessions, "create", real_create)
        raise stripe.APIConnectionError("read timed out")

    monkeypatch.setattr(sessions, "create", create_then_lose_the_answer)
    with pytest.raises(GatewayUnavailable):
        open_checkout(payment, return_urls("stripe", payment.ref))
    payment = reload(payment)
    assert payment.status == S.CREATED
    decided = payment.checkout_deadline
    assert decided is not None
    [first] = stripe_state.sessions.values()

    time.sleep(3)  # a real delay: "now" has moved on by whole seconds
    open_checkout(payment, return_urls("stripe", payment.ref))

    payment = reload(payment)
    assert payment.status == S.PENDING
    assert payment.gateway_reference == first["id"]
    assert payment.checkout_deadline == decided
    assert first["expires_at"] == int(decided.timestamp())
    assert len(stripe_state.sessions) == 1
    assert not events(payment, "error")[1:]  # only the lost answer, no idempotency_error


def test_a_retried_create_returns_the_same_session(sandbox, stripe_state, make_payment) -> None:
    payment = open_stripe(make_payment)

    again = gateway().create_checkout(payment, return_urls("stripe", payment.ref))

    assert again.gateway_reference == payment.gateway_reference
    assert again.redirect_url == payment.checkout_url
    assert len(stripe_state.sessions) == 1  # one session at the gateway, not two


def test_the_same_key_with_other_parameters_is_refused(sandbox, stripe_state, make_payment) -> None:
    payment = open_stripe(make_payment)
    payment.order.email = "someone.else@example.com"
    db.session.commit()

    with pytest.raises(GatewayRejected, match="idempotent"):
        gateway().create_checkout(payment, return_urls("stripe", payment.ref))
    assert len(stripe_state.sessions) == 1


def test_a_validation_error_on_create_is_a_rejection(sandbox, make_payment) -> None:
    payment = make_payment(gateway="stripe", status=S.CREATED, currency="USD")
    payment.order.email = "not an address"
    db.session.commit()

    with pytest.raises(GatewayRejected, match="Invalid email"):
        open_checkout(payment, return_urls("stripe", payment.ref))


def test_a_currency_stripe_does_not_take_is_refused_before_calling(
    sandbox, stripe_state, make_payment
) -> None:
    payment = make_payment(gateway="stripe", status=S.CREATED, amount=4255, currency="KWD")

    with pytest.raises(GatewayRejected, match=r"Stripe cannot charge 4\.255 KWD"):
        open_checkout(payment, return_urls("stripe", payment.ref))
    assert stripe_state.sessions == {}


@pytest.mark.parametrize(
    ("knobs", "error"),
    [
        ({"error_rate": 1.0}, GatewayUnavailable),
        ({"malformed_rate": 1.0}, GatewayUnavailable),
        ({"timeout_rate": 1.0, "hang_seconds": 2.5}, GatewayUnavailable),
    ],
)
def test_transport_trouble_on_create_leaves_the_payment_created(
    sandbox, make_payment, knobs, error
) -> None:
    sandbox.knobs("stripe", **knobs)
    payment = make_payment(gateway="stripe", status=S.CREATED)

    with pytest.raises(error):
        open_checkout(payment, return_urls("stripe", payment.ref))

    payment = reload(payment)
    assert payment.status == S.CREATED
    assert payment.gateway_reference is None
    [event] = events(payment)
    assert (event.kind, event.source, event.new_status) == ("error", "create", "CREATED")


def test_a_wrong_key_is_a_config_error(app, sandbox, make_payment) -> None:
    app.config["STRIPE_SECRET_KEY"] = "sk_test_not_the_sandbox_key"
    payment = make_payment(gateway="stripe", status=S.CREATED)

    with pytest.raises(GatewayConfigError, match="Invalid API Key"):
        open_checkout(payment, return_urls("stripe", payment.ref))
    assert reload(payment).status == S.CREATED


def test_an_unreachable_api_is_unavailable(app, make_payment) -> None:
    app.config["STRIPE_API_BASE"] = "http://127.0.0.1:9"  # discard port: nothing listens
    payment = make_payment(gateway="stripe", status=S.CREATED)

    with pytest.raises(GatewayUnavailable, match="create"):
        open_checkout(payment, return_urls("stripe", payment.ref))


# -- retrieve -----------------------------------------------------------------------------


def test_an_open_session_is_pending(sandbox, make_payment) -> None:
    payment = open_stripe(make_payment)

    observation = gateway().fetch_status(payment)

    assert observation.status == S.PENDING
    assert observation.raw_status == "open/unpaid"


def test_a_card_payment_is_completed_with_the_paid_amount(sandbox, make_payment) -> None:
    payment = open_stripe(make_payment, amount=990, currency="EUR")
    assert pay_card(payment).status_code == 303

    observation = gateway().fetch_status(payment)

    assert observation.status == S.COMPLETED
    assert observation.paid == Money(990, "EUR")
    assert observation.data["payment_intent"].startswith("pi_")


def test_a_declined_card_leaves_the_session_payable(sandbox, make_payment) -> None:
    payment = open_stripe(make_payment)
    assert pay_card(payment, CARD_DECLINED).status_code == 402

    observation = gateway().fetch_status(payment)

    assert observation.status == S.PENDING
    assert observation.raw_status == "open/unpaid"
    assert pay_card(payment).status_code == 303
    assert gateway().fetch_status(payment).status == S.COMPLETED


@pytest.mark.parametrize(
    ("account", "settled"),
    [("000123456789", S.COMPLETED), ("000111111116", S.FAILED)],
)
def test_a_bank_debit_is_pending_then_settles(sandbox, make_payment, account, settled) -> None:
    payment = open_stripe(make_payment)
    assert pay_bank(payment, account).status_code == 303

    assert gateway().fetch_status(payment).status == S.PENDING
    sandbox.advance(21)
    observation = gateway().fetch_status(payment)

    assert observation.status == settled


def test_refresh_feeds_the_funnel_and_fulfils_once(sandbox, make_payment, fulfilments) -> None:
    payment = open_stripe(make_payment)
    pay_card(payment)

    refresh(payment, Source.POLL)
    refresh(payment, Source.POLL)

    payment = reload(payment)
    assert payment.status == S.COMPLETED
    assert payment.gateway_data["payment_intent"].startswith("pi_")
    assert [e.new_status for e in events(payment, "transition")] == ["PENDING", "COMPLETED"]
    assert fulfilments == [(payment.ref, payment.order.ref)]


def test_a_gateway_error_on_refresh_keeps_pending_with_an_error_event(
    sandbox, make_payment, fulfilments
) -> None:
    payment = open_stripe(make_payment)
    pay_card(payment)
    sandbox.knobs("stripe", error_rate=1.0)

    refresh(payment, Source.POLL)

    payment = reload(payment)
    assert payment.status == S.PENDING
    assert payment.failure_count == 1
    [error] = events(payment, "error")
    assert "api_error" in error.message or "unknown error" in error.message
    assert fulfilments == []


def test_a_session_stripe_does_not_know_is_a_config_error(sandbox, make_payment) -> None:
    payment = make_payment(gateway="stripe", gateway_reference="cs_test_unknown")

    with pytest.raises(GatewayConfigError, match=r"No such checkout\.session"):
        gateway().fetch_status(payment)


# -- expire -------------------------------------------------------------------------------


def _past_deadline(payment: Payment) -> Payment:
    payment.expires_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    return reload(payment)


def test_expire_before_the_deadline_only_looks(sandbox, stripe_state, make_payment) -> None:
    payment = open_stripe(make_payment)

    assert gateway().expire(payment).status == S.PENDING
    assert stripe_state.sessions[payment.gateway_reference]["status"] == "open"


def test_expire_closes_an_open_session_past_our_deadline(
    sandbox, stripe_state, make_payment
) -> None:
    payment = _past_deadline(open_stripe(make_payment))

    observation = gateway().expire(payment)

    assert observation.status == S.EXPIRED
    assert stripe_state.sessions[payment.gateway_reference]["status"] == "expired"
    assert requests.get(payment.checkout_url, timeout=5).status_code == 410


def test_expire_of_a_session_stripe_already_expired(sandbox, make_payment) -> None:
    payment = _past_deadline(open_stripe(make_payment))
    sandbox.advance(31 * 60 + 5)  # Stripe's own expires_at passed too

    observation = gateway().expire(payment)

    assert observation.status == S.EXPIRED
    assert observation.raw_status == "expired/unpaid"


def test_expire_losing_the_race_to_the_shopper_reports_the_payment(
    sandbox, make_payment, monkeypatch
) -> None:
    payment = _past_deadline(open_stripe(make_payment))
    sessions = gateway()._client.v1.checkout.sessions
    real_retrieve = sessions.retrieve

    def retrieve_then_shopper_pays(*args: Any, **kwargs: Any) -> Any:
        session = real_retrieve(*args, **kwargs)
        if session.status == "open":
            pay_card(payment)  # between our look and our expire call
        return session

    monkeypatch.setattr(sessions, "retrieve", retrieve_then_shopper_pays)

    observation = gateway().expire(payment)

    assert observation.status == S.COMPLETED
    assert observation.paid == Money(1250, "USD")


def test_expire_losing_the_race_to_stripe_reports_expired(
    sandbox, make_payment, monkeypatch
) -> None:
    payment = _past_deadline(open_stripe(make_payment))
    sessions = gateway()._client.v1.checkout.sessions
    real_retrieve = sessions.retrieve

    def retrieve_then_stripe_expires(*args: Any, **kwargs: Any) -> Any:
        session = real_retrieve(*args, **kwargs)
        if session.status == "open":
            sdk(sandbox).v1.checkout.sessions.expire(session.id)
        return session

    monkeypatch.setattr(sessions, "retrieve", retrieve_then_stripe_expires)

    assert gateway().expire(payment).status == S.EXPIRED


# -- refunds ------------------------------------------------------------------------------


def _paid_payment(sandbox, make_payment) -> Payment:
    payment = open_stripe(make_payment, amount=1250, currency="USD")
    pay_card(payment)
    refresh(payment, Source.POLL)
    return reload(payment)


def test_a_full_refund(sandbox, stripe_state, make_payment) -> None:
    payment = _paid_payment(sandbox, make_payment)

    result = gateway().refund(payment, Money(1250, "USD"))

    assert result.refund_reference.startswith("re_")
    assert result.amount == Money(1250, "USD")
    assert result.status == "succeeded"
    charge = next(iter(stripe_state.charges.values()))
    assert charge["refunded"] is True
    with pytest.raises(GatewayRejected, match="already been refunded"):
        gateway().refund(payment, Money(1, "USD"))


def test_partial_refunds_up_to_the_amount_paid(sandbox, stripe_state, make_payment) -> None:
    payment = _paid_payment(sandbox, make_payment)

    first = gateway().refund(payment, Money(500, "USD"))
    payment.refunded_amount = 500
    db.session.commit()
    second = gateway().refund(payment, Money(500, "USD"))
    payment.refunded_amount = 1000
    db.session.commit()

    assert first.refund_reference != second.refund_reference
    with pytest.raises(GatewayRejected, match="greater than unrefunded"):
        gateway().refund(payment, Money(300, "USD"))
    charge = next(iter(stripe_state.charges.values()))
    assert charge["amount_refunded"] == 1000


def test_a_retried_refund_refunds_once(sandbox, stripe_state, make_payment) -> None:
    payment = _paid_payment(sandbox, make_payment)

    first = gateway().refund(payment, Money(400, "USD"))
    again = gateway().refund(payment, Money(400, "USD"))  # refunded_amount not yet recorded

    assert first.refund_reference == again.refund_reference
    charge = next(iter(stripe_state.charges.values()))
    assert charge["amount_refunded"] == 400


def test_a_refund_finds_the_payment_intent_when_we_never_stored_it(sandbox, make_payment) -> None:
    payment = open_stripe(make_payment)
    pay_card(payment)  # paid, but we have not looked yet

    result = gateway().refund(payment, Money(1250, "USD"))

    assert result.amount == Money(1250, "USD")


def test_an_unpaid_session_has_nothing_to_refund(sandbox, make_payment) -> None:
    payment = open_stripe(make_payment)

    with pytest.raises(GatewayRejected, match="no payment"):
        gateway().refund(payment, Money(1250, "USD"))


def test_a_refund_in_another_currency_is_refused_before_calling(sandbox, make_payment) -> None:
    payment = _paid_payment(sandbox, make_payment)

    with pytest.raises(GatewayRejected):
        gateway().refund(payment, Money(1250, "EUR"))


# -- currencies: an ISK round trip through the sandbox (docs/currencies.md) ----------------


def test_an_isk_payment_goes_in_hundredths_and_comes_back_in_kronur(sandbox, make_payment) -> None:
    payment = open_stripe(make_payment, amount=500, currency="ISK")
    session = sdk(sandbox).v1.checkout.sessions.retrieve(payment.gateway_reference)
    assert (session.amount_total, session.currency) == (50000, "isk")

    pay_card(payment)

    assert gateway().fetch_status(payment).paid == Money(500, "ISK")
