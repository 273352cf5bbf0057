"""`GET /metrics`: who may read it, and what a scripted checkout leaves in it.

The checkout is driven the way the Stripe request tests drive one: the checkout page's own form
posted with Stripe chosen, the card paid on the sandbox's hosted page, the shopper's return, then
webhooks signed with the SDK's signer. Counters live as long as the process, so every number is
read as the growth between two scrapes.
"""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient

from checkout.blueprints.urls import return_urls
from checkout.extensions import db
from checkout.models import Payment
from checkout.payments.service import ConcurrencyError, open_checkout
from checkout.payments.states import PaymentStatus
from tests.blueprints.html_helpers import Form, parse, read_form
from tests.blueprints.test_stripe_webhook_and_return import deliver, event, pay, snapshot
from tests.metrics.samples import scrape

S = PaymentStatus
TOKEN = "scrape-me-please"


@pytest.fixture
def no_webhooks(sandbox) -> None:
    """The test posts the webhooks itself, so it can post one twice and a forged one."""
    sandbox.knobs("stripe", notifications=False)


def _stripe_form(client: FlaskClient, slug: str) -> Form:
    """The checkout page's form as a shopper sends it: the e-mail typed, Stripe chosen."""
    form = read_form(parse(client.get(f"/checkout/{slug}").data).by_id("paymentForm"))
    return form.fill("email", "metrics@example.com").choose("gateway", "stripe")


def _payment(form: Form) -> Payment:
    db.session.expire_all()
    return db.session.scalar(db.select(Payment).filter_by(attempt_token=form.hidden()["attempt"]))


# -- who may read it ------------------------------------------------------------------------


def test_with_a_token_a_scrape_needs_it(app: Flask, client: FlaskClient) -> None:
    app.config["METRICS_TOKEN"] = TOKEN

    missing = client.get("/metrics")
    wrong = client.get("/metrics", headers={"Authorization": "Bearer not-the-token"})
    right = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})

    assert (missing.status_code, wrong.status_code, right.status_code) == (401, 401, 200)
    assert missing.headers["WWW-Authenticate"] == 'Bearer realm="metrics"'
    assert "tollgate_" not in missing.get_data(as_text=True)
    assert right.content_type.startswith("text/plain")
    assert right.headers["Cache-Control"] == "no-store"
    assert "# TYPE tollgate_http_requests_total counter" in right.get_data(as_text=True)


def test_with_a_token_even_this_host_needs_it(app: Flask, client: FlaskClient) -> None:
    app.config["METRICS_TOKEN"] = TOKEN
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "127.0.0.1"}).status_code == 401


@pytest.mark.parametrize(
    ("address", "headers", "status"),
    [
        ("127.0.0.1", {}, 200),
        ("::1", {}, 200),
        ("10.0.0.7", {}, 403),
        ("192.168.1.20", {}, 403),
        ("203.0.113.9", {}, 403),
        # a proxy on this host forwarding a request from elsewhere
        ("127.0.0.1", {"X-Forwarded-For": "203.0.113.9"}, 403),
        ("127.0.0.1", {"Forwarded": "for=203.0.113.9"}, 403),
        ("127.0.0.1", {"X-Real-IP": "203.0.113.9"}, 403),
    ],
)
def test_without_a_token_only_this_host_may_scrape(
    client: FlaskClient, address: str, headers: dict[str, str], status: int
) -> None:
    response = client.get("/metrics", headers=headers, environ_base={"REMOTE_ADDR": address})
    assert response.status_code == status
    if status == 403:
        assert "METRICS_TOKEN" in response.get_data(as_text=True)


def test_scrapes_are_never_rate_limited(client: FlaskClient) -> None:
    assert {client.get("/metrics").status_code for _ in range(150)} == {200}


# -- what a checkout leaves in it -------------------------------------------------------------


