"""The circuit breaker on the checkout selector, through the pages: a gateway whose creates keep
failing is shown disabled with the words, a POST forged for it is refused with nothing created,
after the cool-down one shopper's checkout probes it and its success offers it again.

Forms are posted as rendered (read_form); the one tampered field is forged on purpose. Time is
the breaker's clock (tests/payments/test_breaker.py's), moved instead of slept.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event

from checkout.extensions import db
from checkout.gateways.registry import gateway_options
from checkout.models import Order, Payment
from checkout.payments import breaker
from checkout.payments.breaker import TEMPORARILY_UNAVAILABLE, Shown
from tests.blueprints.html_helpers import Element, Form, parse, read_form
from tests.conftest import Sandbox
from tests.payments.test_breaker import COOLDOWN, Clock, breaker_clock
from tests.reconciliation import quiet

GATEWAY = "stripe"
EMAIL = "shopper@example.com"


@pytest.fixture
def app_overrides() -> dict[str, Any]:
    return {"BREAKER_FAILURES": 2, "BREAKER_COOLDOWN_SECONDS": COOLDOWN}


@pytest.fixture(autouse=True)
def _quiet(sandbox: Sandbox) -> None:
    quiet(sandbox)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch, app: Flask) -> Clock:
    return breaker_clock(monkeypatch)


@pytest.fixture
def plan(make_product) -> str:
    return f"/checkout/{make_product().slug}"


def page(client: FlaskClient, url: str) -> Element:
    response = client.get(url)
    assert response.status_code == 200
    return parse(response.data)


def form_of(html: Element) -> Form:
    return read_form(html.by_id("paymentForm"))


def radio(html: Element, name: str = GATEWAY) -> Element:
    return html.by_id(f"gateway-{name}")


def rows() -> tuple[int, int]:
    return db.session.query(Order).count(), db.session.query(Payment).count()


def take_down(sandbox: Sandbox, client: FlaskClient, url: str) -> None:
    """Two shoppers' checkouts fail in transit: the breaker opens."""
    sandbox.knobs(GATEWAY, error_rate=1.0)
    for _ in range(2):
        answer = form_of(page(client, url)).fill("email", EMAIL).choose("gateway", GATEWAY)
        assert answer.submit(client).status_code == 503
    assert breaker.snapshot()[GATEWAY] == Shown.OPEN


def test_failing_creates_take_the_gateway_off_the_selector_with_the_words(
    client: FlaskClient, sandbox: Sandbox, plan: str, clock: Clock
) -> None:
    take_down(sandbox, client, plan)
    html = page(client, plan)
    assert radio(html).has("disabled")
    assert TEMPORARILY_UNAVAILABLE in html.by_id(f"gateway-{GATEWAY}-reason").text
    assert not radio(html, "mpgs").has("disabled")
    assert form_of(html).checked("gateway") != GATEWAY


def test_the_page_reads_its_plan_and_every_breaker_in_one_statement(
    app: Flask, client: FlaskClient, plan: str, clock: Clock
) -> None:
    breaker.force(GATEWAY, "off", "Paused for maintenance", "a@tollgate.test")
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(args[2])

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        html = page(client, plan)
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    assert len(statements) == 1
    assert "products" in statements[0] and "gateway_breakers" in statements[0]
    assert radio(html).has("disabled")
    assert "Paused for maintenance" in html.by_id(f"gateway-{GATEWAY}-reason").text


def test_a_post_forged_for_it_is_refused_and_creates_nothing(
    client: FlaskClient, sandbox: Sandbox, plan: str, clock: Clock, caplog
) -> None:
    take_down(sandbox, client, plan)
    before = rows()
    forged = form_of(page(client, plan)).fill("email", EMAIL).forge("gateway", GATEWAY)
    with caplog.at_level(logging.WARNING, logger="checkout.blueprints.checkout"):
        answer = forged.submit(client)
    assert answer.status_code == 400
    assert TEMPORARILY_UNAVAILABLE in parse(answer.data).by_id("gateway-error").text
    assert rows() == before
    assert any("refused gateway 'stripe'" in r.getMessage() for r in caplog.records)


def test_after_the_cooldown_a_shoppers_checkout_probes_and_success_offers_it_again(
    client: FlaskClient, sandbox: Sandbox, plan: str, clock: Clock
) -> None:
    take_down(sandbox, client, plan)
    sandbox.knobs(GATEWAY, error_rate=0.0)
    clock.advance(COOLDOWN - 1)
    assert radio(page(client, plan)).has("disabled")
    clock.advance(1)
    html = page(client, plan)
    assert not radio(html).has("disabled")

    probe = form_of(html).fill("email", EMAIL).choose("gateway", GATEWAY).submit(client)
    assert probe.status_code == 303 and probe.location.startswith(sandbox.url)
    assert breaker.snapshot()[GATEWAY] == Shown.CLOSED
    assert not radio(page(client, plan)).has("disabled")


