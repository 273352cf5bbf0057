"""The time budget: one setting, GATEWAY_TOTAL_SECONDS, bounds every gateway call and request.

No threshold here is the machine's speed: a checkout against a gateway that hangs for
HANG_SECONDS must answer before the gateway would have, whatever the gateway, because its budget
(GATEWAY_TOTAL_SECONDS, a fraction of that) ends the call first.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
import stripe
from flask import Flask, g

from checkout.config import TestingConfig
from checkout.extensions import db
from checkout.gateways import registry
from checkout.gateways.base import GatewayUnavailable
from checkout.gateways.stripe.client import StripeGateway, sdk_backoff
from checkout.gateways.transport import HttpTransport, call_budget, request_time_left
from checkout.models import Payment
from tests.blueprints.html_helpers import parse, read_form
from tests.conftest import Sandbox

TOTAL = 1.5  # GATEWAY_TOTAL_SECONDS in the hanging-gateway tests
HANG_SECONDS = 4 * TOTAL  # how long the hanging gateway keeps the call before it answers

SETTINGS = [
    {"GATEWAY_TOTAL_SECONDS": total, "GATEWAY_CONNECT_TIMEOUT": c, "GATEWAY_READ_TIMEOUT": r}
    for total in (0.5, 1.5, 6.5, 20.0, 46.0, 120.0)
    for c, r in ((3.05, 15.0), (1.0, 2.0), (10.0, 60.0))
]


@pytest.mark.parametrize("config", SETTINGS)
@pytest.mark.parametrize("wanted", [1, 2, 3, 6])
def test_no_call_can_outlast_the_total(config: dict[str, float], wanted: int) -> None:
    budget = call_budget(config, attempts=wanted, backoff=sdk_backoff)
    assert budget.worst_case <= config["GATEWAY_TOTAL_SECONDS"] + 1e-9
    assert 1 <= budget.attempts <= wanted
    assert budget.connect <= config["GATEWAY_CONNECT_TIMEOUT"]
    assert budget.read <= config["GATEWAY_READ_TIMEOUT"]
    assert budget.connect > 0 and budget.read > 0


def test_retries_are_kept_while_each_attempt_gets_its_read_time() -> None:
    generous = {
        "GATEWAY_TOTAL_SECONDS": 60,
        "GATEWAY_CONNECT_TIMEOUT": 3,
        "GATEWAY_READ_TIMEOUT": 15,
    }
    assert call_budget(generous, attempts=3, backoff=sdk_backoff).attempts == 3
    # the old defaults: 3 Stripe attempts of 3.05 + 15 s and their back-off took about 56 s
    tight = {**generous, "GATEWAY_TOTAL_SECONDS": 20}
    budget = call_budget(tight, attempts=3, backoff=sdk_backoff)
    assert budget.attempts == 2 and budget.worst_case <= 20


def test_the_stripe_backoff_bound_is_the_sdks_longest_sleep(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("random.uniform", lambda low, high: high)  # the longest jitter
    client = stripe.RequestsClient()
    for retries in range(1, 8):
        slept = sum(client._sleep_time_seconds(n) for n in range(1, retries + 1))
        assert sdk_backoff(retries) == pytest.approx(slept)


def test_stripe_gets_its_retries_and_timeouts_from_the_budget(app: Flask) -> None:
    config = {**app.config, "GATEWAY_TOTAL_SECONDS": 2.0, "GATEWAY_READ_TIMEOUT": 15.0}
    gateway = StripeGateway.from_config({**config, "STRIPE_MAX_NETWORK_RETRIES": 2})
    assert gateway.budget.retries == 0 and gateway.budget.worst_case <= 2.0
    roomy = StripeGateway.from_config({**config, "GATEWAY_TOTAL_SECONDS": 60.0})
    assert roomy.budget.retries == 2 and roomy.budget.worst_case <= 60.0


def test_http_gateways_make_one_attempt_within_the_total(app: Flask) -> None:
    config = {**app.config, "GATEWAY_TOTAL_SECONDS": 2.0, "GATEWAY_READ_TIMEOUT": 15.0}
    for plugin in registry.plugins(config):
        transport = getattr(plugin.gateway.from_config(config), "transport", None)
        if isinstance(transport, HttpTransport):
            assert sum(transport.timeout) <= 2.0, plugin.name


def test_a_request_shares_one_budget_between_its_calls(app: Flask) -> None:
    app.config["GATEWAY_TOTAL_SECONDS"] = 30.0
    budget = call_budget(app.config)
    seen: list[Any] = []

    def sweep_thread() -> None:  # as the sweep's workers run: an app context, no request
        with app.app_context():
            seen.extend([request_time_left(), budget.timeouts()])

    worker = threading.Thread(target=sweep_thread)
    worker.start()
    worker.join()
    assert seen == [None, (budget.connect, budget.read)]  # each call has its own budget
    with app.test_request_context("/"):
        first = request_time_left()
        assert first is not None and first <= 30.0
        g.gateway_deadline = time.monotonic() + 2.0  # what a first slow call left
        connect, read = budget.timeouts()
        assert connect + read <= 2.0
        assert not budget.room_for_retry(5.0)
        g.gateway_deadline = time.monotonic() - 0.1
        with pytest.raises(GatewayUnavailable):
            budget.timeouts()


@pytest.fixture
def app_overrides() -> dict[str, Any]:
    # production-like timeouts and retries that alone would wait for the hanging gateway
    return {
        "GATEWAY_TOTAL_SECONDS": TOTAL,
        "GATEWAY_CONNECT_TIMEOUT": 3.05,
        "GATEWAY_READ_TIMEOUT": 15.0,
        "STRIPE_MAX_NETWORK_RETRIES": 2,
    }


def _configured() -> list[str]:
    """Every gateway the app is configured with, as the registry reads the setting."""
    return registry.names({"GATEWAYS": TestingConfig.GATEWAYS})


@pytest.mark.parametrize("gateway", _configured())
def test_a_hanging_gateway_gets_the_friendly_page_within_the_budget(
    app: Flask, sandbox: Sandbox, make_product, gateway: str
) -> None:
    sandbox.knobs(gateway, timeout_rate=1.0, hang_seconds=HANG_SECONDS)
    product = make_product(price=1250)
    client = app.test_client()
    page = client.get(f"/checkout/{product.slug}")
    form = read_form(parse(page.data).by_id("paymentForm"))
    if "email" in form.names():
        form.fill("email", "shopper@example.com")
    form.choose("gateway", gateway)

    started = time.monotonic()
    response = form.submit(client)
    took = time.monotonic() - started

    assert took < HANG_SECONDS, f"{gateway} answered after {took:.1f}s: it waited for the gateway"
    assert response.status_code == 503
    message = parse(response.data).find(data_testid="checkout-error").text
    assert "is not answering right now" in message and "Your order is saved" in message
    with app.app_context():
        [payment] = db.session.scalars(db.select(Payment)).all()
        assert payment.gateway == gateway and payment.status == "CREATED"