def test_a_scripted_stripe_checkout_is_counted(
    client: FlaskClient, sandbox, no_webhooks, make_product, fulfilments
) -> None:
    product = make_product(price=1250, currency="USD")
    before = scrape(client)

    form = _stripe_form(client, product.slug)
    opened = form.submit(client)
    assert opened.status_code == 303
    payment = _payment(form)
    assert pay(payment).status_code == 303
    returned = client.get(f"/status/{payment.ref}/return?session_id={payment.gateway_reference}")
    assert returned.status_code == 303
    assert _payment(form).status == S.COMPLETED
    body = event(snapshot(sandbox, payment), "checkout.session.completed", "evt_metrics_1")
    first, again = deliver(client, body), deliver(client, body)
    forged = deliver(client, body, secret="whsec_not_ours")
    assert (first.status_code, again.status_code, forged.status_code) == (200, 200, 400)

    after = scrape(client)
    grew = after.minus

    # the HTTP requests, by endpoint and status
    assert (
        grew(before, "tollgate_http_requests_total", endpoint="checkout.new_order", status="200")
        == 1
    )
    assert (
        grew(before, "tollgate_http_requests_total", endpoint="checkout.new_order", status="303")
        == 1
    )
    assert (
        grew(before, "tollgate_http_requests_total", endpoint="status.gateway_return", status="303")
        == 1
    )
    assert grew(before, "tollgate_http_requests_total", endpoint="ipn.receive", status="200") == 2
    assert grew(before, "tollgate_http_requests_total", endpoint="ipn.receive", status="400") == 1
    assert grew(before, "tollgate_http_request_duration_seconds_count", endpoint="ipn.receive") == 3
    # the gateway calls: the create and the return's look-up, both answered
    calls = "tollgate_gateway_calls_total"
    assert grew(before, calls, gateway="stripe", operation="create_checkout", outcome="ok") == 1
    assert grew(before, calls, gateway="stripe", operation="fetch_status", outcome="ok") == 1
    assert (
        grew(
            before,
            "tollgate_gateway_call_duration_seconds_count",
            gateway="stripe",
            operation="create_checkout",
        )
        == 1
    )
    # each transition once, although the return and two webhooks all said "paid"
    moves = "tollgate_payment_transitions_total"
    assert grew(before, moves, gateway="stripe", **{"from": "CREATED", "to": "PENDING"}) == 1
    assert grew(before, moves, gateway="stripe", **{"from": "PENDING", "to": "COMPLETED"}) == 1
    # the webhook stored, then the same event again, then one that does not verify
    notes = "tollgate_notifications_total"
    assert grew(before, notes, gateway="stripe", outcome="stored") == 1
    assert grew(before, notes, gateway="stripe", outcome="duplicate") == 1
    assert grew(before, notes, gateway="stripe", outcome="bad_signature") == 1
    assert fulfilments == [(payment.ref, payment.order.ref)]


def test_a_gateway_that_is_down_is_counted_unavailable(
    client: FlaskClient, sandbox, no_webhooks, make_product
) -> None:
    product = make_product(price=1250, currency="USD")
    sandbox.knobs("stripe", error_rate=1.0)
    before = scrape(client)

    form = _stripe_form(client, product.slug)
    assert form.submit(client).status_code == 503

    after = scrape(client)
    calls = "tollgate_gateway_calls_total"
    assert (
        after.minus(
            before, calls, gateway="stripe", operation="create_checkout", outcome="unavailable"
        )
        == 1
    )
    assert (
        after.minus(before, calls, gateway="stripe", operation="create_checkout", outcome="ok") == 0
    )
    assert _payment(form).status == S.CREATED