def test_while_the_probe_runs_a_second_shopper_is_refused(
    app: Flask, client: FlaskClient, sandbox: Sandbox, plan: str, clock: Clock
) -> None:
    take_down(sandbox, client, plan)
    clock.advance(COOLDOWN)
    second = form_of(page(client, plan)).fill("email", EMAIL)  # read while the probe was free
    assert breaker.offer(gateway_options(app.config)).claim(GATEWAY, "first shopper").enabled
    before = rows()
    answer = second.choose("gateway", GATEWAY).submit(client)
    assert answer.status_code == 400
    html = parse(answer.data)
    assert TEMPORARILY_UNAVAILABLE in html.by_id("gateway-error").text
    assert radio(html).has("disabled")  # the page now shows it taken
    assert rows() == before


@pytest.mark.parametrize("back_to", ["a fresh page", "the cached page"])
def test_back_to_an_open_hosted_page_while_half_open_leaves_the_probe_to_a_new_checkout(
    app: Flask, client: FlaskClient, sandbox: Sandbox, plan: str, clock: Clock, back_to: str
) -> None:
    """Continuing a payment already started creates nothing at the gateway, so it learns nothing
    of its health: it must not hold the one probe (for its 60 s lease) while other shoppers see
    the gateway taken. Back either reloads the page (a new attempt token; the pending attempt's
    hosted page is resumed) or shows the cached one (the same form, posted again)."""
    shopper = app.test_client()
    first = form_of(page(shopper, plan)).fill("email", EMAIL).choose("gateway", GATEWAY)
    hosted = first.submit(shopper)
    assert hosted.status_code == 303
    take_down(sandbox, client, plan)
    clock.advance(COOLDOWN)
    before = rows()

    if back_to == "a fresh page":
        again = form_of(page(shopper, plan)).fill("email", EMAIL).choose("gateway", GATEWAY)
    else:
        again = first
    resumed = again.submit(shopper)
    assert resumed.status_code == 303 and resumed.location == hosted.location
    assert rows() == before
    assert not radio(page(client, plan)).has("disabled")
    assert breaker.offer(gateway_options(app.config)).claim(GATEWAY, "a new checkout").enabled


def test_forced_off_shows_staffs_reason_and_forced_on_offers_an_open_gateway(
    client: FlaskClient, sandbox: Sandbox, plan: str, clock: Clock
) -> None:
    breaker.force(GATEWAY, "off", "Card payments are paused until 14:00 UTC", "a@tollgate.test")
    html = page(client, plan)
    assert radio(html).has("disabled")
    reason = html.by_id(f"gateway-{GATEWAY}-reason").text
    assert "Card payments are paused until 14:00 UTC" in reason

    breaker.force(GATEWAY, None, "done", "a@tollgate.test")
    take_down(sandbox, client, plan)
    breaker.force(GATEWAY, "on", "their status page is green", "a@tollgate.test")
    sandbox.knobs(GATEWAY, error_rate=0.0)
    html = page(client, plan)
    assert not radio(html).has("disabled")
    answer = form_of(html).fill("email", EMAIL).choose("gateway", GATEWAY).submit(client)
    assert answer.status_code == 303


def test_pay_now_again_on_the_error_page_counts_and_then_shows_it_taken_off(
    client: FlaskClient, sandbox: Sandbox, plan: str, clock: Clock
) -> None:
    """The error page's own form pays the order it saved (no e-mail field): its second failure
    is the gateway's error page again (it was a 500 once), and opens the breaker."""
    sandbox.knobs(GATEWAY, error_rate=1.0)
    first = form_of(page(client, plan)).fill("email", EMAIL).choose("gateway", GATEWAY)
    down = first.submit(client)
    assert down.status_code == 503
    again = form_of(parse(down.data))
    assert "email" not in again.names() and again.checked("gateway") == GATEWAY
    second = again.submit(client)
    assert second.status_code == 503
    html = parse(second.data)
    assert "not answering right now" in html.by_id("problem").text
    assert breaker.snapshot()[GATEWAY] == Shown.OPEN
    assert radio(html).has("disabled")  # the failure that opened it shows it taken off
    assert form_of(html).checked("gateway") is None
    assert rows() == (1, 2)  # one order, two attempts

    refused = form_of(parse(second.data)).forge("gateway", GATEWAY).submit(client)
    assert refused.status_code == 400
    assert TEMPORARILY_UNAVAILABLE in parse(refused.data).by_id("gateway-error").text
    assert rows() == (1, 2)
