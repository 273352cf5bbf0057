"""The contract every gateway keeps, checked the same way against each configured one.

Parametrized over the registry's plugins, so a gateway is covered by being configured (and
fails here until kit.py has its adapter). Each test drives the gateway as the app does, through
`get_gateway(name)` over real HTTP against its sandbox, and the funnel where a status could
change. What each contract means is in docs/adding-a-gateway.md.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from flask import Flask

from checkout.blueprints.urls import return_urls
from checkout.config import Config
from checkout.extensions import db
from checkout.gateways import registry
from checkout.gateways.base import Gateway, GatewayUnavailable, InvalidNotification
from checkout.models import Notification, Order, OrderStatus, Payment
from checkout.payments.service import Source, open_checkout, record_observation
from checkout.states import PaymentStatus

from .kit import ADAPTERS, SECRET_KEYS, Adapter, SandboxHandle

S = PaymentStatus
#: the gateways of the default configuration, known at collection time
GATEWAYS = [p.name for p in registry.plugins({"GATEWAYS": Config.GATEWAYS})]
#: short enough that a hanging sandbox costs a second, long enough for a loaded machine
READ_TIMEOUT = 0.5
HANG_SECONDS = 1.0


@pytest.fixture
def app_overrides() -> dict[str, Any]:
    return {"GATEWAY_READ_TIMEOUT": READ_TIMEOUT, "GATEWAY_CONNECT_TIMEOUT": READ_TIMEOUT}


@pytest.fixture(params=GATEWAYS)
def name(request: pytest.FixtureRequest, sandbox) -> str:
    """One configured gateway, its sandbox sending no notifications (nobody listens here)."""
    sandbox.knobs(request.param, notifications=False)
    return request.param


@pytest.fixture
def adapter(name: str) -> Adapter:
    assert name in ADAPTERS, (
        f"{name} is configured but tests/gateways/contract/kit.py has no adapter"
    )
    return ADAPTERS[name]


@pytest.fixture
def gateway(app: Flask, name: str) -> Gateway:
    return registry.get_gateway(name)


@pytest.fixture
def handle(sandbox, _sandbox_server) -> SandboxHandle:
    return SandboxHandle(sandbox.url, _sandbox_server.server.app)


def reload(payment: Payment) -> Payment:
    db.session.expire_all()
    return db.session.get(Payment, payment.id)


def opened(name: str, make_payment) -> Payment:
    """A payment whose checkout the app opened at the gateway, as the Pay button does."""
    payment = make_payment(gateway=name, status=S.CREATED)
    open_checkout(payment, return_urls(name, payment.ref))
    payment = reload(payment)
    assert payment.status == S.PENDING and payment.gateway_reference
    return payment


def test_every_configured_gateway_has_an_adapter(app: Flask) -> None:
    configured = [p.name for p in registry.plugins(app.config)]
    assert configured == GATEWAYS
    assert not set(configured) - set(ADAPTERS), "write the missing adapters in kit.py"
    for name in configured:
        adapter = ADAPTERS[name]
        assert adapter.retry_note
        assert adapter.tamperings, f"{name}: the kit cannot check amounts without a tampering"
        assert len(adapter.tamperings) == 2 or adapter.tampering_note


# -- create is retry-safe ---------------------------------------------------------------------


def test_a_retried_create_opens_no_second_payable_checkout(
    name: str, adapter: Adapter, gateway: Gateway, handle: SandboxHandle, make_payment
) -> None:
    payment = opened(name, make_payment)
    first = payment.gateway_reference

    again = gateway.create_checkout(payment, return_urls(name, payment.ref))

    at_gateway = adapter.checkouts_for(handle, payment)
    if adapter.idempotent_create:
        assert again.gateway_reference == first
        assert at_gateway == [first]
    else:
        # harmless instead (adapter.retry_note): both carry our ref, the payment keeps the first
        assert again.gateway_reference != first
        assert sorted(at_gateway) == sorted([first, again.gateway_reference])
    assert gateway.fetch_status(payment).status == S.PENDING
    payment = reload(payment)
    assert (payment.status, payment.gateway_reference) == (S.PENDING, first)


# -- an unknown status is PENDING -------------------------------------------------------------


def test_an_unknown_gateway_status_is_pending(
    name: str, adapter: Adapter, gateway: Gateway, handle: SandboxHandle, make_payment
) -> None:
    payment = opened(name, make_payment)
    adapter.answer_unknown_status(handle, payment)

    observation = gateway.fetch_status(payment)
    record_observation(payment, observation, Source.POLL)

    assert observation.status == S.PENDING
    assert reload(payment).status == S.PENDING


# -- transport errors are transient -----------------------------------------------------------

TROUBLE = {
    "timeout": {"timeout_rate": 1.0, "hang_seconds": HANG_SECONDS},
    "error answer": {"error_rate": 1.0},
    "malformed JSON": {"malformed_rate": 1.0},
}


@pytest.mark.parametrize("trouble", list(TROUBLE))
def test_transport_trouble_is_unavailable_never_a_status(
    trouble: str, name: str, gateway: Gateway, sandbox, make_payment
) -> None:
    payment = opened(name, make_payment)
    fresh = make_payment(gateway=name, status=S.CREATED)
    sandbox.knobs(name, **TROUBLE[trouble])

    with pytest.raises(GatewayUnavailable):
        open_checkout(fresh, return_urls(name, fresh.ref))
    with pytest.raises(GatewayUnavailable):
        gateway.fetch_status(payment)

    assert reload(fresh).status == S.CREATED
    assert reload(payment).status == S.PENDING


# -- forged notifications change nothing ------------------------------------------------------


def test_a_forged_notification_does_not_verify(
    name: str, adapter: Adapter, gateway: Gateway, app: Flask, make_payment
) -> None:
    payment = opened(name, make_payment)
    forgeries = adapter.forgeries(payment, app.config)
    assert forgeries

    for forgery in forgeries:
        with pytest.raises(InvalidNotification):
            gateway.parse_notification(forgery.headers, forgery.body)
            pytest.fail(f"{name}: a notification with {forgery.label} verified")


def test_a_forged_notification_to_the_site_changes_nothing(
    name: str, adapter: Adapter, app: Flask, client, make_payment
) -> None:
    payment = opened(name, make_payment)
    before = (payment.status, payment.version, payment.needs_review, payment.last_raw)

    for forgery in adapter.forgeries(payment, app.config):
        response = client.post(f"/ipn/{name}", data=forgery.body, headers=forgery.headers)
        assert 400 <= response.status_code < 500, (forgery.label, response.status_code)

    assert db.session.scalar(db.select(db.func.count(Notification.id))) == 0
    payment = reload(payment)
    assert (payment.status, payment.version, payment.needs_review, payment.last_raw) == before
    assert payment.order.status == OrderStatus.OPEN


# -- amounts are checked ----------------------------------------------------------------------


def test_money_of_another_amount_or_currency_never_completes(
    name: str, adapter: Adapter, gateway: Gateway, handle: SandboxHandle, make_payment
) -> None:
    honest = opened(name, make_payment)
    adapter.pay(handle, honest, None)
    record_observation(honest, gateway.fetch_status(honest), Source.POLL)
    # the adapter's way of paying does complete a payment when the money is right
    assert reload(honest).status == S.COMPLETED

    for tamper in adapter.tamperings:
        payment = opened(name, make_payment)
        adapter.pay(handle, payment, tamper)

        record_observation(payment, gateway.fetch_status(payment), Source.POLL)

        payment = reload(payment)
        assert payment.status != S.COMPLETED, tamper
        assert payment.needs_review, tamper
        assert db.session.get(Order, payment.order_id).status == OrderStatus.OPEN


# -- redaction removes secrets ----------------------------------------------------------------


def test_nothing_kept_holds_a_secret(
    name: str,
    adapter: Adapter,
    gateway: Gateway,
    handle: SandboxHandle,
    app: Flask,
    make_payment,
) -> None:
    plugin = registry.plugin_for(name, app.config)
    secrets = [str(app.config[s.key]) for s in plugin.settings if s.secret and app.config[s.key]]
    assert secrets, f"{name} declares no secret setting, or the sandbox plan sets none"
    payment = opened(name, make_payment)

    session = gateway.create_checkout(payment, return_urls(name, payment.ref))
    adapter.pay(handle, payment, None)
    observation = gateway.fetch_status(payment)
    record_observation(payment, observation, Source.POLL)
    payload = {"id": "evt_1", "successIndicator": secrets[0], "client_secret": secrets[-1]}
    payload |= {key: secrets[i % len(secrets)] for i, key in enumerate(_GENERIC_SECRET_KEYS)}

    forbidden = secrets + ([session.secret] if session.secret else [])
    kept = {
        "CheckoutSession.raw": session.raw,
        "Observation.raw": observation.raw,
        "Payment.last_raw": reload(payment).last_raw,
        "redact()": gateway.redact(payload),
    }
    for where, value in kept.items():
        text = json.dumps(value)
        assert not [s for s in forbidden if s in text], f"{name}: a secret in {where}"
        assert not [k for k in SECRET_KEYS if f'"{k.lower()}"' in text.lower()], where


_GENERIC_SECRET_KEYS = ("key", "private_key", "password", "secret", "hmac")