def test_metric_names_types_and_labels(client: FlaskClient) -> None:
    client.get("/healthz")
    found = scrape(client)

    expected = {
        "tollgate_http_requests": ("counter", {"endpoint", "status"}),
        "tollgate_http_request_duration_seconds": ("histogram", {"endpoint"}),
        "tollgate_gateway_calls": ("counter", {"gateway", "operation", "outcome"}),
        "tollgate_gateway_call_duration_seconds": ("histogram", {"gateway", "operation"}),
        "tollgate_payment_transitions": ("counter", {"gateway", "from", "to"}),
        "tollgate_notifications": ("counter", {"gateway", "outcome"}),
        "tollgate_sweep_runs": ("counter", {"trigger", "state"}),
        "tollgate_sweep_duration_seconds": ("histogram", {"trigger"}),
        "tollgate_sweep_payments_checked": ("counter", {"gateway"}),
        "tollgate_sweep_backlog_payments": ("gauge", {"gateway"}),
        "tollgate_payment_oldest_pending_age_seconds": ("gauge", {"gateway"}),
        "tollgate_outbox_jobs": ("gauge", {"kind", "state"}),
        "tollgate_outbox_delivery_lag_seconds": ("gauge", set()),
        "tollgate_sweep_heartbeat_timestamp_seconds": ("gauge", set()),
        "tollgate_gateway_breaker_state": ("gauge", {"gateway", "state"}),
        "tollgate_scrape_database_up": ("gauge", set()),
    }
    # the metrics counted in this test process so far carry exactly their label names
    sample_of = {"counter": "{}_total", "histogram": "{}_count", "gauge": "{}"}
    for name, (kind, labels) in expected.items():
        assert found.families.get(name) == kind, name
        carried = found.labels_of(sample_of[kind].format(name))
        assert carried <= {frozenset(labels)}, name
    for name in (
        "tollgate_http_requests",
        "tollgate_sweep_backlog_payments",
        "tollgate_outbox_jobs",
        "tollgate_gateway_breaker_state",
    ):
        kind, labels = expected[name]
        assert found.labels_of(sample_of[kind].format(name)) == {frozenset(labels)}, name
    assert found.value("tollgate_http_requests_total", endpoint="health.healthz", status="200") >= 1
    # nothing of ours unlisted, and Prometheus' naming: durations in _seconds
    assert {name for name in found.families if name.startswith("tollgate_")} == set(expected)
    assert all(name.endswith("_seconds") for name, (k, _) in expected.items() if k == "histogram")


def test_a_raw_path_never_becomes_a_label(client: FlaskClient) -> None:
    before = scrape(client)
    for n in range(5):
        client.get(f"/no-such-page-{n}")
        client.get(f"/status/pay_unknown{n}")
    after = scrape(client)

    assert (
        after.minus(before, "tollgate_http_requests_total", endpoint="unmatched", status="404") == 5
    )
    assert (
        after.minus(before, "tollgate_http_requests_total", endpoint="status.show", status="404")
        == 5
    )
    endpoints = {
        dict(labels).get("endpoint")
        for name, labels in after.values
        if name == "tollgate_http_requests_total"
    }
    assert not any("/" in str(endpoint) for endpoint in endpoints)


def test_notifications_we_do_not_act_on_are_counted_by_why(
    client: FlaskClient, sandbox, no_webhooks, make_payment
) -> None:
    payment = make_payment(gateway="stripe", status=S.CREATED)
    open_checkout(payment, return_urls("stripe", payment.ref))
    before = scrape(client)
    intent = {"id": "pi_x", "object": "payment_intent", "status": "succeeded", "amount": 1250}
    stranger = snapshot(sandbox, payment, id="cs_test_other", client_reference_id="pay_unknown")

    assert deliver(client, event(intent, "payment_intent.succeeded")).status_code == 200
    assert deliver(client, event(stranger, "checkout.session.completed")).status_code == 200

    after = scrape(client)
    notes = "tollgate_notifications_total"
    assert after.minus(before, notes, gateway="stripe", outcome="ignored") == 1
    assert after.minus(before, notes, gateway="stripe", outcome="unknown_payment") == 1
    assert after.minus(before, notes, gateway="stripe", outcome="stored") == 0


def test_a_busy_database_is_counted_as_a_retry(
    client: FlaskClient, sandbox, no_webhooks, make_payment, monkeypatch
) -> None:
    payment = make_payment(gateway="stripe", status=S.CREATED)
    open_checkout(payment, return_urls("stripe", payment.ref))
    body = event(snapshot(sandbox, payment), "checkout.session.completed")
    before = scrape(client)

    def busy(*args: object) -> None:
        raise ConcurrencyError("payment kept changing")

    monkeypatch.setattr("checkout.blueprints.ipn.handle_notification", busy)
    assert deliver(client, body).status_code == 503

    grew = scrape(client).minus(
        before, "tollgate_notifications_total", gateway="stripe", outcome="busy"
    )
    assert grew == 1
