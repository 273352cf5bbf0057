"""Staff forcing a gateway on or off: admins only, a reason always, CSRF, the audit log, and what
shoppers then see on the selector.

CSRF is on for the whole module and no request context stays pushed: several browsers at once
(see test_staff_users.py), every form posted as rendered.
"""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from checkout.extensions import db
from checkout.models import GatewayBreaker
from checkout.payments import breaker
from checkout.payments.breaker import TEMPORARILY_UNAVAILABLE, Result, Shown
from tests.blueprints.html_helpers import Element, Form, parse, read_form
from tests.blueprints.staff_console import (
    EXPIRED_FORM,
    audit_rows,
    form_to,
    forms_on,
)
from tests.blueprints.test_staff_users import ADMIN, SUPPORT

PAGE = "/staff/gateways"
ACTION = "/staff/gateways/stripe"
REASON = "Stripe maintenance until 14:00 UTC, pay by card with MPGS"


@pytest.fixture
def app_overrides() -> dict[str, Any]:
    return {"WTF_CSRF_ENABLED": True, "BREAKER_FAILURES": 2}


@pytest.fixture
def _push_request_context() -> None:
    """Replaces pytest-flask's: each request of each browser gets its own context."""


@pytest.fixture
def shopper(app: Flask, make_product) -> tuple[FlaskClient, str]:
    with app.app_context():
        slug = make_product().slug
    return app.test_client(), f"/checkout/{slug}"


def stripe_form(client: FlaskClient) -> Form:
    [form] = [f for f in forms_on(client, PAGE) if f.action == ACTION]
    return form


def state(app: Flask) -> str:
    with app.app_context():
        return breaker.snapshot()["stripe"]


def stripe_on_the_selector(shopper: tuple[FlaskClient, str]) -> Element:
    client, url = shopper
    return parse(client.get(url).data).by_id("gateway-stripe")


def reason_shown(shopper: tuple[FlaskClient, str]) -> str:
    client, url = shopper
    return parse(client.get(url).data).by_id("gateway-stripe-reason").text


def test_an_admin_forces_stripe_off_and_shoppers_read_the_reason(
    app: Flask, admin: FlaskClient, shopper: tuple[FlaskClient, str]
) -> None:
    form = stripe_form(admin)
    assert form.checked("mode") == "automatic"
    answer = form.choose("mode", "off").fill("reason", REASON).submit(admin)
    assert answer.status_code == 303 and answer.location == PAGE

    assert state(app) == Shown.FORCED_OFF
    assert stripe_on_the_selector(shopper).has("disabled")
    assert REASON in reason_shown(shopper)
    html = parse(admin.get(PAGE).data)
    assert html.find(data_testid="state-stripe").get("data-state") == "forced_off"
    assert REASON in html.find("tr", data_gateway="stripe").text
    assert stripe_form(admin).checked("mode") == "off"
    assert audit_rows(app)[-1][:3] == (ADMIN, "gateway_force", "stripe")
    assert audit_rows(app)[-1][4] == {"mode": "off", "reason": REASON}
    # the audit log's own filter finds it
    log = form_to(admin, "/staff/audit", "/staff/audit").select("action", "gateway_force")
    table = parse(log.submit(admin).data).find("table", data_testid="audit-entries")
    [entry] = [[td.text for td in tr.find_all("td")] for tr in table.find_all("tr")[1:]]
    assert entry[1:4] == [ADMIN, "gateway_force", "stripe"] and REASON in entry[5]


def test_forcing_on_offers_a_gateway_the_breaker_opened_then_automatic_again(
    app: Flask, admin: FlaskClient, shopper: tuple[FlaskClient, str]
) -> None:
    with app.app_context():
        for _ in range(2):
            breaker.record("stripe", Result.FAILURE, None)
    assert TEMPORARILY_UNAVAILABLE in reason_shown(shopper)

    forced = stripe_form(admin).choose("mode", "on").fill("reason", "their status page is green")
    assert forced.submit(admin).status_code == 303
    assert state(app) == Shown.FORCED_ON
    assert not stripe_on_the_selector(shopper).has("disabled")

    back = stripe_form(admin).choose("mode", "automatic").fill("reason", "watching it again")
    assert back.submit(admin).status_code == 303
    assert state(app) == Shown.OPEN
    assert stripe_on_the_selector(shopper).has("disabled")
    modes = [row[4]["mode"] for row in audit_rows(app) if row[1] == "gateway_force"]
    assert modes == ["on", "automatic"]


@pytest.mark.parametrize("reason", ["", "   ", "x" * 201])
def test_a_reason_is_required_and_short_enough_to_show(
    app: Flask, admin: FlaskClient, reason: str
) -> None:
    before = audit_rows(app)
    answer = stripe_form(admin).choose("mode", "off").fill("reason", reason).submit(admin)
    assert answer.status_code == 400
    assert parse(answer.data).find(data_testid="gateway-error") is not None
    assert state(app) == Shown.CLOSED
    assert audit_rows(app) == before


def test_support_sees_the_page_but_cannot_change_it(
    app: Flask, admin: FlaskClient, support: FlaskClient
) -> None:
    page = support.get(PAGE)
    assert page.status_code == 200
    html = parse(page.data)
    assert html.find(data_testid="state-stripe").get("data-state") == "closed"
    assert [f.action for f in forms_on(support, PAGE) if f.method == "post"] == ["/staff/logout"]
    assert any(a.get("href") == PAGE for a in html.find_all("a"))  # in the navigation

    token = forms_on(support, PAGE)[-1].hidden()["csrf_token"]
    forged = stripe_form(admin).choose("mode", "off").fill("reason", REASON)
    refused = forged.forge("csrf_token", token).submit(support)
    assert refused.status_code == 403
    assert state(app) == Shown.CLOSED
    assert audit_rows(app)[-1][:3] == (SUPPORT, "refused", ACTION)


def test_the_form_is_refused_without_its_csrf_token(app: Flask, admin: FlaskClient) -> None:
    before = audit_rows(app)
    form = stripe_form(admin).choose("mode", "off").fill("reason", REASON)
    answer = form.forge("csrf_token", None).submit(admin)
    assert answer.status_code == 400 and EXPIRED_FORM in answer.text
    assert state(app) == Shown.CLOSED and audit_rows(app) == before
    with app.app_context():
        assert db.session.get(GatewayBreaker, "stripe") is None


def test_an_unknown_gateway_is_404(app: Flask, admin: FlaskClient) -> None:
    form = stripe_form(admin).choose("mode", "off").fill("reason", REASON)
    form.action = "/staff/gateways/paypal"
    assert form.submit(admin).status_code == 404


def test_every_form_on_the_page_posts_as_rendered(admin: FlaskClient) -> None:
    forms = [read_form(f) for f in parse(admin.get(PAGE).data).find_all("form")]
    changes = [f for f in forms if f.action.startswith("/staff/gateways/")]
    assert {f.action for f in changes} == {
        "/staff/gateways/coinpayments",
        "/staff/gateways/mpgs",
        ACTION,
        "/staff/gateways/copyandpay",
    }
    for form in changes:
        assert form.fill("reason", "checking every form").submit(admin).status_code == 303
